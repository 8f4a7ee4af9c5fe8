package scenario

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestDialBackoffCeiling(t *testing.T) {
	b := DialBackoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{6, 3200 * time.Millisecond},
		{7, 5 * time.Second}, // 6.4s capped
		{64, 5 * time.Second},
		{1000, 5 * time.Second}, // no shift overflow
	} {
		if got := b.ceiling(c.failures); got != c.want {
			t.Errorf("ceiling(%d) = %s, want %s", c.failures, got, c.want)
		}
	}
	if got := (DialBackoff{}).ceiling(1); got != DefaultDialBackoffInitial {
		t.Errorf("default first ceiling = %s", got)
	}
	if got := (DialBackoff{}).ceiling(100); got != DefaultDialBackoffMax {
		t.Errorf("default cap = %s", got)
	}
	if got := (DialBackoff{Initial: 10 * time.Second}).ceiling(1); got != 10*time.Second {
		t.Errorf("initial above the default max: %s", got)
	}
}

// The wait is full jitter: uniform over [0, ceiling), reset by a success.
func TestDialBackoffJitter(t *testing.T) {
	cfg := DialBackoff{Initial: time.Second, Max: 8 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	var s dialBackoff
	if d := s.next(cfg, rng.Int64N); d != 0 {
		t.Fatalf("wait before the first dial = %s", d)
	}
	for range 3 {
		s.failed()
	}
	ceil := cfg.ceiling(3) // 4s
	var lo, hi int
	for range 2000 {
		d := s.next(cfg, rng.Int64N)
		if d < 0 || d >= ceil {
			t.Fatalf("wait %s outside [0, %s)", d, ceil)
		}
		if d < ceil/4 {
			lo++
		}
		if d >= ceil*3/4 {
			hi++
		}
	}
	// Each quarter holds about 500 of 2000 draws.
	if lo < 400 || hi < 400 {
		t.Fatalf("not spread over [0, %s): %d in the first quarter, %d in the last", ceil, lo, hi)
	}
	s.succeeded()
	if d := s.next(cfg, rng.Int64N); d != 0 {
		t.Fatalf("wait after a success = %s", d)
	}
}

func TestDialBackoffParse(t *testing.T) {
	base := "target: ws://127.0.0.1:1\nconnect:\n  backoff: %s\nduration: 1s\nscenarios:\n  a:\n    vus: 1\n    steps: [connect]\n"
	p, err := Parse("b.yaml", []byte(strings.Replace(base, "%s", "{initial: 20ms, max: 1s}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Connect.Backoff; got.Initial != 20*time.Millisecond || got.Max != time.Second {
		t.Fatalf("backoff = %+v", got)
	}
	for _, c := range []struct{ val, want string }{
		{"{initial: 2s, max: 1s}", "max 1s is below initial 2s"},
		{"{initial: -1s}", "must be positive"},
		{"{inital: 1s}", "did you mean `initial`"},
		{"5s", "expected a mapping"},
	} {
		_, err := Parse("b.yaml", []byte(strings.Replace(base, "%s", c.val, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("backoff %s: error %v, want %q", c.val, err, c.want)
		}
	}
}
