package scenario

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/internal/socketio"
	"github.com/wsbench/wsbench/report"
)

// sioTestLink is a link with Socket.IO state and no socket, for feeding
// inbound frames directly (events and acks never write).
func sioTestLink() *link {
	tags, err := report.NewRegistry().Tagged((&Scenario{Name: "s"}).Tags())
	if err != nil {
		panic(err)
	}
	s := &scenarioRun{r: &runner{reg: tags.Registry()}, sc: &Scenario{Name: "s"}, m: newMetrics(tags), sio: newSIOMetrics(tags)}
	l := &link{s: s, m: s.m}
	l.sio = &sioConn{d: &sioDial{m: s.sio}, ns: []byte("/chat"), want: socketio.NoID}
	return l
}

// BenchmarkSocketIOInbound is the per-event work of a Socket.IO
// connection's reader: Engine.IO and Socket.IO decoding, then an event
// matcher and a dot path into the first argument. 0 allocs/op.
func BenchmarkSocketIOInbound(b *testing.B) {
	l := sioTestLink()
	m := Matcher{Event: "said", JSON: map[string]any{"room": "r1"}}
	if err := m.Compile(); err != nil {
		b.Fatal(err)
	}
	var v Vars
	frame := dialer.Message{Op: ws.OpText, Payload: []byte(`42/chat,["said",{"room":"r1","from":"abc","text":"hello","ts":1732230000000000000,"seq":17}]`)}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		msg, ok := l.sio.inbound(l, frame, now)
		if !ok || !m.Match(msg.Op, msg.Payload, &v) {
			b.Fatal("no match")
		}
		if _, ok := LookupInt(m.subject(msg.Payload), "ts"); !ok {
			b.Fatal("no ts")
		}
	}
}

// FuzzSocketIOInbound feeds arbitrary frame sequences to a connection's
// inbound handler: nothing panics, and what it hands on is an event array.
func FuzzSocketIOInbound(f *testing.F) {
	for _, s := range []string{
		`42/chat,["said",{"a":1}]`, `43/chat,0["ok"]`, `451-/chat,["bin",{"_placeholder":true,"num":0}]`,
		`461-/chat,3[{"_placeholder":true,"num":0}]`, `42["other ns"]`, `6`, `4x`, ``,
	} {
		f.Add([]byte(s), []byte{1, 2, 3}, true)
	}
	f.Fuzz(func(t *testing.T, text, bin []byte, binFirst bool) {
		l := sioTestLink()
		l.sio.want = 0
		frames := []dialer.Message{{Op: ws.OpText, Payload: text}, {Op: ws.OpBinary, Payload: bin}}
		if binFirst {
			frames[0], frames[1] = frames[1], frames[0]
		}
		for _, fr := range append(frames, frames...) {
			if writes(fr) {
				continue // pings and disconnects touch the socket, which the test link lacks
			}
			msg, ok := l.sio.inbound(l, fr, time.Now())
			if !ok {
				continue
			}
			if _, _, named := socketio.EventName(msg.Payload); !named {
				t.Fatalf("handed on %q, which is not an event payload", msg.Payload)
			}
		}
	})
}

// writes reports whether inbound would write to or close the socket.
func writes(fr dialer.Message) bool {
	if fr.Op != ws.OpText {
		return false
	}
	typ, data, err := socketio.SplitEngine(fr.Payload)
	if err != nil {
		return false
	}
	if typ == socketio.EnginePing || typ == socketio.EngineClose {
		return true
	}
	pk, err := socketio.Decode(data)
	return typ == socketio.EngineMessage && err == nil && pk.Type == socketio.Disconnect
}
