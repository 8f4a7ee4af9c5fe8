package cluster

import "testing"

func TestTokenRoundTrip(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "a-b_C9": "a-b_C9", "a.b": "a=2Eb", "#room": "=23room", "x=y": "x=3Dy", "..": "=2E=2E",
	} {
		got := Token(in)
		if got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
		back, ok := Untoken(got)
		if !ok || back != in {
			t.Errorf("Untoken(%q) = %q, %v; want %q", got, back, ok, in)
		}
	}
	for _, bad := range []string{"", "a=", "a=2", "a=zz", "=2e"} {
		if s, ok := Untoken(bad); ok {
			t.Errorf("Untoken(%q) = %q, want malformed", bad, s)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"wsbench", "a_b-C9"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "a>", string(make([]byte, 65))} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}
