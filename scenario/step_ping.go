package scenario

import (
	"fmt"
	"time"

	"github.com/wsbench/wsbench/internal/wsproto"
)

// step_ping.go is the ping step: it sends a ping and records the pong's
// round trip under its name.

// StepPing is the kind of a `ping` step; its number is its index in
// the kind table (steps.go).
const StepPing StepKind = 5

func init() {
	registerStep(StepPing, stepKind{name: "ping", parse: parsePing, compile: compilePing, run: runPing, conn: connNeeds, latency: pingLatency})
}

var (
	pingFields = []string{"name", "timeout", "payload"}
)

// PingStep sends a ping and records the pong round trip under Name (default "ping").
type PingStep struct {
	Name    string
	Payload []byte
	Timeout time.Duration
}

func (d *decoder) ping(v *ynode, f string) *PingStep {
	p := &PingStep{Name: "ping", Timeout: DefaultPingTimeout}
	if !d.needMap(v, f, pingFields, true) {
		return p
	}
	for i, k := range v.keys {
		val, kf := v.vals[i], join(f, k.str)
		switch k.str {
		case "name":
			p.Name = d.metricName(val, kf)
		case "timeout":
			p.Timeout, _ = d.positiveDur(val, kf)
		case "payload":
			s, _ := d.str(val, kf)
			if len(s) > wsproto.MaxControlPayload {
				d.fail(val, kf, "a ping payload is at most %d bytes, got %d", wsproto.MaxControlPayload, len(s))
			}
			p.Payload = []byte(s)
		}
	}
	return p
}

func parsePing(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) { st.Ping = d.ping(v, f) }

func compilePing(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Ping == nil {
		return fmt.Errorf("%s: ping step without options", c.Pos)
	}
	c.lat = env.tags.Latency(nameOr(c.Ping.Name, "ping"))
	return nil
}

func runPing(v *vu, st *cstep, _ sched) error {
	l, err := v.liveLink()
	if err != nil {
		return err
	}
	p := st.Ping
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultPingTimeout
	}
	sent := time.Now()
	if err := l.c.Ping(p.Payload); err != nil {
		v.m.errSend.Inc()
		return errConnLost
	}
	l.waitKind = waitPong
	ok := l.readUntil(sent.Add(timeout)) == readGot
	l.waitKind = waitNone
	switch {
	case ok:
		st.lat.Record(l.gotAt.Sub(sent))
		return nil
	case v.ctx.Err() != nil:
		return errCancelled
	case l.dead.Load():
		return errConnLost
	}
	v.m.errPingTimeout.Inc()
	return errIterFailed
}

func pingLatency(st *Step) (string, bool) { return nameOr(st.Ping.Name, "ping"), false }
