package sio

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/socketio"
	"github.com/wsbench/wsbench/target/chat"
)

// testFrame is a frame of the fake core: the packet itself.
type testFrame struct{ pkt []byte }

func (testFrame) Release() {}

// testCore is the real chat hub behind a fake WebSocket encoder; every
// request the sessions hand the hub is recorded.
type testCore struct {
	hub  *chat.Hub
	mu   sync.Mutex
	reqs [][]byte
}

func (k *testCore) Open(id uint64)   { k.hub.Open(chat.ConnID(id)) }
func (k *testCore) Closed(id uint64) { k.hub.Closed(chat.ConnID(id)) }
func (k *testCore) Handle(id uint64, msg []byte) {
	k.mu.Lock()
	k.reqs = append(k.reqs, append([]byte(nil), msg...))
	k.mu.Unlock()
	k.hub.Handle(chat.ConnID(id), msg)
}
func (k *testCore) EncodeText(pkt []byte) Frame { return testFrame{append([]byte(nil), pkt...)} }

// outbox hands the hub's deliveries to the manager, as the server core does.
type outbox struct{ m **Manager }

func (o outbox) Deliver(to []chat.ConnID, payload []byte, class chat.Class) {
	ids := make([]uint64, len(to))
	for i, id := range to {
		ids[i] = uint64(id)
	}
	(*o.m).Deliver(ids, payload, class == chat.Chatter)
}
func (o outbox) Close(id chat.ConnID, code uint16, reason string) { (*o.m).Kick(uint64(id), reason) }

// testWS records the frames pushed to a WebSocket transport.
type testWS struct {
	mu     sync.Mutex
	frames [][]byte
	closed bool
}

func (w *testWS) Push(f Frame, droppable bool) {
	w.mu.Lock()
	w.frames = append(w.frames, f.(testFrame).pkt)
	w.mu.Unlock()
}
func (w *testWS) Close(code uint16, reason string) { w.mu.Lock(); w.closed = true; w.mu.Unlock() }

func newTestManager(t testing.TB, cfg Config) (*Manager, *testCore) {
	var m *Manager
	hub, err := chat.NewHub(chat.Config{}, outbox{&m})
	if err != nil {
		t.Fatal(err)
	}
	core := &testCore{hub: hub}
	m = New(cfg, core)
	t.Cleanup(m.Shutdown)
	return m, core
}

// checkPacket fails unless pkt is an Engine.IO packet a client can read:
// a known type, and for messages a Socket.IO packet that decodes.
func checkPacket(t *testing.T, in []byte, pkt []byte) {
	typ, data, err := socketio.SplitEngine(pkt)
	if err != nil {
		t.Fatalf("input %q: server sent %q: %v", in, pkt, err)
	}
	if typ == socketio.EngineMessage {
		if _, err := socketio.Decode(data); err != nil {
			t.Fatalf("input %q: server sent %q: %v", in, pkt, err)
		}
	}
}

// FuzzSession feeds any polling payload to a connected polling session and
// each of its packets to a connected WebSocket session. Nothing may panic,
// every request handed to the hub is one JSON object, and every packet the
// server sends back decodes.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		`420["join","#a"]`, "421[\"say\",{\"room\":\"#a\",\"text\":\"hi\",\"seq\":1}]\x1e422[\"dm\",\"x\",\"y\"]",
		`42["nick",{"name":"bob"}]`, `423["echo",1,{"a":[2]}]`, `40/admin,`, `41`, `2probe`, `3`, `5`, `6`, `1`,
		`451-["say",{"_placeholder":true,"num":0}]`, `42["\u0073ay","#a","x"]`, `42["say",{}]`, "4\x1e", `b4AAAA`, `4299999999999999999["x"]`,
	} {
		f.Add([]byte(s))
	}
	m, core := newTestManager(f, Config{SessionsPerIP: 1 << 30, PingInterval: time.Hour, PingTimeout: time.Hour, PollTimeout: time.Hour})
	f.Fuzz(func(t *testing.T, in []byte) {
		core.mu.Lock()
		core.reqs = core.reqs[:0]
		core.mu.Unlock()
		// Polling.
		ps, _, e := m.Open("127.0.0.1", nil)
		if e != nil {
			t.Fatal(e)
		}
		if e := m.Post(ps.SID(), []byte("40")); e != nil {
			t.Fatal(e)
		}
		_ = m.Post(ps.SID(), in)
		if body, parked, _ := ps.get(nil); !parked {
			for len(body) > 0 {
				pkt, rest, ok, err := socketio.NextPacket(body)
				if !ok || err != nil {
					t.Fatalf("input %q: server payload %q: %v", in, body, err)
				}
				checkPacket(t, in, pkt)
				body = rest
			}
		}
		ps.close("done", true)
		// WebSocket.
		ws := &testWS{}
		wss, _, _ := m.Open("", ws)
		wss.HandlePacket(ws, []byte("40"))
		for _, pkt := range bytes.Split(in, []byte{socketio.RecordSeparator}) {
			wss.HandlePacket(ws, pkt)
		}
		wss.close("done", true)
		ws.mu.Lock()
		for _, pkt := range ws.frames {
			checkPacket(t, in, pkt)
		}
		ws.mu.Unlock()
		// The packet scanner only skips values (the hub validates JSON and
		// answers bad_json); events whose arguments are strict JSON must
		// reach the hub as strict JSON.
		strict := true
		for _, pkt := range bytes.Split(in, []byte{socketio.RecordSeparator}) {
			if i := bytes.IndexByte(pkt, '['); i >= 0 && !json.Valid(pkt[i:]) {
				strict = false
			}
		}
		core.mu.Lock()
		for _, r := range core.reqs {
			if len(r) == 0 || r[0] != '{' || (strict && !json.Valid(r)) {
				t.Fatalf("input %q: hub got %q", in, r)
			}
		}
		core.mu.Unlock()
	})
}
