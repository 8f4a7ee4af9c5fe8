package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/internal/recgen"
	"github.com/wsbench/wsbench/internal/socketio/socketiotest"
	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/target"
)

// recordingRelay is `wsbench inspect --listen … --upstream … --record FILE` run
// in-process for a test.
type recordingRelay struct {
	addr   string
	cancel context.CancelFunc
	errc   chan error
	mu     sync.Mutex
	done   int
}

// startRecordingRelay relays to upstream (a ws:// URL) and records to rec
// (and to a HAR when har is given).
func startRecordingRelay(t *testing.T, upstream, rec string, har ...string) *recordingRelay {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	r := &recordingRelay{cancel: cancel, errc: make(chan error, 1)}
	addrCh := make(chan net.Addr, 1)
	go func() {
		r.errc <- runInspect(ctx, &inspectOptions{
			Listen: "127.0.0.1:0", Upstream: upstream, MaxPayload: 16,
			Record: rec, RecordMaxBytes: 0, RenderQueue: 256 << 20, HAR: strings.Join(har, ""),
			ConnectTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
			Stdout: io.Discard, Stderr: io.Discard,
			OnListen:   func(a net.Addr) { addrCh <- a },
			OnConnDone: func(uint64) { r.mu.Lock(); r.done++; r.mu.Unlock() },
		})
	}()
	select {
	case a := <-addrCh:
		r.addr = a.String()
	case err := <-r.errc:
		cancel()
		t.Fatalf("relay: %v", err)
	}
	t.Cleanup(cancel)
	return r
}

// stop waits until n connections have ended, then ends the relay, which
// closes the recording.
func (r *recordingRelay) stop(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		done := r.done
		r.mu.Unlock()
		if done >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay: %d of %d connections ended", done, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.cancel()
	if err := <-r.errc; err != nil {
		t.Fatalf("relay: %v", err)
	}
}

// chatScript is the session the recorded clients play on /chat: each
// message, then a wait for its ack (the message's id). NICK and TS are
// filled in by the client.
var chatScript = []struct {
	msg   string
	pause time.Duration // before the message
}{
	{`{"op":"nick","name":"NICK","id":1}`, 0},
	{`{"op":"join","room":"lobby","id":2}`, 0},
	{`{"op":"say","room":"lobby","text":"hello","ts":TS,"seq":1,"id":3}`, 120 * time.Millisecond},
	{`{"op":"echo","payload":"ping","id":4}`, 40 * time.Millisecond},
	{`{"op":"dm","to":"NICK","text":"note to self","id":5}`, 0},
	{`{"op":"leave","room":"lobby","id":6}`, 30 * time.Millisecond},
}

// chatOps is the op sequence of chatScript.
var chatOps = []string{"nick", "join", "say", "echo", "dm", "leave"}

// goChatClient plays chatScript with gorilla/websocket against url.
func goChatClient(t *testing.T, url, nick string) {
	t.Helper()
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i, s := range chatScript {
		time.Sleep(s.pause)
		msg := strings.ReplaceAll(s.msg, "NICK", nick)
		msg = strings.ReplaceAll(msg, "TS", fmt.Sprint(time.Now().UnixNano()))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for the ack of %s: %v", msg, err)
			}
			var m struct {
				Op string
				ID int
			}
			_ = json.Unmarshal(data, &m)
			if m.Op == "error" {
				t.Fatalf("server error for %s: %s", msg, data)
			}
			if m.Op == "ack" && m.ID == i+1 {
				break
			}
		}
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(5*time.Second))
	_, _, _ = ws.ReadMessage()
}

// startChat starts the reference server for the test.
func startChat(t *testing.T) *target.Server {
	cfg := target.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Loops = 1
	return startServer(t, cfg)
}

