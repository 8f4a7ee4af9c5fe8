package scenario

import (
	"fmt"
	"time"

	"github.com/wsbench/wsbench/internal/socketio"
	"github.com/wsbench/wsbench/report"
)

// step_emit.go is the Socket.IO emit step: an event (with an optional
// binary attachment) on the connection's namespace and, with `ack`, the
// wait for its acknowledgement. The Socket.IO connection itself is in
// socketio.go.

// StepEmit is the kind of an `emit` step (a Socket.IO event); its number is its index in
// the kind table (steps.go).
const StepEmit StepKind = 8

func init() {
	registerStep(StepEmit, stepKind{name: "emit", parse: parseEmit, compile: compileEmit, run: runEmit, conn: connNeeds, latency: emitLatency})
}

var (
	emitFields     = []string{"name", "event", "args", "ack", "timeout", "on_timeout", "binary_hex", "binary_base64", "random_bytes"}
	ackMatchFields = []string{"json", "regex"}
)

// EmitStep sends a Socket.IO event on the connection's namespace.
type EmitStep struct {
	Name  string // ack latency metric; default the event name
	Event string
	// Args are the event's arguments (JSON values; strings are templates).
	Args []any
	// Attachment, when set (or AttachRandom > 0), is sent as one binary
	// attachment after Args: a BINARY_EVENT with a placeholder.
	Attachment   []byte
	AttachRandom int
	// Ack asks the server for an acknowledgement and waits up to Timeout
	// for it, recording its latency under Name. AckMatch, when it has
	// conditions, must match the ack's first argument.
	Ack       bool
	AckMatch  Matcher
	Timeout   time.Duration
	OnTimeout OnTimeout

	body *Template // ["event", args..., placeholder], built by compile
}

// binary reports whether the emit carries an attachment.
func (e *EmitStep) binary() bool { return e.Attachment != nil || e.AttachRandom > 0 }

// mergeSocketIO merges the Socket.IO connect options of over into out.
func mergeSocketIO(out *ConnectOptions, over ConnectOptions) {
	if over.Protocol != ProtoDefault {
		out.Protocol = over.Protocol
	}
	if over.Namespace != "" {
		out.Namespace = over.Namespace
	}
	if over.Auth != nil {
		out.Auth = over.Auth
	}
	if over.EngineIO != 0 {
		out.EngineIO = over.EngineIO
	}
}

func (d *decoder) emit(v *ynode, f string) *EmitStep {
	e := &EmitStep{Timeout: DefaultAckTimeout}
	if !d.needMap(v, f, emitFields, false) {
		return e
	}
	if en := v.get("event"); en != nil {
		e.Event = d.eventName(en, join(f, "event"))
	} else {
		d.fail(v, f, "missing `event` (the Socket.IO event name)")
	}
	var bins []string
	for i, k := range v.keys {
		val, kf := v.vals[i], join(f, k.str)
		switch k.str {
		case "name":
			e.Name = d.metricName(val, kf)
		case "args":
			if val.kind != ySeq {
				d.failHint(val, kf, "args: [value]", "expected a list of arguments, got %s", val.describe())
				continue
			}
			if a, ok := d.jsonValue(val, kf, true).([]any); ok {
				e.Args = a
			}
		case "ack":
			switch val.kind {
			case yBool:
				e.Ack = val.b
			case yMap:
				e.Ack = true
				if d.object(val, kf, ackMatchFields) {
					e.AckMatch = d.matcher(val, kf)
				}
			default:
				d.fail(val, kf, "expected true, false or a matcher {json, regex} for the ack's first argument, got %s", val.describe())
			}
		case "timeout":
			e.Timeout, _ = d.positiveDur(val, kf)
		case "on_timeout":
			e.OnTimeout = d.onTimeout(val, kf)
		case "binary_hex", "binary_base64":
			bins = append(bins, k.str)
			if raw := d.binary(val, kf, k.str); raw != nil {
				e.Attachment = raw
			}
		case "random_bytes":
			bins = append(bins, k.str)
			e.AttachRandom, _ = d.int(val, kf, 1, 16<<20)
		}
	}
	if len(bins) > 1 {
		d.fail(v.get(bins[1]), join(f, bins[1]), "an emit carries one binary attachment, found `%s` and `%s`", bins[0], bins[1])
	}
	if !e.Ack {
		for _, k := range []string{"timeout", "on_timeout"} {
			if n := v.get(k); n != nil {
				d.failHint(n, join(f, k), "ack: true", "`%s` applies to the acknowledgement, which this emit does not wait for", k)
			}
		}
	}
	if e.Name == "" {
		e.Name = e.Event
		if e.Ack && !metricNameRE.MatchString(e.Name) {
			d.failHint(v, f, "name: "+metricSafe(e.Event), "the event name %q is not a metric name: give the emit a `name`", e.Event)
		}
	}
	return e
}

