package scenario

import (
	"math/rand/v2"
	"os"
	"time"
)

// Vars is one virtual user's template state: its identity, counters, random
// source and captured variables. A Vars belongs to one VU goroutine and is
// not safe for concurrent use.
type Vars struct {
	VU       int    // 1-based VU number, global across processes (segment-aware)
	Iter     int    // 0-based iteration of this VU
	Scenario string // scenario name
	Seq      uint64 // the runner increments it before each send step; {{seq}} renders it
	Rand     *rand.Rand
	Env      func(string) string
	// Now is the clock of {{now_ns}}, {{now_us}}, {{now_ms}} and {{now_s}};
	// nil means time.Now.
	Now func() time.Time

	captured map[string]string
	// scratch is reused to render templated expected values while matching,
	// so matching does not allocate per message.
	scratch []byte
	// regexes caches templated regexes compiled for these variables, by
	// matcher; an entry recompiles only when its rendered text changes.
	regexes map[*regexTmpl]*regexCache
}

// NewVars returns the variables of VU number vu (1-based) in the named
// scenario. The random source is seeded from seed and vu, so runs with the
// same seed repeat. A nil env reads the process environment.
func NewVars(vu int, scenario string, seed uint64, env func(string) string) *Vars {
	if env == nil {
		env = os.Getenv
	}
	return &Vars{
		VU:       vu,
		Scenario: scenario,
		Rand:     rand.New(rand.NewPCG(seed, uint64(vu))),
		Env:      env,
	}
}

// Set stores a captured variable, rendered later by {{name}}.
func (v *Vars) Set(name, value string) {
	if v.captured == nil {
		v.captured = make(map[string]string, 4)
	}
	v.captured[name] = value
}

// Get returns a captured variable.
func (v *Vars) Get(name string) (string, bool) {
	s, ok := v.captured[name]
	return s, ok
}

// setBytes stores a captured variable from bytes, reusing the stored string
// when the value did not change (a capture repeated every iteration then
// does not allocate).
func (v *Vars) setBytes(name string, value []byte) {
	if old, ok := v.captured[name]; ok && old == string(value) {
		return
	}
	v.Set(name, string(value))
}

func (v *Vars) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Vars) rng() *rand.Rand {
	if v.Rand == nil {
		// A Vars built by hand without a source still renders; seed from the VU
		// so the output stays deterministic.
		v.Rand = rand.New(rand.NewPCG(0, uint64(v.VU)))
	}
	return v.Rand
}

func (v *Vars) env(name string) string {
	if v.Env == nil {
		return os.Getenv(name)
	}
	return v.Env(name)
}
