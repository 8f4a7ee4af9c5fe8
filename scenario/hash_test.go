package scenario

import "testing"

func TestHashSource(t *testing.T) {
	a := HashSource([]byte("# comment\ntarget: builtin\nscenarios:\n  s: {vus: 2, steps: [connect]}\n"))
	same := HashSource([]byte("scenarios:\n  s:\n    steps:\n      - connect\n    vus: 2   # two\ntarget: \"builtin\"\n"))
	other := HashSource([]byte("target: builtin\nscenarios:\n  s: {vus: 3, steps: [connect]}\n"))
	if a != same {
		t.Errorf("layout, comments and key order changed the hash: %s vs %s", a, same)
	}
	if a == other {
		t.Errorf("a changed value kept the hash %s", a)
	}
	if len(a) != 64 {
		t.Errorf("hash %q is not hex sha256", a)
	}
}
