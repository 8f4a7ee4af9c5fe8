package scenario

import (
	"fmt"
	"math"
	"time"
)

// step_think.go is the think step: a pause drawn from a fixed, uniform or
// exponential distribution, reading the connection meanwhile unless
// `read: false`.

// StepThink is the kind of a `think` step; its number is its index in
// the kind table (steps.go).
const StepThink StepKind = 3

func init() {
	registerStep(StepThink, stepKind{name: "think", parse: parseThink, compile: compileThink, run: runThink})
}

var (
	thinkFields = []string{"fixed", "uniform", "exponential", "read"}
)

// ThinkDist is a think-time distribution.
type ThinkDist int

const (
	ThinkFixed ThinkDist = iota
	ThinkUniform
	ThinkExponential
)

// ThinkStep pauses the VU.
type ThinkStep struct {
	Dist ThinkDist
	Fixed,
	Min, Max, // uniform
	Mean time.Duration // exponential
	// NoRead (`read: false`) pauses without reading the connection: the
	// server's messages pile up in the socket buffers as with a stalled
	// client, and are read (and timed) only when the VU next reads.
	NoRead bool
}

func (d *decoder) think(v *ynode, f string) *ThinkStep {
	t := &ThinkStep{Dist: ThinkFixed}
	if v.kind == yString || v.kind == yInt {
		t.Fixed, _ = d.positiveDur(v, f)
		return t
	}
	if !d.needMap(v, f, thinkFields, false) {
		return t
	}
	dist := -1
	for i, k := range v.keys {
		val, kf := v.vals[i], join(f, k.str)
		if k.str == "read" {
			read, _ := d.bool(val, kf)
			t.NoRead = !read
			continue
		}
		if dist >= 0 {
			d.fail(val, kf, "expected exactly one of fixed, uniform or exponential, found `%s` and `%s`", v.keys[dist].str, k.str)
			return t
		}
		dist = i
	}
	if dist < 0 {
		d.fail(v, f, "expected exactly one of fixed, uniform or exponential")
		return t
	}
	val, kf := v.vals[dist], join(f, v.keys[dist].str)
	switch v.keys[dist].str {
	case "fixed":
		t.Fixed, _ = d.positiveDur(val, kf)
	case "uniform":
		t.Dist = ThinkUniform
		if val.kind != ySeq || len(val.items) != 2 {
			d.fail(val, kf, "expected [min, max], got %s", val.describe())
			return t
		}
		var ok1, ok2 bool
		t.Min, ok1 = d.dur(val.items[0], index(kf, 0))
		t.Max, ok2 = d.dur(val.items[1], index(kf, 1))
		if ok1 && ok2 && (t.Min < 0 || t.Max <= 0 || t.Min > t.Max) {
			d.fail(val, kf, "want 0 <= min <= max and max > 0, got [%s, %s]", t.Min, t.Max)
		}
	case "exponential":
		t.Dist = ThinkExponential
		t.Mean, _ = d.positiveDur(val, kf)
	}
	return t
}

func parseThink(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) { st.Think = d.think(v, f) }

func compileThink(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Think == nil {
		return fmt.Errorf("%s: think step without a duration", c.Pos)
	}
	return nil
}

func runThink(v *vu, st *cstep, _ sched) error {
	if st.Think.NoRead {
		return v.pause(thinkTime(st.Think, v.vars))
	}
	return v.sleep(thinkTime(st.Think, v.vars))
}

// thinkTime draws a think time from the step's distribution.
func thinkTime(t *ThinkStep, v *Vars) time.Duration {
	r := v.rng()
	switch t.Dist {
	case ThinkUniform:
		if t.Max <= t.Min {
			return t.Min
		}
		return t.Min + time.Duration(r.Int64N(int64(t.Max-t.Min)+1))
	case ThinkExponential:
		d := r.ExpFloat64() * float64(t.Mean)
		return time.Duration(min(d, float64(math.MaxInt64/2)))
	}
	return t.Fixed
}
