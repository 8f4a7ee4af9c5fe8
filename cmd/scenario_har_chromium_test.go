package cmd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wsbench/wsbench/internal/chromiumtest"
	"github.com/wsbench/wsbench/internal/inspect"
)

// chromiumHAR gathers a page's WebSocket traffic from the DevTools
// protocol and writes it as Chrome DevTools' "Save all as HAR" does for
// sockets (front_end/models/har/HARFormat and Log: an entry with
// _resourceType "websocket" and _webSocketMessages {type, time, opcode,
// data}, times as wall-clock seconds: the handshake's wallTime plus the
// frame's monotonic timestamp since the handshake's).
type chromiumHAR struct {
	mu    sync.Mutex
	order []network.RequestID
	socks map[network.RequestID]*chromeSock
}

type chromeSock struct {
	url        string
	wall, mono float64 // the handshake's wall time and monotonic timestamp
	reqHeaders network.Headers
	status     int64
	statusText string
	rspHeaders network.Headers
	messages   []inspect.HARWSMessage
}

func (h *chromiumHAR) event(ev any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sock := func(id network.RequestID) *chromeSock {
		s := h.socks[id]
		if s == nil {
			s = &chromeSock{}
			h.socks[id] = s
			h.order = append(h.order, id)
		}
		return s
	}
	frame := func(id network.RequestID, ts float64, typ string, f *network.WebSocketFrame) {
		s := sock(id)
		data := string(f.PayloadData)
		if f.Opcode != 1 {
			data = base64.StdEncoding.EncodeToString(f.PayloadData)
		}
		at := s.wall + (ts - s.mono)
		s.messages = append(s.messages, inspect.HARWSMessage{Type: typ, Time: json.Number(fmt.Sprintf("%.6f", at)), Opcode: int(f.Opcode), Data: data})
	}
	switch e := ev.(type) {
	case *network.EventWebSocketCreated:
		sock(e.RequestID).url = e.URL
	case *network.EventWebSocketWillSendHandshakeRequest:
		s := sock(e.RequestID)
		s.wall, s.mono, s.reqHeaders = e.WallTime.Float64(), e.Timestamp.Float64(), e.Request.Headers
	case *network.EventWebSocketHandshakeResponseReceived:
		s := sock(e.RequestID)
		s.status, s.statusText, s.rspHeaders = e.Response.Status, e.Response.StatusText, e.Response.Headers
		if len(e.Response.RequestHeaders) > 0 {
			s.reqHeaders = e.Response.RequestHeaders
		}
	case *network.EventWebSocketFrameSent:
		frame(e.RequestID, e.Timestamp.Float64(), "send", e.Response)
	case *network.EventWebSocketFrameReceived:
		frame(e.RequestID, e.Timestamp.Float64(), "receive", e.Response)
	}
}

func harHeaders(h network.Headers) []inspect.HARNameValue {
	var out []inspect.HARNameValue
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, inspect.HARNameValue{Name: k, Value: fmt.Sprint(h[k])})
	}
	return out
}

