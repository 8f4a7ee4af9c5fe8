package recgen

// socketio.go turns a recorded Socket.IO session (Engine.IO 4 over
// WebSocket) into a `protocol: socketio` script: the namespace connect and
// its auth become connect options, client events `emit` steps (with
// `ack: true` when the client asked for an acknowledgement and got it),
// the server event the client waited for an `expect` on that event.
// Engine.IO pings and pongs are the runtime's business and are left out.

import (
	"strings"
	"time"

	"github.com/wsbench/wsbench/internal/socketio"
)

// sioPacket is a decoded Socket.IO packet of the recording.
type sioPacket struct {
	send  bool
	at    time.Time
	typ   socketio.Type
	ns    string
	id    int64
	event string
	args  *value // the arguments after the event name (events), or all (acks)
	auth  *value // Connect: the auth object
	bin   [][]byte
	need  int // attachments still to come
}

// sioPackets decodes the Socket.IO packets of a connection; frames that
// are not Socket.IO (Engine.IO control, garbage) are skipped.
func sioPackets(c *Conn) []*sioPacket {
	var out []*sioPacket
	pending := map[bool]*sioPacket{}
	for _, m := range c.Msgs {
		if m.Binary {
			if pk := pending[m.Send]; pk != nil && pk.need > 0 {
				pk.bin = append(pk.bin, m.Payload)
				pk.need--
			}
			continue
		}
		typ, data, err := socketio.SplitEngine(m.Payload)
		if err != nil || typ != socketio.EngineMessage {
			continue
		}
		pk, err := socketio.Decode(data)
		if err != nil {
			continue
		}
		sp := &sioPacket{send: m.Send, at: m.At, typ: pk.Type, ns: string(pk.Namespace), id: pk.ID, need: pk.Attachments}
		switch pk.Type {
		case socketio.Connect:
			if v, err := parseJSON(pk.Data); err == nil && v.kind == kObj {
				sp.auth = v
			}
		case socketio.Event, socketio.BinaryEvent, socketio.Ack, socketio.BinaryAck:
			v, err := parseJSON(pk.Data)
			if err != nil || v.kind != kArr {
				continue
			}
			if pk.Type == socketio.Event || pk.Type == socketio.BinaryEvent {
				if len(v.arr) == 0 || v.arr[0].kind != kStr || v.arr[0].str == "" {
					continue // not an event a scenario can name
				}
				sp.event = v.arr[0].str
				v = &value{kind: kArr, arr: v.arr[1:]}
			}
			sp.args = v
		}
		if sp.need > 0 {
			pending[m.Send] = sp
		}
		out = append(out, sp)
	}
	return out
}

// buildSocketIO makes the script of a Socket.IO connection.
func buildSocketIO(c *Conn, p *params, o *Options) *script {
	s := &script{conn: c, members: []*Conn{c}}
	pks := sioPackets(c)
	var vals []*value
	var at []time.Time
	var auth *value
	ns := ""
	for _, pk := range pks {
		switch {
		case pk.send && pk.typ == socketio.Connect:
			ns, auth = pk.ns, pk.auth
			if auth != nil {
				vals, at = append(vals, auth), append(at, pk.at)
			}
		case pk.send && (pk.typ == socketio.Event || pk.typ == socketio.BinaryEvent):
			vals, at = append(vals, pk.args), append(at, pk.at)
		}
	}
	p.apply(vals, at)
	s.connect = connectOf(c, p, o)
	s.connect.socketio = true
	path, _, _ := strings.Cut(s.connect.path, "?")
	if path == "/socket.io/" {
		path = ""
	}
	s.connect.path = path
	if ns != "" && ns != "/" {
		s.connect.namespace = ns
	}
	s.connect.auth = auth

	s.steps = append(s.steps, step{kind: sConnect})
	for _, m := range c.Msgs {
		if m.Send {
			s.sent++
		} else {
			s.recv++
		}
	}
	end := c.Start
	if n := len(c.Msgs); n > 0 {
		end = c.Msgs[n-1].At
	}
	cursor := c.Start
	var emits []int
	for i, pk := range pks {
		if pk.send && (pk.typ == socketio.Event || pk.typ == socketio.BinaryEvent) {
			emits = append(emits, i)
		}
	}
	firstEmit := len(pks)
	if len(emits) > 0 {
		firstEmit = emits[0]
	}
	for i := 0; i < firstEmit; i++ {
		if pk := pks[i]; !pk.send && pk.typ == socketio.Event && pk.at.Sub(c.Start) <= o.ReplyWindow {
			s.steps = append(s.steps, sioExpect(pk, "greeting", p, c.Start, c.Start))
			cursor = pk.at
			break
		}
	}
	for k, i := range emits {
		pk := pks[i]
		s.addThink(pk.at.Sub(cursor), pk.at.Sub(c.Start), o)
		cursor = pk.at
		st := step{kind: sEmit, at: pk.at.Sub(c.Start), event: pk.event, args: pk.args.arr, name: safeName(pk.event, "emit")}
		if pk.typ == socketio.BinaryEvent {
			if len(pk.bin) != 1 || len(st.args) == 0 || st.args[len(st.args)-1].get("_placeholder") == nil {
				s.notes = append(s.notes, "event "+pk.event+" at "+fmtOffset(st.at)+" carried "+plural(len(pk.bin), "binary attachment")+" in a form emit cannot send (one, after the arguments): left out")
				continue
			}
			st.args = st.args[:len(st.args)-1]
			st.binary = pk.bin[0]
		}
		next := len(pks)
		if k+1 < len(emits) {
			next = emits[k+1]
		}
		var ack, reply *sioPacket
		for j := i + 1; j < len(pks); j++ {
			r := pks[j]
			if r.send || r.at.Sub(pk.at) > o.ReplyWindow {
				continue
			}
			if pk.id >= 0 && (r.typ == socketio.Ack || r.typ == socketio.BinaryAck) && r.id == pk.id {
				ack = r
				break
			}
			if pk.id < 0 && j < next && r.typ == socketio.Event && reply == nil {
				reply = r
				break
			}
		}
		if ack != nil {
			st.ack = true
			st.latency = ack.at.Sub(pk.at)
			if st.latency > 5*time.Second {
				st.timeout = (2 * st.latency).Round(time.Second)
			}
			s.steps = append(s.steps, st)
			cursor = ack.at
			continue
		}
		s.steps = append(s.steps, st)
		if reply != nil {
			s.steps = append(s.steps, sioExpect(reply, safeName(pk.event, "reply"), p, pk.at, c.Start))
			cursor = reply.at
		}
	}
	s.addThink(end.Sub(cursor), end.Sub(c.Start), o)
	s.steps = append(s.steps, step{kind: sClose, at: end.Sub(c.Start)})
	return s
}

// sioExpect waits for the server event pk, matching its first argument's
// kind and identity fields.
func sioExpect(pk *sioPacket, name string, p *params, from, start time.Time) step {
	st := step{kind: sExpect, name: name, event: pk.event, at: pk.at.Sub(start), latency: pk.at.Sub(from)}
	if len(pk.args.arr) > 0 {
		st.match = matchOf(pk.args.arr[0], p)
	}
	if st.latency > 5*time.Second {
		st.timeout = (2 * st.latency).Round(time.Second)
	}
	return st
}
