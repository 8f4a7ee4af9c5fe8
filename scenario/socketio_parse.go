package scenario

// socketio_parse.go decodes the Socket.IO parts of a scenario file: the
// connect options `protocol`, `namespace`, `auth` and `engineio`, the
// `emit` step, and the checks that event steps and matchers run on a
// Socket.IO connection.

import (
	"strings"
)

var (
	emitFields     = []string{"name", "event", "args", "ack", "timeout", "on_timeout", "binary_hex", "binary_base64", "random_bytes"}
	ackMatchFields = []string{"json", "regex"}
	protocolNames  = []string{"websocket", "socketio"}
)

// socketIOOption decodes one Socket.IO connect option into o.
func (d *decoder) socketIOOption(o *ConnectOptions, key string, v *ynode, f string) {
	switch key {
	case "protocol":
		s, ok := d.str(v, f)
		if !ok {
			return
		}
		switch s {
		case "websocket":
			o.Protocol = ProtoWebSocket
		case "socketio", "socket.io":
			o.Protocol = ProtoSocketIO
		default:
			d.failHint(v, f, closest(s, protocolNames), "expected websocket or socketio, got %q", s)
		}
	case "namespace":
		s, ok := d.str(v, f)
		if !ok {
			return
		}
		if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, ",?#") {
			d.failHint(v, f, "/"+strings.TrimLeft(s, "/"), "a namespace starts with `/` and holds no `,`, `?` or `#`, got %q", s)
		}
		o.Namespace = s
	case "auth":
		if v.kind != yMap {
			d.fail(v, f, "expected a mapping (the auth object of the namespace connect), got %s", v.describe())
			return
		}
		body := d.jsonValue(v, f, true)
		if _, err := JSONTemplate(body); err != nil {
			d.fail(v, f, "%v", err)
			return
		}
		o.Auth = body
	case "engineio":
		n, ok := d.int(v, f, 0, 99)
		if ok && n != 4 {
			d.failHint(v, f, "4", "only Engine.IO 4 (Socket.IO v3 and v4 servers) is supported, got %d", n)
		}
		o.EngineIO = n
	}
}

func (d *decoder) eventName(n *ynode, field string) string {
	s, ok := d.str(n, field)
	if ok && s == "" {
		d.fail(n, field, "an event name must not be empty")
	}
	return s
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

// checkSocketIO reports Socket.IO steps and matchers on raw WebSocket
// connections, and raw sends on Socket.IO ones: emit and `event` matchers
// need `protocol: socketio` on the connect step they follow.
func (d *decoder) checkSocketIO(s *Scenario, field string) {
	anySIO := s.Connect.Protocol == ProtoSocketIO
	d.walkSocketIO(s.Steps, join(field, "steps"), s.Connect.Protocol, &anySIO)
	for i, l := range s.Listeners {
		if l.Match.Event != "" && !anySIO {
			d.errs = append(d.errs, &Error{Pos: l.Pos, Field: join(index(join(field, "listeners"), i), "event"),
				Msg: "an `event` listener needs a Socket.IO connection", Hint: "protocol: socketio"})
		}
	}
}

func (d *decoder) walkSocketIO(steps []Step, field string, proto Protocol, anySIO *bool) Protocol {
	for i := range steps {
		st := &steps[i]
		f := index(field, i)
		switch st.Kind {
		case StepConnect:
			o := &st.Connect.Options
			proto = o.Protocol
			if proto == ProtoSocketIO {
				*anySIO = true
			} else if o.Namespace != "" || o.Auth != nil {
				d.errs = append(d.errs, &Error{Pos: st.Pos, Field: join(f, "connect"), Msg: "`namespace` and `auth` are Socket.IO options, but this connection speaks raw WebSocket", Hint: "protocol: socketio"})
			}
		case StepEmit:
			if proto != ProtoSocketIO {
				d.errs = append(d.errs, &Error{Pos: st.Pos, Field: join(f, "emit"), Msg: "emit needs a Socket.IO connection: the connect step before it speaks raw WebSocket", Hint: "connect: {protocol: socketio}"})
			}
		case StepExpect:
			if st.Expect.Match.Event != "" && proto != ProtoSocketIO {
				d.errs = append(d.errs, &Error{Pos: st.Pos, Field: join(f, "expect.event"), Msg: "an `event` matcher needs a Socket.IO connection: the connect step before it speaks raw WebSocket", Hint: "connect: {protocol: socketio}"})
			}
		case StepSend:
			if proto == ProtoSocketIO {
				d.errs = append(d.errs, &Error{Pos: st.Pos, Field: join(f, "send"), Msg: "send writes raw WebSocket frames, which a Socket.IO server does not understand", Hint: "emit"})
			}
		case StepRepeat:
			proto = d.walkSocketIO(st.Repeat.Steps, join(f, "repeat.steps"), proto, anySIO)
		case StepGroup:
			proto = d.walkSocketIO(st.Group.Steps, join(f, "group.steps"), proto, anySIO)
		}
	}
	return proto
}
