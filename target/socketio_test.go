package target

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbench/wsbench/internal/socketio"
)

// pollClient is a hand-driven Engine.IO long-polling client.
type pollClient struct {
	t    *testing.T
	base string // http://host:port/socket.io/?EIO=4&transport=polling
	sid  string
	open socketio.Open
	hc   *http.Client
	got  []string // packets polled but not yet awaited
}

func sioBase(s *Server) string {
	scheme := "http://"
	if s.tls != nil {
		scheme = "https://"
	}
	return scheme + s.Addr().String() + "/socket.io/?EIO=4&transport=polling"
}

func httpDo(t *testing.T, hc *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

// openPolling makes the Engine.IO handshake over polling.
func openPolling(t *testing.T, s *Server) *pollClient {
	t.Helper()
	return openPollingWith(t, s, &http.Client{Timeout: 10 * time.Second})
}

func openPollingWith(t *testing.T, s *Server, hc *http.Client) *pollClient {
	t.Helper()
	p := &pollClient{t: t, base: sioBase(s), hc: hc}
	code, body := httpDo(t, p.hc, "GET", p.base, "")
	if code != 200 || !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake: %d %q", code, body)
	}
	o, err := socketio.ParseOpen([]byte(body[1:]))
	if err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	p.sid, p.open = o.SID, o
	return p
}

func (p *pollClient) url() string { return p.base + "&sid=" + p.sid }

func (p *pollClient) post(body string) {
	p.t.Helper()
	if code, resp := httpDo(p.t, p.hc, "POST", p.url(), body); code != 200 || resp != "ok" {
		p.t.Fatalf("POST %q: %d %q", body, code, resp)
	}
}

// poll makes one GET and returns its packets.
func (p *pollClient) poll() []string {
	p.t.Helper()
	code, body := httpDo(p.t, p.hc, "GET", p.url(), "")
	if code != 200 {
		p.t.Fatalf("GET: %d %q", code, body)
	}
	return strings.Split(body, "\x1e")
}

// await polls until a packet with prefix arrives (answering pings on the
// way) and returns it.
func (p *pollClient) await(prefix string) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, pkt := range p.got {
			if strings.HasPrefix(pkt, prefix) {
				p.got = append(p.got[:i:i], p.got[i+1:]...)
				return pkt
			}
		}
		for _, pkt := range p.poll() {
			if pkt == "2" {
				p.post("3")
				continue
			}
			p.got = append(p.got, pkt)
		}
	}
	p.t.Fatalf("no packet %q within 10s", prefix)
	return ""
}

// eventArg returns the first argument of an EVENT packet 42["name",{…}].
func eventArg(t *testing.T, pkt string) map[string]any {
	t.Helper()
	var ev []json.RawMessage
	var arg map[string]any
	if err := json.Unmarshal([]byte(pkt[2:]), &ev); err != nil || len(ev) < 2 {
		t.Fatalf("event packet %q: %v", pkt, err)
	}
	if err := json.Unmarshal(ev[1], &arg); err != nil {
		t.Fatalf("event packet %q: %v", pkt, err)
	}
	return arg
}

// readChat reads /chat messages until one with op (and from, when set).
func readChat(t *testing.T, c *websocket.Conn, op, from string) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for %s from %q: %v", op, from, err)
		}
		if m["op"] == op && (from == "" || m["from"] == from || m["name"] == from) {
			return m
		}
	}
}