// generate runs `wsbench scenario from` and returns the file and stderr.
func generate(t *testing.T, o scenarioFromOptions) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.Stdout, o.Stderr = &out, &errOut
	if err := runScenarioFrom(context.Background(), &o); err != nil {
		t.Fatalf("scenario from %v: %v\n%s", o.Sources, err, errOut.String())
	}
	return out.String(), errOut.String()
}

// genOptions are the generator's defaults with a target and VUs.
func genOptions(target string, vus int, sources ...string) scenarioFromOptions {
	o := scenarioFromOptions{Sources: sources, Gen: recgen.DefaultOptions()}
	o.Gen.Target, o.Gen.VUs = target, vus
	return o
}

// replayAndCheck runs the generated file with its VUs through a second
// relay and checks what the server saw: every VU played the recorded op
// sequence, under a nickname of its own, and got an ack for every message
// with an id and no error.
func replayAndCheck(t *testing.T, srv *target.Server, file string, vus int) {
	t.Helper()
	dir := t.TempDir()
	rec := filepath.Join(dir, "replay.trace")
	r := startRecordingRelay(t, srv.URL("/"), rec)
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{
		File: file, Target: "ws://" + r.addr, Format: "table", Quiet: true, LogLevel: "error",
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		t.Fatalf("replay: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	r.stop(t, vus)
	conns, err := recgen.Load(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != vus {
		t.Fatalf("the server saw %d connections, want %d", len(conns), vus)
	}
	nicks := map[string]bool{}
	for _, c := range conns {
		var ops []string
		ids, acks := 0, 0
		for _, m := range c.Msgs {
			var v struct {
				Op   string
				Name string
				ID   json.RawMessage
			}
			if err := json.Unmarshal(m.Payload, &v); err != nil {
				t.Fatalf("%s: not JSON: %q", c.Name(), m.Payload)
			}
			switch {
			case m.Send:
				ops = append(ops, v.Op)
				if v.ID != nil {
					ids++
				}
				if v.Op == "nick" {
					if nicks[v.Name] {
						t.Errorf("%s: nickname %q used twice", c.Name(), v.Name)
					}
					nicks[v.Name] = true
				}
			case v.Op == "ack":
				acks++
			case v.Op == "error":
				t.Errorf("%s: the server answered an error: %s", c.Name(), m.Payload)
			}
		}
		if !slices.Equal(ops, chatOps) {
			t.Errorf("%s: ops %v, want %v", c.Name(), ops, chatOps)
		}
		if ids != len(chatOps) || acks != ids {
			t.Errorf("%s: %d messages with an id, %d acks; want %d of each", c.Name(), ids, acks, len(chatOps))
		}
	}
	if len(nicks) != vus {
		t.Errorf("%d distinct nicknames, want %d", len(nicks), vus)
	}
}

// recordChat records one client session through the relay and returns
// the trace's path.
func recordChat(t *testing.T, srv *target.Server, client func(url string)) string {
	t.Helper()
	dir := t.TempDir()
	rec := filepath.Join(dir, "session.trace")
	r := startRecordingRelay(t, srv.URL("/"), rec, filepath.Join(dir, "live.har"))
	client("ws://" + r.addr + "/chat")
	r.stop(t, 1)
	return rec
}

// TestScenarioFromGoClient records a Go client on the chat protocol
// through the relay, generates a scenario and replays it with 100 VUs.
func TestScenarioFromGoClient(t *testing.T) {
	srv := startChat(t)
	rec := recordChat(t, srv, func(url string) { goChatClient(t, url, "alice") })
	yaml, report := generate(t, genOptions("builtin", 100, rec))
	for _, want := range []string{
		`"name": "alice-{{vu}}"`, `"to": "alice-{{vu}}"`, `"ts": "{{now_ns}}"`, `"id": "{{seq}}"`,
		`expect: {name: nick, json: {"op": "ack", "id": "{{seq}}"}}`, "vus: 100", "iterations: 1",
		"# c1 of session.trace: upgrade at ",
	} {
		if !strings.Contains(yaml, want) {
			t.Errorf("generated file lacks %q:\n%s", want, yaml)
		}
	}
	if !regexp.MustCompile(`think: 1[2-9][0-9]ms`).MatchString(yaml) {
		t.Errorf("no think of the recorded 120 ms pause:\n%s", yaml)
	}
	for _, want := range []string{`name "alice" → "alice-{{vu}}"`, `ts "`, `→ "{{now_ns}}"`} {
		if !strings.Contains(report, want) {
			t.Errorf("stderr report lacks %q:\n%s", want, report)
		}
	}
	// Stable: the same input gives the same bytes.
	if again, _ := generate(t, genOptions("builtin", 100, rec)); again != yaml {
		t.Errorf("a second generation differs")
	}
	file := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runRun(context.Background(), &runOptions{File: file, Check: true, Format: "table", Stdout: &out, Stderr: io.Discard}); err != nil {
		t.Fatalf("run --check: %v", err)
	}
	replayAndCheck(t, srv, file, 100)

	// --no-params keeps the recorded values.
	lit, _ := generate(t, scenarioFromOptions{Sources: []string{rec}, Gen: func() recgen.Options {
		g := recgen.DefaultOptions()
		g.NoParams = true
		return g
	}()})
	if !strings.Contains(lit, `"name": "alice"`) || strings.Contains(lit, "{{") {
		t.Errorf("--no-params still templated:\n%s", lit)
	}

	t.Run("har", func(t *testing.T) {
		// trace → HAR → scenario equals trace → scenario.
		har := filepath.Join(t.TempDir(), "session.har")
		var errOut bytes.Buffer
		if err := runInspect(context.Background(), &inspectOptions{File: rec, HAR: har, Stdout: io.Discard, Stderr: &errOut}); err != nil {
			t.Fatalf("inspect --har: %v", err)
		}
		fromHAR, _ := generate(t, genOptions("builtin", 100, har))
		if want := strings.ReplaceAll(yaml, "session.trace", "session.har"); fromHAR != want {
			t.Errorf("scenario from the HAR differs from the trace's:\n%s\nwant:\n%s", fromHAR, want)
		}
		// The relay's own --har, written live, is that same HAR.
		live, _ := os.ReadFile(filepath.Join(filepath.Dir(rec), "live.har"))
		fromTrace, _ := os.ReadFile(har)
		if !bytes.Equal(live, fromTrace) || len(live) == 0 {
			t.Errorf("the relay's --har differs from inspect TRACE --har:\n%s\nwant:\n%s", live, fromTrace)
		}
	})
	t.Run("pcap", func(t *testing.T) {
		pcap := filepath.Join(t.TempDir(), "session.pcap")
		traceToPcap(t, rec, pcap)
		fromPcap, _ := generate(t, genOptions("builtin", 100, pcap))
		if want := strings.ReplaceAll(yaml, "session.trace", "session.pcap"); fromPcap != want {
			t.Errorf("scenario from the pcap differs from the trace's:\n%s\nwant:\n%s", fromPcap, want)
		}
	})
}

// traceToPcap writes the connections of a trace as the Ethernet/IPv4/TCP
// packets that carried them (tcpdump is not needed): per connection a
// TCP handshake, the upgrade, one segment per frame, at the trace's times.
func traceToPcap(t *testing.T, tracePath, pcapPath string) {
	t.Helper()
	f, err := os.Open(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := trace.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := pcapgo.NewWriterNanos(&out)
	if err := w.WriteFileHeader(1<<18, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	start := tr.Header().Start
	server := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 8080}
	seq := map[uint64]*[2]uint32{}
	emit := func(conn uint64, fromClient bool, at time.Time, payload []byte, syn bool) {
		client := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 40000 + int(conn)}
		if syn {
			writeSegment(t, w, client, server, seq[conn], fromClient, at, nil, true, false)
		}
		for len(payload) > 0 {
			n := min(len(payload), 60000)
			writeSegment(t, w, client, server, seq[conn], fromClient, at, payload[:n], false, false)
			payload = payload[n:]
		}
	}
	for {
		rec, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		at := start.Add(rec.Time)
		switch rec.Kind {
		case trace.KindHandshake:
			seq[rec.Conn] = &[2]uint32{1000, 9000000}
			emit(rec.Conn, true, at, nil, true)
			emit(rec.Conn, false, at, nil, true)
			emit(rec.Conn, true, at, rec.Request, false)
			emit(rec.Conn, false, at, rec.Response, false)
		case trace.KindFrame:
			emit(rec.Conn, rec.Dir == trace.ClientToServer, at, rec.Raw, false)
		}
	}
	if err := os.WriteFile(pcapPath, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nodeChatClient is chatScript for Node with npm's ws package (from
// examples/socketio-server/node_modules, which `npm ci` installs).
const nodeChatClient = `
const WebSocket = require(process.argv[2]);
const script = JSON.parse(process.argv[4]);
const ws = new WebSocket(process.argv[3]);
let i = 0, waiting = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function next() {
  if (i === script.length) { ws.close(1000); return; }
  const s = script[i++];
  await sleep(s.pause);
  waiting = i;
  ws.send(s.msg.replaceAll('NICK', 'bob').replace('TS', String(Date.now())));
}
ws.on('open', next);
ws.on('message', (data) => {
  const m = JSON.parse(data.toString());
  if (m.op === 'error') { console.error('server error: ' + data); process.exit(1); }
  if (m.op === 'ack' && m.id === waiting) next();
});
ws.on('close', () => process.exit(0));
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
setTimeout(() => { console.error('timed out'); process.exit(1); }, 20000);
`

// TestScenarioFromNodeClient does the same with a Node client using
// npm's ws package; its timestamps are milliseconds.
func TestScenarioFromNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the Node ws client recording is not tested (TestScenarioFromGoClient covers the same path with a Go client)")
	}
	wsPath, _ := filepath.Abs(filepath.Join("..", "examples", "socketio-server", "node_modules", "ws"))
	if _, err := os.Stat(wsPath); err != nil {
		t.Skipf("%s is missing: run `npm ci --prefix examples/socketio-server` (.ci/run does) to test the recording of a Node ws client", wsPath)
	}
	type step struct {
		Msg   string `json:"msg"`
		Pause int64  `json:"pause"`
	}
	var steps []step
	for _, s := range chatScript {
		steps = append(steps, step{s.msg, s.pause.Milliseconds()})
	}
	js, _ := json.Marshal(steps)
	dir := t.TempDir()
	client := filepath.Join(dir, "client.js")
	if err := os.WriteFile(client, []byte(nodeChatClient), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startChat(t)
	rec := recordChat(t, srv, func(url string) {
		cmd := exec.Command(node, client, wsPath, url, string(js))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node client: %v\n%s", err, out)
		}
	})
	yaml, _ := generate(t, genOptions("builtin", 100, rec))
	for _, want := range []string{`"name": "bob-{{vu}}"`, `"ts": "{{now_ms}}"`, `"id": "{{seq}}"`} {
		if !strings.Contains(yaml, want) {
			t.Errorf("generated file lacks %q:\n%s", want, yaml)
		}
	}
	file := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	replayAndCheck(t, srv, file, 100)
}

// sioSession is the Socket.IO session recorded by TestScenarioFromSocketIO
// (with run --trace, the client side of one VU).
const sioSession = `
target: %s
connect: {protocol: socketio, auth: {user: carol, token: abc}}
vus: 1
iterations: 1
steps:
  - connect
  - emit: {event: join, args: ["room-1"], ack: true}
  - think: 100ms
  - emit: {event: say, args: [{room: "room-1", text: "hi", ts: "{{now_ms}}", user: carol}], ack: true}
  - emit: {event: echo, args: ["x", 2]}
  - expect: {event: echo}
  - think: 50ms
  - emit: {event: whoami, ack: true}
  - close
`

// TestScenarioFromSocketIO records a Socket.IO session (the example
// Node server) and checks that it becomes protocol: socketio emits that
// replay cleanly with 20 VUs.
func TestScenarioFromSocketIO(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH: the Socket.IO recording is not tested")
	}
	if _, err := os.Stat(filepath.Join("..", "examples", "socketio-server", "node_modules", "socket.io")); err != nil {
		t.Skip("examples/socketio-server/node_modules is missing: run `npm ci --prefix examples/socketio-server` (.ci/run does)")
	}
	url := socketiotest.Start(t, socketiotest.Options{})
	dir := t.TempDir()
	rec, file := filepath.Join(dir, "sio.trace"), filepath.Join(dir, "record.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(sioSession, url)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := runRun(context.Background(), &runOptions{File: file, Format: "table", Quiet: true, LogLevel: "error",
		Trace: rec, TraceConns: 1, TraceMaxBytes: trace.DefaultMaxBytes, Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("recording run: %v\n%s", err, errOut.String())
	}
	yaml, report := generate(t, genOptions("", 20, rec))
	for _, want := range []string{
		"protocol: socketio", `auth: {"user": "carol-{{vu}}", "token": "{{env.WSBENCH_TOKEN}}"}`,
		`emit: {event: "join", args: ["room-1"], name: join, ack: true}`,
		`emit: {event: "say", args: [{"room": "room-1", "text": "hi", "ts": "{{now_ms}}", "user": "carol-{{vu}}"}], name: say, ack: true}`,
		`emit: {event: "echo", args: ["x", 2]}`, `expect: {name: echo, event: "echo"}`,
		`emit: {event: "whoami", name: whoami, ack: true}`, "target: \"" + url + "\"",
	} {
		if !strings.Contains(yaml, want) {
			t.Errorf("generated file lacks %q:\n%s", want, yaml)
		}
	}
	if strings.Contains(yaml, "send:") || strings.Contains(yaml, `"2"`) || strings.Contains(yaml, "40") && strings.Contains(yaml, `text: "4`) {
		t.Errorf("raw Engine.IO frames in the generated file:\n%s", yaml)
	}
	if strings.Contains(yaml, "abc") {
		t.Errorf("the recorded token is in the file:\n%s", yaml)
	}
	if !strings.Contains(report, `user "carol" → "carol-{{vu}}"`) || !strings.Contains(report, `token "(recorded value)" → "{{env.WSBENCH_TOKEN}}"`) {
		t.Errorf("stderr report:\n%s", report)
	}
	gen := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(gen, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if err := runRun(context.Background(), &runOptions{File: gen, Format: "json", Quiet: true, LogLevel: "error", Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("replay: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	var res struct {
		Counters map[string]float64 `json:"counters"`
	}
	_ = json.Unmarshal(out.Bytes(), &res)
	if n := res.Counters["iterations"]; n != 20 {
		t.Errorf("%v iterations, want 20:\n%s", n, out.String())
	}
}

// TestScenarioFromUsage: what the command refuses, and with which status.
func TestScenarioFromUsage(t *testing.T) {
	dir := t.TempDir()
	noWS := filepath.Join(dir, "empty.har")
	if err := os.WriteFile(noWS, []byte(`{"log":{"version":"1.2","entries":[{"request":{"url":"https://x/"}}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.har")
	if err := os.WriteFile(bad, []byte(`{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","_webSocketMessages":[{"type":"sent"}]}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"scenario", "from"}, ExitUsage, "missing the SOURCE argument"},
		{[]string{"scenario"}, ExitUsage, "give a subcommand"},
		{[]string{"scenario", "from", filepath.Join(dir, "nope.trace")}, ExitUsage, "no such file"},
		{[]string{"scenario", "from", noWS}, ExitFailure, "no WebSocket connection in it"},
		{[]string{"scenario", "from", bad}, ExitFailure, `"sent": want send or receive`},
		{[]string{"scenario", "from", noWS, "--iterations", "0"}, ExitUsage, "give --duration too"},
		{[]string{"scenario", "from", noWS, "--vus", "0"}, ExitUsage, "--vus 0"},
		{[]string{"scenario", "from", noWS, "--think-scale", "-1"}, ExitUsage, "--think-scale"},
		{[]string{"scenario", "from", noWS, "--conn", "x"}, ExitUsage, `--conn "x": use a connection number`},
		{[]string{"scenario", "from", filepath.Join("..", "internal", "inspect", "testdata", "chromium-chat.har"), "--conn", "c2"}, ExitUsage, "none of the connections --conn c2 is in it"},
	}
	for _, c := range cases {
		root := NewRootCmd()
		root.SetArgs(c.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != c.code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want exit %d with %q", c.args, err, c.code, c.want)
		}
	}
}

// TestRecordedExample keeps examples/recorded-chat.yaml what `scenario
// from` makes of the Chromium HAR in internal/inspect/testdata (run
// `go run . scenario from internal/inspect/testdata/chromium-chat.har
// --target builtin --vus 20 -o examples/recorded-chat.yaml` after a change
// to the generator).
func TestRecordedExample(t *testing.T) {
	got, _ := generate(t, genOptions("builtin", 20, filepath.Join("..", "internal", "inspect", "testdata", "chromium-chat.har")))
	want, err := os.ReadFile(filepath.Join("..", "examples", "recorded-chat.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("examples/recorded-chat.yaml is not what the generator makes of the HAR now:\n%s", got)
	}
}

// sioBuiltinSession is a Socket.IO session on the built-in server's
// /socket.io/ (its events are the chat requests).
const sioBuiltinSession = `
target: %s
connect: {protocol: socketio, auth: {name: gil}}
vus: 1
iterations: 1
steps:
  - connect
  - expect: {event: welcome}
  - emit: {event: join, args: ["lobby"], ack: true}
  - think: 80ms
  - emit: {event: say, args: [{room: lobby, text: "hi", ts: "{{now_ns}}"}], ack: true}
  - emit: {event: echo, args: ["x"]}
  - expect: {event: echo}
  - close
`

// TestScenarioFromSocketIOBuiltin records a Socket.IO session with the
// built-in server (no Node needed) and replays what it generates with 50
// VUs: each takes a nickname of its own from its auth.
func TestScenarioFromSocketIOBuiltin(t *testing.T) {
	srv := startChat(t)
	dir := t.TempDir()
	rec, file := filepath.Join(dir, "sio.trace"), filepath.Join(dir, "record.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(sioBuiltinSession, srv.URL(""))), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := runRun(context.Background(), &runOptions{File: file, Format: "table", Quiet: true, LogLevel: "error",
		Trace: rec, TraceConns: 1, TraceMaxBytes: trace.DefaultMaxBytes, Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("recording run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	yaml, _ := generate(t, genOptions("builtin", 50, rec))
	for _, want := range []string{
		"protocol: socketio", `auth: {"name": "gil-{{vu}}"}`,
		`expect: {name: greeting, event: "welcome", json: {"op": "welcome", "name": "gil-{{vu}}"}}`,
		`emit: {event: "join", args: ["lobby"], name: join, ack: true}`,
		`"ts": "{{now_ns}}"`, `expect: {name: echo, event: "echo"}`,
	} {
		if !strings.Contains(yaml, want) {
			t.Errorf("generated file lacks %q:\n%s", want, yaml)
		}
	}
	gen := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(gen, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if err := runRun(context.Background(), &runOptions{File: gen, Target: srv.URL(""), Format: "json", Quiet: true, LogLevel: "error", Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("replay: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	var res struct {
		Counters map[string]float64 `json:"counters"`
	}
	_ = json.Unmarshal(out.Bytes(), &res)
	if n := res.Counters["iterations"]; n != 50 {
		t.Errorf("%v iterations, want 50", n)
	}
}