// metricSafe turns s into a valid metric name for a hint.
func metricSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '.' || b[0] == '-' {
		b = append([]byte("e"), b...)
	}
	return string(b)
}

func parseEmit(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) { st.Emit = d.emit(v, f) }

// compileEmit prepares an emit step: its payload template and metrics.
func compileEmit(s *scenarioRun, c *cstep, env compileEnv) error {
	e := c.Emit
	if e == nil {
		return fmt.Errorf("%s: emit step without options", c.Pos)
	}
	list := make([]any, 0, len(e.Args)+2)
	list = append(list, e.Event)
	list = append(list, e.Args...)
	if e.binary() {
		list = append(list, orderedObject{{"_placeholder", true}, {"num", int64(0)}})
	}
	t, err := JSONTemplate(list)
	if err != nil {
		return fmt.Errorf("%s: emit %s: %w", c.Pos, e.Event, err)
	}
	e.body = t
	if err := e.AckMatch.Compile(); err != nil {
		return fmt.Errorf("%s: emit %s ack: %w", c.Pos, e.Event, err)
	}
	if e.Ack {
		reg := env.tags
		name := nameOr(e.Name, e.Event)
		c.lat = reg.Latency(name)
		if env.paced {
			c.raw = reg.Latency(name + report.RawSuffix)
		}
	}
	if s.sio == nil {
		s.sio = newSIOMetrics(s.m.tags)
	}
	return nil
}

// emit sends a Socket.IO event and, with ack, reads the connection until
// its acknowledgement comes.
func runEmit(v *vu, st *cstep, sc sched) error {
	l, err := v.liveLink()
	if err != nil {
		return err
	}
	sio := l.sio
	if sio == nil { // the parser rejects emits on raw connections; a hand-built plan may not
		v.m.errNotConnected.Inc()
		return errIterFailed
	}
	e := st.Emit
	v.vars.Seq++
	id := socketio.NoID
	if e.Ack {
		id = sio.nextID
		sio.nextID++
	}
	pk := socketio.Packet{Type: socketio.Event, Namespace: sio.ns, ID: id}
	var att []byte
	if e.binary() {
		pk.Type, pk.Attachments = socketio.BinaryEvent, 1
		att = e.Attachment
		if e.AttachRandom > 0 {
			sio.abuf = appendRandom(sio.abuf[:0], e.AttachRandom, v.vars)
			att = sio.abuf
		}
	}
	v.buf = socketio.Append(v.buf[:0], pk)
	v.buf = e.body.Append(v.buf, v.vars)
	if e.Ack {
		// Only this goroutine reads from here on, so the ack cannot be
		// handled before the wait is set up.
		l.own()
		l.waitKind = waitAck
		sio.want, sio.got, sio.wantV, sio.wantM = id, false, v.vars, nil
		if e.AckMatch.JSON != nil || e.AckMatch.Regex != nil {
			sio.wantM = &e.AckMatch
		}
	} else if l.aside == nil {
		// Like send: a flood of emits gets a helper reading meanwhile.
		l.unreadSends++
		l.unreadBytes += len(v.buf) + len(att)
		if l.unreadSends > floodSends || l.unreadBytes > floodBytes {
			l.startAside()
		}
	}
	m := v.m
	now := time.Now()
	err = l.c.WriteText(v.buf)
	if err == nil && att != nil {
		err = l.c.WriteBinary(att)
	}
	if err != nil {
		l.waitKind, sio.want = waitNone, socketio.NoID
		m.errSend.Inc()
		v.s.r.log.Debug("emit failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "err", err)
		return errConnLost
	}
	m.msgsSent.Inc()
	m.bytesSent.Add(int64(len(v.buf) + len(att)))
	v.lastSend = now
	if sc.at.IsZero() {
		v.lastPlan = time.Time{}
	} else {
		v.lastPlan = sc.at.Add(now.Sub(sc.actual))
	}
	if !e.Ack {
		return nil
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultAckTimeout
	}
	got := l.readUntil(now.Add(timeout)) == readGot
	l.waitKind, sio.want, sio.wantM = waitNone, socketio.NoID, nil
	switch {
	case got && !sio.matched:
		sio.d.m.ackMismatch.Inc()
		return errIterFailed
	case got:
		at := l.gotAt
		if v.lastPlan.IsZero() {
			st.lat.Record(at.Sub(v.lastSend))
		} else {
			st.lat.Record(at.Sub(v.lastPlan))
			st.raw.Record(at.Sub(v.lastSend))
		}
		return nil
	case v.ctx.Err() != nil:
		return errCancelled
	case l.dead.Load():
		return errConnLost
	}
	sio.d.m.ackTimeout.Inc()
	if e.OnTimeout == TimeoutContinue {
		return nil
	}
	return errIterFailed
}

// emitLatency is the ack latency, recorded only when the emit asks for one.
func emitLatency(st *Step) (string, bool) {
	if !st.Emit.Ack {
		return "", false
	}
	return nameOr(st.Emit.Name, st.Emit.Event), true
}