func (h *chromiumHAR) write(t *testing.T, path, version string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	har := inspect.HAR{Log: inspect.HARLog{Version: "1.2", Creator: inspect.HARCreator{Name: "WebInspector", Version: version}, Pages: []struct{}{}}}
	for _, id := range h.order {
		s := h.socks[id]
		sec, frac := math.Modf(s.wall)
		e := inspect.HAREntry{
			StartedDateTime: time.Unix(int64(sec), int64(frac*1e9)).UTC().Format("2006-01-02T15:04:05.000Z"),
			Request:         inspect.HARRequest{Method: "GET", URL: s.url, HTTPVersion: "HTTP/1.1", Headers: harHeaders(s.reqHeaders), Cookies: []inspect.HARNameValue{}, QueryString: []inspect.HARNameValue{}, HeadersSize: -1, BodySize: 0},
			Response:        inspect.HARResponse{Status: int(s.status), StatusText: s.statusText, HTTPVersion: "HTTP/1.1", Headers: harHeaders(s.rspHeaders), Cookies: []inspect.HARNameValue{}, Content: inspect.HARContent{MimeType: "x-unknown"}, HeadersSize: -1},
			Timings:         inspect.HARTimings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1},
			ResourceType:    "websocket",
			Messages:        s.messages,
		}
		har.Log.Entries = append(har.Log.Entries, e)
	}
	b, err := json.MarshalIndent(har, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// chromeChatJS plays chatScript with the browser's own WebSocket.
const chromeChatJS = `(() => {
  const script = %s;
  const ws = new WebSocket(%q);
  let i = 0, waiting = 0;
  window.__chat = 'running';
  const next = () => {
    if (i === script.length) { ws.close(1000); return; }
    const s = script[i++];
    setTimeout(() => {
      waiting = i;
      ws.send(s.msg.replaceAll('NICK', 'dora').replace('TS', String(Date.now())));
    }, s.pause);
  };
  ws.onopen = next;
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.op === 'error') window.__chat = 'error: ' + ev.data;
    if (m.op === 'ack' && m.id === waiting) next();
  };
  ws.onclose = () => { if (window.__chat === 'running') window.__chat = 'done'; };
  return true;
})()`

// TestScenarioFromChromiumHAR has headless Chromium play the chat session
// with its own WebSocket, takes the HAR of it from the DevTools protocol
// (as DevTools exports it), renders it with inspect, and replays the
// scenario generated from it with 20 VUs.
func TestScenarioFromChromiumHAR(t *testing.T) {
	exe := chromiumtest.Path(t, "test a HAR taken from the browser")
	srv := startChat(t)
	actx, cancelA := chromiumtest.Allocator(exe)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	h := &chromiumHAR{socks: map[network.RequestID]*chromeSock{}}
	if err := chromedp.Listen(ctx, h.event); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	// A page of the server itself: Chromium's local network access checks
	// refuse a loopback socket from about:blank.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+srv.Addr().String()+"/healthz")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	version, err := chromedp.Run(ctx, chromedp.Evaluate[string]("navigator.userAgent"))
	if err != nil {
		t.Fatal(err)
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
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(chromeChatJS, js, srv.URL("/chat")))); err != nil {
		t.Fatalf("start the page's session: %v", err)
	}
	for state := "running"; state == "running"; {
		time.Sleep(50 * time.Millisecond)
		if state, err = chromedp.Run(ctx, chromedp.Evaluate[string]("window.__chat")); err != nil {
			t.Fatal(err)
		}
		if state != "running" && state != "done" {
			t.Fatalf("the page's session: %s", state)
		}
	}
	// The last frames' events may trail the page's close callback.
	time.Sleep(300 * time.Millisecond)
	dir := t.TempDir()
	har := filepath.Join(dir, "chromium.har")
	ua := version
	if i := strings.Index(ua, "Chrome/"); i >= 0 {
		ua = strings.Fields(ua[i+len("Chrome/"):])[0]
	}
	h.write(t, har, ua)
	if keep := os.Getenv("WSBENCH_KEEP_HAR"); keep != "" {
		// How internal/inspect/testdata/chromium-chat.har was made.
		b, _ := os.ReadFile(har)
		_ = os.WriteFile(keep, b, 0o644)
	}

	// inspect renders it like any source.
	var out bytes.Buffer
	if err := runInspect(context.Background(), &inspectOptions{File: har, MaxPayload: 0, Stdout: &out, Stderr: io.Discard}); err != nil {
		t.Fatalf("inspect %s: %v\n%s", har, err, out.String())
	}
	for _, want := range []string{"HAR written by WebInspector", "c1 handshake", "GET /chat HTTP/1.1", `"op\":\"nick\",\"name\":\"dora\"`, `{\"op\":\"ack\",\"id\":6}`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("inspect of the HAR lacks %q:\n%s", want, out.String())
		}
	}
	yaml, _ := generate(t, genOptions("builtin", 20, har))
	t.Logf("generated from the HAR:\n%s", yaml)
	for _, want := range []string{`"name": "dora-{{vu}}"`, `"ts": "{{now_ms}}"`, `path: "/chat"`} {
		if !strings.Contains(yaml, want) {
			t.Errorf("generated file lacks %q:\n%s", want, yaml)
		}
	}
	if strings.Contains(strings.ToLower(yaml), "user-agent") {
		t.Errorf("browser noise headers in the file:\n%s", yaml)
	}
	file := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	replayAndCheck(t, srv, file, 20)
}

// TestScenarioFromChatPage is the three-command path of the docs with a
// real browser: Chromium opens the chat page through the relay (which
// passes the page through, so the page's socket goes through it), picks a
// nickname, joins a room and talks; the recording becomes a scenario that
// 20 VUs replay against the server without an error.
func TestScenarioFromChatPage(t *testing.T) {
	exe := chromiumtest.Path(t, "test recording the chat page")
	srv := startChat(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "page.trace")
	r := startRecordingRelay(t, srv.URL("/"), rec)
	actx, cancelA := chromiumtest.Allocator(exe)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	wait := func(what, js string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s", what)
			}
		}
	}
	do := func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("open the page through the relay", chromedp.Navigate("http://"+r.addr+"/"), chromedp.WaitReady(chromedp.CSS("#messages")))
	do("nickname", chromedp.SetValue(chromedp.CSS("#nick"), "erin"), chromedp.Click(chromedp.CSS("#nick-form button")))
	wait("the welcome", `document.querySelector('#me').textContent === 'erin'`)
	do("join", chromedp.SetValue(chromedp.CSS("#join-room"), "#demo"), chromedp.Click(chromedp.CSS("#join-form button")))
	wait("the room", `!document.querySelector('#text').disabled`)
	do("say", chromedp.SetValue(chromedp.CSS("#text"), "hello from the browser"), chromedp.Click(chromedp.CSS("#send")))
	wait("the message", `[...document.querySelectorAll('#messages li')].some(l => l.textContent.includes('hello from the browser'))`)
	cancelB() // the browser closes its socket
	time.Sleep(300 * time.Millisecond)
	r.stop(t, 1)

	yaml, _ := generate(t, genOptions("builtin", 20, rec))
	for _, want := range []string{`"op": "nick", "name": "erin-{{vu}}", "id": "{{seq}}"`, `"op": "say", "room": "#demo", "text": "hello from the browser", "id": "{{seq}}"`, `expect: {name: rooms, json: {"op": "rooms"}}`, `path: "/chat"`} {
		if !strings.Contains(yaml, want) {
			t.Errorf("generated file lacks %q:\n%s", want, yaml)
		}
	}
	if n := strings.Count(yaml, "    vus: "); n != 1 {
		t.Errorf("%d scenarios, want the page's one socket (its plain HTTP requests are not connections to replay):\n%s", n, yaml)
	}
	file := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := runRun(context.Background(), &runOptions{File: file, Target: srv.URL(""), Format: "json", Quiet: true, LogLevel: "error", Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("replay: %v\n%s\n%s", err, out.String(), errOut.String())
	}
}
