package scenario

// socketio_parse.go decodes the Socket.IO parts of a scenario file: the
// connect options `protocol`, `namespace`, `auth` and `engineio`, the
// `emit` step, and the checks that event steps and matchers run on a
// Socket.IO connection.

import (
	"strings"
)

var (
	protocolNames = []string{"websocket", "socketio"}
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
		}
		if inner, _ := blockSteps(st); inner != nil {
			proto = d.walkSocketIO(inner, join(f, st.Kind.String()+".steps"), proto, anySIO)
		}
	}
	return proto
}
