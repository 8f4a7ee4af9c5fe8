package scenario

import (
	"fmt"
	"time"
)

// step_group.go is the group step: it runs its steps and records their
// total duration under its name.

// StepGroup is the kind of a `group` step; its number is its index in
// the kind table (steps.go).
const StepGroup StepKind = 7

func init() {
	registerStep(StepGroup, stepKind{name: "group", parse: parseGroup, compile: compileGroup, run: runGroup, keepsAside: true, block: groupBlock, latency: groupLatency})
}

var (
	groupFields = []string{"name", "steps"}
)

// GroupStep runs Steps and records their total duration under Name.
type GroupStep struct {
	Name  string
	Steps []Step
}

func (d *decoder) group(v *ynode, f string, conn ConnectOptions) *GroupStep {
	g := &GroupStep{}
	if !d.needMap(v, f, groupFields, false) {
		return g
	}
	if nn := v.get("name"); nn != nil {
		g.Name = d.metricName(nn, join(f, "name"))
	} else {
		d.fail(v, f, "missing `name` (the group's duration metric)")
	}
	if sn := v.get("steps"); sn != nil {
		g.Steps = d.steps(sn, join(f, "steps"), conn)
	} else {
		d.fail(v, f, "missing `steps`")
	}
	return g
}

func parseGroup(d *decoder, st *Step, v *ynode, f string, conn ConnectOptions) {
	st.Group = d.group(v, f, conn)
}

func compileGroup(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Group == nil {
		return fmt.Errorf("%s: group step without a body", c.Pos)
	}
	c.lat = env.tags.Latency(nameOr(c.Group.Name, "group"))
	var err error
	c.sub, err = s.compile(c.Group.Steps, env)
	return err
}

func runGroup(v *vu, st *cstep, sc sched) error {
	start := time.Now()
	v.depth++
	defer func() { v.depth-- }()
	for i := range st.sub {
		if err := v.step(&st.sub[i], sc); err != nil {
			return err
		}
	}
	st.lat.Record(time.Since(start))
	return nil
}

func groupBlock(st *Step) ([]Step, bool) { return st.Group.Steps, false }

func groupLatency(st *Step) (string, bool) { return nameOr(st.Group.Name, "group"), false }