func TestSocketIOPollingMixedRoom(t *testing.T) {
	s := startTest(t, nil)
	raw := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "raw", "#mix")
	p := openPolling(t, s)
	if len(p.open.Upgrades) != 1 || p.open.Upgrades[0] != "websocket" || p.open.PingInterval != 25*time.Second || p.open.MaxPayload != 1_000_000 {
		t.Fatalf("open packet: %+v", p.open)
	}
	p.post(`40{"name":"sio1"}`)
	if pkt := p.await("40"); !strings.HasPrefix(pkt, `40{"sid":"`) {
		t.Fatalf("connect answer %q", pkt)
	}
	p.await(`42["welcome",{"op":"welcome","name":"sio1"}]`)
	p.post(`420["join","#mix"]`)
	p.await(`42["joined",{"op":"joined","room":"#mix","members":2}]`)
	p.await(`430[{"ok":true}]`)
	readChat(t, raw, "presence", "sio1")

	// raw → Socket.IO
	if err := raw.WriteJSON(map[string]any{"op": "say", "room": "#mix", "text": "hello sio"}); err != nil {
		t.Fatal(err)
	}
	pkt := p.await(`42["said"`)
	if ev := eventArg(t, pkt); ev["from"] != "raw" || ev["text"] != "hello sio" {
		t.Fatalf("said packet %q", pkt)
	}
	// Socket.IO → raw, two packets in one POST, with pass-through fields
	// and a positional form.
	p.post("421[\"say\",{\"room\":\"#mix\",\"text\":\"hello raw\",\"seq\":3}]\x1e422[\"dm\",\"raw\",\"psst\"]")
	m := readChat(t, raw, "said", "sio1")
	if m["text"] != "hello raw" || m["seq"] != float64(3) {
		t.Fatalf("raw got %v", m)
	}
	if m := readChat(t, raw, "dm", "sio1"); m["text"] != "psst" {
		t.Fatalf("raw got dm %v", m)
	}
	p.await(`431[{"ok":true}]`)
	p.await(`432[{"ok":true}]`)
	// An error becomes a failed ack; an unknown event too.
	p.post(`423["leave","#elsewhere"]`)
	if pkt := p.await(`433`); !strings.Contains(pkt, `"ok":false,"code":"not_in_room"`) {
		t.Fatalf("leave ack %q", pkt)
	}
	p.post(`424["fly",1]`)
	if pkt := p.await(`434`); !strings.Contains(pkt, `"code":"unknown_event"`) {
		t.Fatalf("unknown event ack %q", pkt)
	}
	p.post(`425["echo",1,{"a":"b"}]`)
	if pkt := p.await(`435`); pkt != `435[1,{"a":"b"}]` {
		t.Fatalf("echo ack %q", pkt)
	}
	// Leaving the namespace leaves the rooms.
	p.post(`41`)
	if m := readChat(t, raw, "presence", "sio1"); m["event"] != "leave" {
		t.Fatalf("raw got %v", m)
	}
}

func TestSocketIOUpgrade(t *testing.T) {
	s := startTest(t, nil)
	raw := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "raw", "#up")
	p := openPolling(t, s)
	p.post(`40`)
	p.await(`40{"sid"`)
	welcome := p.await(`42["welcome"`)
	nick, _ := eventArg(t, welcome)["name"].(string)
	if len(nick) != 20 {
		t.Fatalf("welcome %q: want the socket id as nickname", welcome)
	}
	p.post(`420["join","#up"]`)
	p.await(`430`)

	// A GET parks; the probe releases it with a noop.
	polled := make(chan []string, 1)
	go func() { polled <- p.poll() }()
	time.Sleep(50 * time.Millisecond)
	wsURL := "ws://" + s.Addr().String() + "/socket.io/?EIO=4&transport=websocket&sid=" + p.sid
	c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.ReadMessage(); err != nil || string(b) != "3probe" {
		t.Fatalf("probe answer %q, %v", b, err)
	}
	select {
	case got := <-polled:
		if len(got) != 1 || got[0] != "6" {
			t.Fatalf("parked poll answered %q, want a noop", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parked poll not released by the probe")
	}
	// Something for the session between the probe and the upgrade stays
	// queued and comes out on the WebSocket.
	if err := raw.WriteJSON(map[string]any{"op": "say", "room": "#up", "text": "during upgrade"}); err != nil {
		t.Fatal(err)
	}
	readChat(t, raw, "said", "raw")
	if err := c.WriteMessage(websocket.TextMessage, []byte("5")); err != nil {
		t.Fatal(err)
	}
	awaitWS := func(prefix string) string {
		t.Helper()
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(string(b), prefix) {
				return string(b)
			}
		}
	}
	if pkt := awaitWS(`42["said"`); !strings.Contains(pkt, "during upgrade") {
		t.Fatalf("queued said %q", pkt)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`421["say",{"room":"#up","text":"over ws"}]`)); err != nil {
		t.Fatal(err)
	}
	if m := readChat(t, raw, "said", nick); m["text"] != "over ws" {
		t.Fatalf("raw got %v", m)
	}
	awaitWS(`431[{"ok":true}]`)
	// Polling is over for this session.
	if code, body := httpDo(t, p.hc, "GET", p.url(), ""); code != 400 || !strings.Contains(body, `"code":3`) {
		t.Fatalf("GET after upgrade: %d %q", code, body)
	}
	// The session ends with its WebSocket: the hub forgets the user.
	c.Close()
	if m := readChat(t, raw, "presence", nick); m["event"] != "leave" {
		t.Fatalf("raw got %v", m)
	}
}

