package scenario

import (
	"fmt"
	"time"
)

// step_repeat.go is the repeat step: its steps run a count of times or
// for a duration, optionally paced by `every` (then latencies count from
// the scheduled start: coordinated-omission correction).

// StepRepeat is the kind of a `repeat` step; its number is its index in
// the kind table (steps.go).
const StepRepeat StepKind = 4

func init() {
	registerStep(StepRepeat, stepKind{name: "repeat", parse: parseRepeat, compile: compileRepeat, run: runRepeat, keepsAside: true, block: repeatBlock})
}

var (
	repeatFields = []string{"count", "duration", "every", "steps"}
)

// RepeatStep runs Steps Count times or for Duration, optionally paced.
type RepeatStep struct {
	Count    int           // 0 with Duration set: until Duration passes
	Duration time.Duration // 0 with Count set: Count times
	// Every paces iterations at a fixed rate. Latencies of sends inside are
	// then measured from the scheduled send time (coordinated-omission
	// correction) and also raw under "<name>.raw".
	Every time.Duration
	Steps []Step
}

func (d *decoder) repeat(v *ynode, f string, conn ConnectOptions) *RepeatStep {
	r := &RepeatStep{}
	if !d.needMap(v, f, repeatFields, false) {
		return r
	}
	for i, k := range v.keys {
		val, kf := v.vals[i], join(f, k.str)
		switch k.str {
		case "count":
			r.Count, _ = d.int(val, kf, 1, 1_000_000_000)
		case "duration":
			r.Duration, _ = d.positiveDur(val, kf)
		case "every":
			r.Every, _ = d.positiveDur(val, kf)
		case "steps":
			r.Steps = d.steps(val, kf, conn)
		}
	}
	if v.get("count") == nil && v.get("duration") == nil {
		d.fail(v, f, "needs `count` or `duration`")
	}
	if v.get("steps") == nil {
		d.fail(v, f, "missing `steps`")
	}
	return r
}

func parseRepeat(d *decoder, st *Step, v *ynode, f string, conn ConnectOptions) {
	st.Repeat = d.repeat(v, f, conn)
}

func compileRepeat(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Repeat == nil {
		return fmt.Errorf("%s: repeat step without a body", c.Pos)
	}
	var err error
	c.sub, err = s.compile(c.Repeat.Steps, compileEnv{paced: env.paced || c.Repeat.Every > 0, tags: env.tags, tap: env.tap, dialers: env.dialers})
	c.chain = err == nil && !env.paced && c.Repeat.Every == 0 && chainable(c.sub)
	return err
}

func runRepeat(v *vu, st *cstep, sc sched) error {
	r := st.Repeat
	start := time.Now()
	end := time.Time{}
	if r.Duration > 0 {
		end = start.Add(r.Duration)
	}
	v.depth++
	defer func() { v.depth-- }()
	if st.chain && v.s.r.chain {
		return v.chain(st, end).run()
	}
	for k := 0; ; k++ {
		if r.Count > 0 && k >= r.Count {
			return nil
		}
		if r.Count <= 0 && r.Duration <= 0 {
			return nil
		}
		inner := sc
		if r.Every > 0 {
			at := start.Add(time.Duration(k) * r.Every)
			if !end.IsZero() && !at.Before(end) {
				return nil
			}
			if err := v.sleep(time.Until(at)); err != nil {
				return err
			}
			// Late? Run at once; latencies still count from at.
			inner = sched{at: at, actual: time.Now()}
		} else if !end.IsZero() && !time.Now().Before(end) {
			return nil
		}
		for i := range st.sub {
			if err := v.step(&st.sub[i], inner); err != nil {
				return err
			}
		}
	}
}

func repeatBlock(st *Step) ([]Step, bool) { return st.Repeat.Steps, true }
