package scenario

import "fmt"

// step_connect.go is the connect step: it dials the target and upgrades
// (with the dial backoff of backoff.go after failures), with the scenario's
// connect options merged under its own.

// StepConnect is the kind of a `connect` step; its number is its index in
// the kind table (steps.go).
const StepConnect StepKind = 0

func init() {
	registerStep(StepConnect, stepKind{name: "connect", parse: parseConnect, compile: compileConnect, run: runConnect, conn: connOpens})
}

// ConnectStep dials the target and upgrades. Its latency is recorded as the
// "connect" (TCP) and "handshake" (upgrade) metrics.
type ConnectStep struct {
	Options ConnectOptions // merged over the scenario's options
}

func parseConnect(d *decoder, st *Step, v *ynode, f string, conn ConnectOptions) {
	st.Connect = &ConnectStep{Options: conn}
	if v.kind != yNull {
		st.Connect.Options = mergeConnect(conn, d.connectOptions(v, f))
	}
}

func compileConnect(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Connect == nil {
		return fmt.Errorf("%s: connect step without options", c.Pos)
	}
	opts := mergeConnect(mergeConnect(s.r.plan.Connect, s.sc.Connect), c.Connect.Options)
	var err error
	c.dial, err = s.prepareDial(opts, env.tap, env.dialers)
	return err
}

func runConnect(v *vu, st *cstep, _ sched) error {
	// After failed dials, wait before the next (backoff.go).
	if err := v.backoffWait(st.dial.backoff); err != nil {
		return err
	}
	if err := v.connect(st.dial); err != nil {
		return err
	}
	if v.depth == 0 {
		v.resume = v.top + 1
	} else {
		v.resume = v.top
	}
	return nil
}