func TestSocketIOWebSocketOnly(t *testing.T) {
	s := startTest(t, nil)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr().String()+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil || b[0] != '0' {
		t.Fatalf("open packet %q, %v", b, err)
	}
	if o, err := socketio.ParseOpen(b[1:]); err != nil || len(o.Upgrades) != 0 {
		t.Fatalf("open packet %q: %+v, %v", b, o, err)
	}
	for _, tc := range []struct{ send, want string }{
		{`40/admin,`, `44/admin,{"message":"Invalid namespace"}`},
		{`40{"name":"wsuser"}`, `40{"sid":"`},
		{``, `42["welcome",{"op":"welcome","name":"wsuser"}]`},
		{`427["rooms"]`, `42["rooms"`},
		{``, `437[{"ok":true}]`},
		{`428["nick",{"name":"bad name"}]`, `438[{"ok":false,"code":"bad_name"`},
		{`42["join"]`, `42["error",{"op":"error","code":"missing_field"`},
	} {
		if tc.send != "" {
			if err := c.WriteMessage(websocket.TextMessage, []byte(tc.send)); err != nil {
				t.Fatal(err)
			}
		}
		_, b, err := c.ReadMessage()
		if err != nil || !strings.HasPrefix(string(b), tc.want) {
			t.Fatalf("after %q: got %q (%v), want %q…", tc.send, b, err, tc.want)
		}
	}
	// A packet that is no Engine.IO packet ends the session.
	if err := c.WriteMessage(websocket.TextMessage, []byte("9garbage")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, 1000) {
		t.Fatalf("after garbage: %v, want close 1000", err)
	}
}

func TestSocketIOLimits(t *testing.T) {
	s := startTest(t, func(c *Config) {
		c.SocketIO.SessionsPerIP = 2
		c.SocketIO.MaxPayload = 64
		c.SocketIO.PollTimeout = 100 * time.Millisecond
		c.SocketIO.PingInterval = 200 * time.Millisecond
		c.SocketIO.PingTimeout = 200 * time.Millisecond
	})
	hc := &http.Client{Timeout: 10 * time.Second}
	base := sioBase(s)
	for _, tc := range []struct {
		method, url, body string
		code              int
		want              string
	}{
		{"GET", strings.Replace(base, "EIO=4", "EIO=3", 1), "", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", strings.Replace(base, "polling", "flash", 1), "", 400, `{"code":0,"message":"Transport unknown"}`},
		{"GET", base + "&sid=nope", "", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"PUT", base, "", 400, `{"code":2,"message":"Bad handshake method"}`},
	} {
		if code, body := httpDo(t, hc, tc.method, tc.url, tc.body); code != tc.code || body != tc.want {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.url, code, body, tc.code, tc.want)
		}
	}
	a := openPolling(t, s)
	b := openPolling(t, s)
	if code, body := httpDo(t, hc, "GET", base, ""); code != 429 || !strings.Contains(body, "sio-sessions-per-ip") {
		t.Fatalf("third session from one address: %d %q", code, body)
	}
	// Over maxPayload: 413, and the session is gone.
	if code, _ := httpDo(t, hc, "POST", a.url(), "40"+strings.Repeat(" ", 100)); code != 413 {
		t.Fatalf("large POST: %d, want 413", code)
	}
	if code, body := httpDo(t, hc, "GET", a.url(), ""); code != 400 || !strings.Contains(body, "Session ID unknown") {
		t.Fatalf("poll after the large POST: %d %q, want the session gone", code, body)
	}
	// A parked poll is answered within the poll timeout (a noop, or the ping).
	if got := b.poll(); len(got) != 1 || (got[0] != "6" && got[0] != "2") {
		t.Fatalf("parked poll answered %q", got)
	}
	// b never answers pings: the session is closed after the ping timeout.
	waitFor(t, "ping timeout", func() bool {
		code, body := httpDo(t, hc, "GET", b.url(), "")
		return code == 400 || body == "1"
	})
	if got := s.sio.Stats(); got.Sessions != 0 || got.PingTimeouts == 0 {
		t.Fatalf("stats %+v: want no session left and a ping timeout", got)
	}
	if v := metricValue(s, "wsbench_socketio_ping_timeouts_total"); v == "0" || v == "" {
		t.Fatalf("wsbench_socketio_ping_timeouts_total = %q", v)
	}
	// The per-address count is free again.
	openPolling(t, s)
}

