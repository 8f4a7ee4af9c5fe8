package scenario

import (
	"fmt"
	"time"
)

// step_send.go is the send step: one text, JSON or binary data frame,
// rendered from its template into the VU's reused buffer.

// StepSend is the kind of a `send` step; its number is its index in
// the kind table (steps.go).
const StepSend StepKind = 1

func init() {
	registerStep(StepSend, stepKind{name: "send", parse: parseSend, compile: compileSend, run: runSend, keepsAside: true, conn: connNeeds})
}

var (
	sendFields   = []string{"name", "json", "text", "binary_hex", "binary_base64", "random_bytes"}
	sendPayloads = []string{"json", "text", "binary_hex", "binary_base64", "random_bytes"}
)

// PayloadKind is the kind of frame a send step writes.
type PayloadKind int

const (
	PayloadText   PayloadKind = iota // Body rendered as UTF-8 text
	PayloadJSON                      // Body rendered as a JSON text frame
	PayloadBinary                    // Raw bytes, or RandomBytes random bytes
)

// SendStep writes one data frame.
type SendStep struct {
	Name        string // optional; a following expect measures from this send
	Kind        PayloadKind
	Body        *Template // text and JSON
	Raw         []byte    // binary from hex or base64
	RandomBytes int       // binary of N random bytes when > 0
}

func (d *decoder) send(v *ynode, f string) *SendStep {
	s := &SendStep{}
	if v.kind == yString { // send: "text"
		s.Kind, s.Body = PayloadText, d.template(v, f)
		return s
	}
	if !d.needMap(v, f, sendFields, false) {
		return s
	}
	var payloads []string
	for _, k := range v.keys {
		if contains(sendPayloads, k.str) {
			payloads = append(payloads, k.str)
		}
	}
	switch len(payloads) {
	case 0:
		d.fail(v, f, "needs one payload: json, text, binary_hex, binary_base64 or random_bytes")
	case 1:
	default:
		d.fail(v.get(payloads[1]), join(f, payloads[1]), "a send has one payload, found `%s` and `%s`", payloads[0], payloads[1])
	}
	for i, k := range v.keys {
		val, kf := v.vals[i], join(f, k.str)
		switch k.str {
		case "name":
			s.Name = d.metricName(val, kf)
		case "json":
			s.Kind = PayloadJSON
			body := d.jsonValue(val, kf, true)
			t, err := JSONTemplate(body)
			if err != nil {
				d.fail(val, kf, "%v", err)
			}
			s.Body = t
		case "text":
			s.Kind, s.Body = PayloadText, d.template(val, kf)
		case "binary_hex", "binary_base64":
			s.Kind = PayloadBinary
			s.Raw = d.binary(val, kf, k.str)
		case "random_bytes":
			s.Kind = PayloadBinary
			s.RandomBytes, _ = d.int(val, kf, 1, 16<<20)
		}
	}
	return s
}

func parseSend(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) { st.Send = d.send(v, f) }

func compileSend(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Send == nil || (c.Send.Kind != PayloadBinary && c.Send.Body == nil) {
		return fmt.Errorf("%s: send step without a body", c.Pos)
	}
	return nil
}

func runSend(v *vu, st *cstep, sc sched) error {
	l, err := v.liveLink()
	if err != nil {
		return err
	}
	s := st.Send
	p := v.renderSend(s)
	if l.aside == nil {
		l.unreadSends++
		l.unreadBytes += len(p)
		if l.unreadSends > floodSends || l.unreadBytes > floodBytes {
			l.startAside()
		}
	}
	now := time.Now()
	if s.Kind == PayloadBinary {
		err = l.c.WriteBinary(p)
	} else {
		err = l.c.WriteText(p)
	}
	if err != nil {
		return v.sendFailed(err)
	}
	v.sent(len(p), now, sc)
	return nil
}

// renderSend counts the send in the VU's seq and returns its payload (in
// the VU's buffer, or the step's own bytes).
func (v *vu) renderSend(s *SendStep) []byte {
	v.vars.Seq++
	switch {
	case s.Kind == PayloadBinary && s.RandomBytes > 0:
		v.buf = appendRandom(v.buf[:0], s.RandomBytes, v.vars)
		return v.buf
	case s.Kind == PayloadBinary:
		return s.Raw
	}
	v.buf = s.Body.Append(v.buf[:0], v.vars)
	return v.buf
}

// sendFailed counts a failed write and returns the step's outcome.
func (v *vu) sendFailed(err error) error {
	if v.ctx.Err() == nil { // not a write cut by an interrupt
		v.m.errSend.Inc()
	}
	v.s.r.log.Debug("send failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "err", err)
	return errConnLost
}

// sent records a send of n bytes whose write began at now: the counters,
// and the times a following expect measures from.
func (v *vu) sent(n int, now time.Time, sc sched) {
	m := v.m
	m.msgsSent.Inc()
	m.bytesSent.Add(int64(n))
	v.lastSend = now
	if sc.at.IsZero() {
		v.lastPlan = time.Time{}
	} else {
		v.lastPlan = sc.at.Add(now.Sub(sc.actual))
	}
}
