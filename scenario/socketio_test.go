package scenario

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/socketio/socketiotest"
	"github.com/wsbench/wsbench/report"
)

// These tests run scenarios against the real Socket.IO v4 server of
// examples/socketio-server (Node, npm socket.io), started per test with
// short ping settings so a run of a second outlives pingInterval +
// pingTimeout several times.

func sioServer(t *testing.T) string {
	return socketiotest.Start(t, socketiotest.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
}

func runYAML(t *testing.T, base, src string) *report.Results {
	t.Helper()
	p, err := Parse("sio.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return runPlan(t, p, base, Segment{})
}

// wantNoErrors fails on any errors.* counter.
func wantNoErrors(t *testing.T, r *report.Results) {
	t.Helper()
	for name, n := range r.Counters {
		if n != 0 && (strings.HasPrefix(name, "errors.") || strings.HasPrefix(name, "conn.failed.")) {
			t.Errorf("counter %s = %d, want 0", name, n)
		}
	}
}

func TestSocketIOEmitAckAndRoomBroadcast(t *testing.T) {
	base := sioServer(t)
	// 4 VUs join one room; each says 5 things with acks, paced, and a
	// listener counts every "said" it hears with its delivery latency and
	// per-sender sequence. The run (≥ 1.5 s) outlives pingInterval +
	// pingTimeout (0.5 s) three times: the pongs keep the sessions up.
	r := runYAML(t, base, `
connect: {protocol: socketio}
vus: 4
iterations: 1
listeners:
  - name: delivery
    event: said
    json: {room: lobby}
    latency_from: ts
    sequence: {sender: from, field: seq}
steps:
  - connect
  - emit: {event: join, args: [lobby], ack: {json: {room: lobby}}, name: join}
  - think: 300ms
  - repeat:
      count: 5
      every: 200ms
      steps:
        - emit: {event: say, args: [{room: lobby, text: "hi from {{vu}}", ts: "{{now_ns}}", seq: "{{seq}}"}], ack: {json: {ok: true}}, name: say}
  - think: 500ms
  - emit: {event: whoami, ack: true}
  - close
`)
	wantNoErrors(t, r)
	wantCounters(t, r, map[string]int64{
		"conn.opened":           4,
		"iterations":            4,
		"listener.delivery":     4 * 4 * 5, // every member hears every say, its own too
		"delivery.lost":         0,
		"socketio.disconnected": 0,
	})
	if got := latency(t, r, "join").Count; got != 4 {
		t.Errorf("join acks = %d, want 4", got)
	}
	if got := latency(t, r, "say").Count; got != 20 {
		t.Errorf("say acks = %d, want 20", got)
	}
	if got := latency(t, r, "whoami").Count; got != 4 {
		t.Errorf("whoami acks = %d, want 4", got)
	}
	if got := latency(t, r, "delivery").Count; got != 80 {
		t.Errorf("delivery latencies = %d, want 80", got)
	}
	if got := latency(t, r, "socketio.connect").Count; got != 4 {
		t.Errorf("socketio.connect = %d, want 4", got)
	}
	if counter(r, "socketio.pongs") < 4 {
		t.Errorf("socketio.pongs = %d: the server's pings were not answered", counter(r, "socketio.pongs"))
	}
}

func TestSocketIONamespaceAuth(t *testing.T) {
	base := sioServer(t)
	r := runYAML(t, base, `
scenarios:
  admin_ok:
    vus: 2
    iterations: 1
    connect: {protocol: socketio, namespace: /admin, auth: {token: "secret", who: "u{{vu}}"}}
    steps:
      - connect
      - emit: {event: stats, ack: {regex: '"admins":[12]\b'}, timeout: 2s}
      - close
  admin_bad:
    vus: 3
    iterations: 1
    connect: {protocol: socketio, namespace: /admin, auth: {token: "wrong"}}
    steps: [connect]
  main_auth:
    vus: 1
    iterations: 1
    steps:
      - connect: {protocol: socketio, auth: {name: "u{{vu}}"}}
      - emit: {event: whoami, ack: {json: {auth: {name: u1}}}}
`)
	wantCounters(t, r, map[string]int64{
		"conn.opened":                    3,
		"conn.failed.socketio_namespace": 3,
		"errors.socketio":                3,
		"iterations.failed":              3,
		"errors.ack_mismatch":            0,
	})
	if got := latency(t, r, "stats").Count; got != 2 {
		t.Errorf("stats acks = %d, want 2", got)
	}
}

func TestSocketIOAckTimeoutAndMismatch(t *testing.T) {
	base := sioServer(t)
	// "nothing" has no handler on the server: its ack never comes. "echo"
	// acks with its arguments, which then do not match.
	r := runYAML(t, base, `
connect: {protocol: socketio}
vus: 1
iterations: 1
steps:
  - connect
  - emit: {event: nothing, ack: true, timeout: 300ms, on_timeout: continue}
  - emit: {event: echo, args: [{a: 1}], ack: {json: {a: 2}}}
`)
	wantCounters(t, r, map[string]int64{
		"errors.ack_timeout":  1,
		"errors.ack_mismatch": 1,
		"iterations.failed":   1,
	})
	if l, ok := r.Latency("nothing"); ok && l.Count != 0 {
		t.Errorf("a timed-out ack recorded %d latencies", l.Count)
	}
}

func TestSocketIOBinaryRoundTrip(t *testing.T) {
	base := sioServer(t)
	r := runYAML(t, base, `
connect: {protocol: socketio}
vus: 2
iterations: 1
listeners:
  - {name: binary_back, event: bin, binary: true}
steps:
  - connect
  - emit: {event: bin, random_bytes: 3000, ack: {json: {len: 3000}}}
  - expect: {name: bin_echo, event: bin, binary: true, timeout: 2s}
  - emit: {event: bin, binary_hex: "00 01 02 ff", ack: {json: {len: 4}}, name: bin_small}
  - expect: {event: bin, binary: true, timeout: 2s}
  - emit: {event: echo, args: [x]}
  - expect: {event: echo, regex: '^"x"$', timeout: 2s}
  - close
`)
	wantNoErrors(t, r)
	wantCounters(t, r, map[string]int64{"listener.binary_back": 4, "iterations": 2})
	if got := latency(t, r, "bin").Count; got != 2 {
		t.Errorf("bin acks = %d, want 2", got)
	}
}

func TestSocketIOLongerThanPingTimeout(t *testing.T) {
	base := sioServer(t)
	// 1.5 s idle is three times pingInterval + pingTimeout: a client that
	// did not answer pings would be dropped and its last emit fail.
	r := runYAML(t, base, `
connect: {protocol: socketio}
vus: 3
iterations: 1
steps:
  - connect
  - think: 1500ms
  - emit: {event: echo, args: [1], ack: true}
  - close
`)
	wantNoErrors(t, r)
	// msgs.recv counts the 3 acks; pings are bytes only.
	wantCounters(t, r, map[string]int64{"socketio.disconnected": 0, "iterations.failed": 0, "msgs.recv": 3})
	if b := counter(r, "bytes.recv"); b < 3*3 {
		t.Errorf("bytes.recv = %d: pings and acks not counted", b)
	}
	if got := latency(t, r, "echo").Count; got != 3 {
		t.Errorf("echo acks after idling = %d, want 3", got)
	}
	if p := counter(r, "socketio.pongs"); p < 3*3 {
		t.Errorf("socketio.pongs = %d, want at least 9 (3 VUs × 1.5 s / 300 ms)", p)
	}
}

func TestSocketIONotASocketIOTarget(t *testing.T) {
	sio := sioServer(t)
	raw := wsServer(t, echoHandler(0))
	// A stand-in for a Socket.IO server refusing the request the way
	// engine.io does (our query always asks for the websocket transport
	// and EIO=4, which the real server accepts).
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":0,"message":"Transport unknown"}`))
	}))
	defer refuse.Close()
	tests := []struct {
		name, base, connect, kind, said string
	}{
		{"transport unknown", "ws" + strings.TrimPrefix(refuse.URL, "http"), `{protocol: socketio}`, "socketio_upgrade", `HTTP 400 Bad Request: {\"code\":0,\"message\":\"Transport unknown\"}`},
		// A path the Node server does not serve: engine.io drops the
		// upgrade request (after its destroyUpgradeTimeout, 1 s).
		{"wrong path", sio, `{protocol: socketio, path: /nope/}`, "socketio_upgrade", "connection closed before the upgrade response"},
		// A plain WebSocket echo server sends no open packet.
		{"raw websocket", raw, `{protocol: socketio, handshake_timeout: 300ms}`, "socketio_handshake", "waiting for the Engine.IO open packet"},
		// The server has no such namespace and answers CONNECT_ERROR.
		{"namespace refused", sio, `{protocol: socketio, namespace: /nowhere}`, "socketio_namespace", "namespace /nowhere refused: Invalid namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("sio.yaml", []byte("vus: 1\niterations: 1\nsteps:\n  - connect: "+tt.connect+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			reg := report.NewRegistry()
			err = Run(context.Background(), p, RunOptions{BaseURL: tt.base, Registry: reg, Seed: 1,
				Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil))})
			if err != nil {
				t.Fatal(err)
			}
			r := reg.Results(report.Meta{})
			wantCounters(t, r, map[string]int64{"conn.failed." + tt.kind: 1, "errors.socketio": 1, "conn.opened": 0})
			if !strings.Contains(log.String(), tt.said) {
				t.Errorf("the warning does not say %q:\n%s", tt.said, log.String())
			}
		})
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestParseSocketIO(t *testing.T) {
	p, err := LoadFile("testdata/scenarios/socketio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	adm := p.Scenarios[0]
	c := adm.Steps[0].Connect.Options
	if c.Protocol != ProtoSocketIO || c.Path != "/io/" || c.Namespace != "/admin" || c.EngineIO != 4 {
		t.Errorf("connect options = %+v", c)
	}
	if auth, ok := c.Auth.(orderedObject); !ok || len(auth) != 2 || auth[0].Key != "token" {
		t.Errorf("auth = %#v", c.Auth)
	}
	say := adm.Steps[2].Emit
	if say.Name != "say_ack" || say.Event != "say" || len(say.Args) != 3 || !say.Ack || say.AckMatch.JSON == nil ||
		say.Timeout != 2*time.Second || say.OnTimeout != TimeoutContinue {
		t.Errorf("say emit = %+v", say)
	}
	if join := adm.Steps[1].Emit; join.Name != "join" || join.Ack || join.binary() {
		t.Errorf("join emit = %+v", join)
	}
	if up := adm.Steps[3].Emit; string(up.Attachment) != "\x00\x01\x02" || !up.Ack {
		t.Errorf("upload emit = %+v", up)
	}
	if n := adm.Steps[4].Emit; n.AttachRandom != 16 {
		t.Errorf("noise emit = %+v", n)
	}
	if e := adm.Steps[5].Expect; e.Match.Event != "said" || e.Capture["who"] != "from" {
		t.Errorf("expect = %+v", e)
	}
	if l := adm.Listeners; l[0].Match.Event != "said" || l[1].Match.Event != "bin" || !l[1].Match.Binary {
		t.Errorf("listeners = %+v", l)
	}
	if raw := p.Scenarios[1].Steps[0].Connect.Options; raw.Protocol != ProtoWebSocket || raw.Path != "/echo" {
		t.Errorf("raw scenario connect = %+v", raw)
	}
	if got := socketIOPath(""); got != "/socket.io/?EIO=4&transport=websocket" {
		t.Errorf("socketIOPath = %q", got)
	}
	if got := socketIOPath("/io/?token=x"); got != "/io/?token=x&EIO=4&transport=websocket" {
		t.Errorf("socketIOPath = %q", got)
	}
}

// An event matcher looks at the first argument; dot paths too.
func TestEventMatcher(t *testing.T) {
	m := Matcher{Event: "said", JSON: map[string]any{"room": "r1"}}
	if err := m.Compile(); err != nil {
		t.Fatal(err)
	}
	var v Vars
	for _, tt := range []struct {
		msg  string
		want bool
	}{
		{`["said",{"room":"r1","ts":5}]`, true},
		{`["said",{"room":"r2"}]`, false},
		{`["sad",{"room":"r1"}]`, false},
		{`["said"]`, false},
		{`["sa\u0069d",{"room":"r1"}]`, true},
		{`{"room":"r1"}`, false},
	} {
		if got := m.Match(ws.OpText, []byte(tt.msg), &v); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.msg, got, tt.want)
		}
	}
	if ts, ok := LookupInt(m.subject([]byte(`["said",{"room":"r1","ts":5}]`)), "ts"); !ok || ts != 5 {
		t.Errorf("subject lookup = %d %v", ts, ok)
	}
	msg := []byte(`["said",{"room":"r1","ts":5}]`)
	allocs := testing.AllocsPerRun(100, func() { m.Match(ws.OpText, msg, &v) })
	if allocs != 0 {
		t.Errorf("event match allocates %v times", allocs)
	}
}