func TestSocketIOShutdownAnswersParkedPoll(t *testing.T) {
	s := startTest(t, nil)
	p := openPolling(t, s)
	got := make(chan []string, 1)
	go func() { got <- p.poll() }()
	waitFor(t, "poll parked", func() bool { return s.sio.Stats().Parked == 1 })
	go func() { _ = s.Shutdown(t.Context()) }()
	select {
	case pk := <-got:
		if len(pk) != 1 || pk[0] != "1" {
			t.Fatalf("parked poll answered %q at shutdown, want the close packet", pk)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parked poll not answered at shutdown")
	}
}

// TestSocketIOOverTLS runs a polling session and its upgrade over the
// crypto/tls path (one goroutine per connection there, the same
// connection code).
func TestSocketIOOverTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startTest(t, func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	p := openPollingWith(t, s, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}})
	p.post(`40{"name":"tlsuser"}`)
	p.await(`42["welcome"`)
	polled := make(chan []string, 1)
	go func() { polled <- p.poll() }()
	time.Sleep(50 * time.Millisecond)
	d := websocket.Dialer{TLSClientConfig: tlsCfg}
	c, _, err := d.Dial(s.URL("/socket.io/?EIO=4&transport=websocket&sid="+p.sid), nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, step := range []struct{ send, want string }{{"2probe", "3probe"}, {"5", ""}, {`420["join","#tls"]`, `42["joined"`}} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(step.send)); err != nil {
			t.Fatal(err)
		}
		if step.want == "" {
			continue
		}
		if _, b, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(b), step.want) {
			t.Fatalf("after %q: %q, %v", step.send, b, err)
		}
	}
	if got := <-polled; len(got) != 1 || got[0] != "6" {
		t.Fatalf("parked poll answered %q, want a noop", got)
	}
}

// TestSocketIOSlowPollingSession: a polling session that stops asking
// keeps at most --outbound-limit of room chatter; the rest is dropped and
// counted, and its replies still arrive.
func TestSocketIOSlowPollingSession(t *testing.T) {
	s := startTest(t, func(c *Config) { c.SocketIO.OutboundLimit = 1024 })
	raw := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "raw", "#slow")
	p := openPolling(t, s)
	p.post(`40{"name":"slowpoke"}`)
	p.await(`42["welcome"`)
	p.post(`420["join","#slow"]`)
	p.await(`430[{"ok":true}]`)
	for i := 0; i < 100; i++ {
		if err := raw.WriteJSON(map[string]any{"op": "say", "room": "#slow", "text": strings.Repeat("x", 100)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		readChat(t, raw, "said", "raw")
	}
	waitFor(t, "drops", func() bool { return s.sio.Stats().Drops > 0 })
	p.post(`421["rooms"]`) // a reply: queued past the limit
	pkts := p.poll()
	if body := strings.Join(pkts, "\x1e"); len(body) > 2*1024+512 {
		t.Fatalf("slow session got %d bytes: the queue was not bounded", len(body))
	}
	p.got = pkts
	p.await(`431[{"ok":true}]`)
	if v := metricValue(s, "wsbench_socketio_drops_total"); v == "0" || v == "" {
		t.Fatalf("wsbench_socketio_drops_total = %q", v)
	}
}

// TestSocketIOOverlappingPolls: a second GET while one waits is a broken
// client: 400, and the session ends (the waiting GET gets the close packet).
func TestSocketIOOverlappingPolls(t *testing.T) {
	s := startTest(t, nil)
	p := openPolling(t, s)
	first := make(chan []string, 1)
	go func() { first <- p.poll() }()
	waitFor(t, "first poll parked", func() bool { return s.sio.Stats().Parked == 1 })
	if code, body := httpDo(t, p.hc, "GET", p.url(), ""); code != 400 || !strings.Contains(body, `"code":3`) {
		t.Fatalf("second GET: %d %q", code, body)
	}
	if got := <-first; len(got) != 1 || got[0] != "1" {
		t.Fatalf("first GET answered %q, want the close packet", got)
	}
	if code, _ := httpDo(t, p.hc, "GET", p.url(), ""); code != 400 {
		t.Fatalf("GET after the session ended: %d", code)
	}
}
