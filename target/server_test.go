package target

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

func TestHandshake(t *testing.T) {
	s := startTest(t, nil)
	big := "GET /chat HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 9000) + "\r\n\r\n"
	tests := []struct {
		name   string
		req    string
		status int
		header string // header that must be present, "Name: value"
		body   string
	}{
		{"ok", upgradeRequest("/chat"), 101, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", ""},
		{"ok echo with extra tokens", strings.Replace(upgradeRequest("/echo"), "Connection: Upgrade", "Connection: keep-alive, Upgrade", 1), 101, "", ""},
		{"post", strings.Replace(upgradeRequest("/chat"), "GET", "POST", 1), 405, "Allow: GET", "not allowed"},
		{"no host", strings.Replace(upgradeRequest("/chat"), "Host: x\r\n", "", 1), 400, "", "Host"},
		{"no upgrade header", strings.Replace(upgradeRequest("/chat"), "Upgrade: websocket\r\n", "", 1), 400, "", "Upgrade"},
		{"no connection token", strings.Replace(upgradeRequest("/chat"), "Connection: Upgrade", "Connection: keep-alive", 1), 400, "", "Connection"},
		{"bad version", strings.Replace(upgradeRequest("/chat"), "Version: 13", "Version: 8", 1), 426, "Sec-Websocket-Version: 13", "want 13"},
		{"missing version", strings.Replace(upgradeRequest("/chat"), "Sec-WebSocket-Version: 13\r\n", "", 1), 426, "Sec-Websocket-Version: 13", ""},
		{"missing key", strings.Replace(upgradeRequest("/chat"), "Sec-WebSocket-Key: "+testKey+"\r\n", "", 1), 400, "", "missing Sec-WebSocket-Key"},
		{"short key", strings.Replace(upgradeRequest("/chat"), testKey, "c2hvcnQ=", 1), 400, "", "bad Sec-WebSocket-Key"},
		{"too large", big, 431, "", "8 KiB"},
		{"malformed", "NONSENSE\r\n\r\n", 400, "", "malformed"},
		{"http/1.0", strings.Replace(upgradeRequest("/chat"), "HTTP/1.1", "HTTP/1.0", 1), 400, "", `unsupported protocol "HTTP/1.0", want HTTP/1.1`},
		{"http/1.Z", strings.Replace(upgradeRequest("/chat"), "HTTP/1.1", "HTTP/1.Z", 1), 400, "", `unsupported protocol "HTTP/1.Z"`},
		{"http/1.0 healthz", "GET /healthz HTTP/1.0\r\n\r\n", 400, "", "want HTTP/1.1"},
		{"nul in header value", strings.Replace(upgradeRequest("/chat"), "Host: x", "Host: x\x00y", 1), 400, "", `control byte '\x00' in header "Host"`},
		{"nul in unknown header", strings.Replace(upgradeRequest("/chat"), "Host: x", "Host: x\r\nX-A: \x00", 1), 400, "", `in header "X-A"`},
		{"bare cr in header", strings.Replace(upgradeRequest("/chat"), "Host: x", "Host: x\rX-B: y", 1), 400, "", `control byte '\r'`},
		{"tab in header value", strings.Replace(upgradeRequest("/chat"), "Host: x", "Host:\tx", 1), 101, "", ""},
		{"healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, "", "ok"},
		{"metrics", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, "", "wsbench_connections"},
		{"not found", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "", "not found"},
		{"unknown ws path", strings.Replace(upgradeRequest("/chat"), "/chat", "/x", 1), 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, s)
			rc.write([]byte(tt.req))
			resp := rc.response()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.header != "" {
				name, value, _ := strings.Cut(tt.header, ": ")
				if got := resp.Header.Get(name); got != value {
					t.Errorf("header %s = %q, want %q", name, got, value)
				}
			}
			if tt.status != 101 {
				body, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(body), tt.body) {
					t.Errorf("body %q lacks %q", body, tt.body)
				}
			}
		})
	}
	if v := metricValue(s, `wsbench_upgrade_failures_total{reason="version"}`); v != "2" {
		t.Errorf("version failures = %q, want 2", v)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	s := startTest(t, func(c *Config) { c.HandshakeTimeout = 100 * time.Millisecond })
	rc := dialRaw(t, s)
	rc.write([]byte("GET /chat HTTP/1.1\r\n")) // never finished
	if _, err := rc.br.ReadByte(); err == nil {
		t.Fatal("connection with an unfinished request was not closed")
	}
}

func TestPipelinedFrameAfterUpgrade(t *testing.T) {
	s := startTest(t, nil)
	rc := dialRaw(t, s)
	req := []byte(upgradeRequest("/echo"))
	req = append(req, clientFrame(true, ws.OpText, []byte("right behind"))...)
	rc.write(req)
	if resp := rc.response(); resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h, p, err := rc.readFrame()
	if err != nil || h.OpCode != ws.OpText || string(p) != "right behind" {
		t.Fatalf("got %v %q %v, want the pipelined text echoed", h.OpCode, p, err)
	}
}

func TestEchoGorilla(t *testing.T) {
	s := startTest(t, func(c *Config) { c.MaxMessage = 256 << 10 })
	d := websocket.Dialer{WriteBufferSize: 512} // small buffer: long messages go out fragmented
	c, _, err := d.Dial(s.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := []struct {
		typ int
		p   []byte
	}{
		{websocket.TextMessage, []byte("hello")},
		{websocket.BinaryMessage, []byte{0, 1, 2, 0xff}},
		{websocket.TextMessage, bytes.Repeat([]byte("fragmented é "), 2000)},
		{websocket.BinaryMessage, bytes.Repeat([]byte{7}, 100_000)},
		{websocket.TextMessage, []byte{}},
	}
	for _, m := range msgs {
		if err := c.WriteMessage(m.typ, m.p); err != nil {
			t.Fatal(err)
		}
		typ, p, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ != m.typ || !bytes.Equal(p, m.p) {
			t.Fatalf("echo of %d bytes type %d came back as %d bytes type %d", len(m.p), m.typ, len(p), typ)
		}
	}
	// Over the limit: 1 MiB against 256 KiB.
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, 1009) {
		t.Fatalf("want close 1009, got %v", err)
	}
}

func TestEchoRawFragmentsWithPingBetween(t *testing.T) {
	s := startTest(t, nil)
	rc := upgradeRaw(t, s, "/echo")
	var b []byte
	b = append(b, clientFrame(false, ws.OpText, []byte("he"))...)
	b = append(b, clientFrame(true, ws.OpPing, []byte("p"))...)
	b = append(b, clientFrame(false, ws.OpContinuation, []byte("ll"))...)
	b = append(b, clientFrame(true, ws.OpContinuation, []byte("o"))...)
	// Write byte by byte: frames split across reads must still parse.
	for i := range b {
		rc.write(b[i : i+1])
	}
	h, p, err := rc.readFrame()
	if err != nil || h.OpCode != ws.OpPong || string(p) != "p" {
		t.Fatalf("want pong p, got %v %q %v", h.OpCode, p, err)
	}
	h, p, err = rc.readFrame()
	if err != nil || h.OpCode != ws.OpText || string(p) != "hello" || !h.Fin {
		t.Fatalf("want text hello, got %v %q %v", h.OpCode, p, err)
	}
}

func TestCloseCodes(t *testing.T) {
	s := startTest(t, func(c *Config) { c.MaxMessage = 1000 })
	closeBody := func(code uint16, reason string) []byte {
		return append([]byte{byte(code >> 8), byte(code)}, reason...)
	}
	tests := []struct {
		name   string
		frames [][]byte
		code   uint16
	}{
		{"unmasked", [][]byte{rawFrame(true, 0, ws.OpText, false, []byte("x"))}, 1002},
		{"rsv1", [][]byte{rawFrame(true, 4, ws.OpText, true, []byte("x"))}, 1002},
		{"rsv3", [][]byte{rawFrame(true, 1, ws.OpBinary, true, []byte("x"))}, 1002},
		{"reserved data opcode", [][]byte{clientFrame(true, 3, []byte("x"))}, 1002},
		{"reserved control opcode", [][]byte{clientFrame(true, 0xb, nil)}, 1002},
		{"fragmented ping", [][]byte{clientFrame(false, ws.OpPing, []byte("x"))}, 1002},
		{"long ping", [][]byte{clientFrame(true, ws.OpPing, make([]byte, 126))}, 1002},
		{"continuation first", [][]byte{clientFrame(true, ws.OpContinuation, []byte("x"))}, 1002},
		{"text inside fragments", [][]byte{clientFrame(false, ws.OpText, []byte("a")), clientFrame(true, ws.OpText, []byte("b"))}, 1002},
		{"invalid utf8", [][]byte{clientFrame(true, ws.OpText, []byte{0xff, 0xfe})}, 1007},
		{"invalid utf8 across fragments", [][]byte{clientFrame(false, ws.OpText, []byte{0xe2, 0x82}), clientFrame(true, ws.OpContinuation, []byte{0x28})}, 1007},
		{"too big", [][]byte{clientFrame(true, ws.OpBinary, make([]byte, 1001))}, 1009},
		{"too big fragmented", [][]byte{clientFrame(false, ws.OpBinary, make([]byte, 600)), clientFrame(true, ws.OpContinuation, make([]byte, 600))}, 1009},
		{"close 1 byte", [][]byte{clientFrame(true, ws.OpClose, []byte{3})}, 1002},
		{"close code 999", [][]byte{clientFrame(true, ws.OpClose, closeBody(999, ""))}, 1002},
		{"close code 1005", [][]byte{clientFrame(true, ws.OpClose, closeBody(1005, ""))}, 1002},
		{"close code 1004", [][]byte{clientFrame(true, ws.OpClose, closeBody(1004, ""))}, 1002},
		{"close code 5000", [][]byte{clientFrame(true, ws.OpClose, closeBody(5000, ""))}, 1002},
		{"close code 2000", [][]byte{clientFrame(true, ws.OpClose, closeBody(2000, ""))}, 1002},
		{"close 1012 echoed", [][]byte{clientFrame(true, ws.OpClose, closeBody(1012, "restart"))}, 1012},
		{"close bad utf8 reason", [][]byte{clientFrame(true, ws.OpClose, closeBody(1000, "\xff"))}, 1007},
		{"close reason cut mid rune", [][]byte{clientFrame(true, ws.OpClose, closeBody(1000, "caf\xc3"))}, 1007},
		{"64-bit length with the top bit set", [][]byte{{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 'x'}}, 1002},
		{"64-bit length of 2^63-1", [][]byte{{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 'x'}}, 1009},
		{"close 1000 echoed", [][]byte{clientFrame(true, ws.OpClose, closeBody(1000, "bye"))}, 1000},
		{"close 4001 echoed", [][]byte{clientFrame(true, ws.OpClose, closeBody(4001, ""))}, 4001},
		{"close empty", [][]byte{clientFrame(true, ws.OpClose, nil)}, 1005},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := upgradeRaw(t, s, "/echo")
			for _, f := range tt.frames {
				rc.write(f)
			}
			if got := rc.expectClose(); got != tt.code {
				t.Fatalf("close code %d, want %d", got, tt.code)
			}
			if _, _, err := rc.readFrame(); err == nil {
				t.Fatal("connection still open after the close frame")
			}
		})
	}
	if v := metricValue(s, `wsbench_closes_total{code="1002",initiator="server"}`); v == "" {
		t.Error("closes by code not counted")
	}
	if v := metricValue(s, `wsbench_closes_total{code="other",initiator="client"}`); v != "1" {
		t.Errorf("close 4001 from a client counted as other = %q, want 1", v)
	}
}

// TestClosesByCodeBounded: however many private codes clients choose, they
// share one series on /metrics.
func TestClosesByCodeBounded(t *testing.T) {
	s := startTest(t, nil)
	for code := uint16(3990); code < 4010; code++ {
		rc := upgradeRaw(t, s, "/echo")
		rc.write(clientFrame(true, ws.OpClose, []byte{byte(code >> 8), byte(code)}))
		if got := rc.expectClose(); got != code {
			t.Fatalf("close %d echoed as %d", code, got)
		}
	}
	waitFor(t, "closes counted", func() bool {
		return metricValue(s, `wsbench_closes_total{code="other",initiator="client"}`) == "20"
	})
	if n := strings.Count(s.Metrics(), "wsbench_closes_total{"); n != 1 {
		t.Errorf("%d closes_total series for 20 private codes, want 1:\n%s", n, s.Metrics())
	}
}

func TestPingPong(t *testing.T) {
	s := startTest(t, nil)
	c, _, err := websocket.DefaultDialer.Dial(s.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pong := make(chan string, 1)
	c.SetPongHandler(func(d string) error { pong <- d; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go c.ReadMessage() //nolint:errcheck // drives the pong handler
	select {
	case d := <-pong:
		if d != "are you there" {
			t.Fatalf("pong payload %q", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}

func TestServerPingAndIdleClose(t *testing.T) {
	s := startTest(t, func(c *Config) {
		c.PingInterval = 100 * time.Millisecond
		c.IdleTimeout = 500 * time.Millisecond
	})
	// gorilla answers pings, which keeps the connection alive past the idle timeout.
	g, _, err := websocket.DefaultDialer.Dial(s.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	pings := make(chan struct{}, 100)
	g.SetPingHandler(func(d string) error {
		pings <- struct{}{}
		return g.WriteControl(websocket.PongMessage, []byte(d), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := g.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// A raw client that never answers is pinged, then closed.
	rc := upgradeRaw(t, s, "/echo")
	start := time.Now()
	h, _, err := rc.readFrame()
	if err != nil || h.OpCode != ws.OpPing {
		t.Fatalf("want a ping, got %v %v", h.OpCode, err)
	}
	if code := rc.expectClose(); code != 1001 {
		t.Fatalf("idle close code %d, want 1001", code)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", el)
	}
	for i := 0; i < 3; i++ {
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("gorilla client not pinged repeatedly")
		}
	}
	// Still alive: it answered every ping.
	if err := g.WriteMessage(websocket.TextMessage, []byte("alive")); err != nil {
		t.Fatalf("responsive client was closed: %v", err)
	}
}

func TestHealthzAndMetricsHTTP(t *testing.T) {
	s := startTest(t, nil)
	base := "http://" + s.Addr().String()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	c, _, err := websocket.DefaultDialer.Dial(s.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.TextMessage, []byte("x"))
	_, _, _ = c.ReadMessage()
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"wsbench_connections 2", // the websocket and this request
		"wsbench_upgrades_total 1",
		"wsbench_messages_in_total 1",
		"wsbench_bytes_in_total 1",
		"# TYPE wsbench_deliveries_total counter",
		"wsbench_drops_total 0",
		"wsbench_slow_consumer_disconnects_total 0",
		"wsbench_outbound_queued_bytes 0",
		"wsbench_handshakes_pending 0", // this request was answered: no longer pending
		"wsbench_rooms 0",
		"wsbench_history_messages 0",
		"# TYPE wsbench_closes_total counter",
	} {
		if !strings.Contains(string(body), want+"\n") && !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestGracefulShutdownSends1001(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Loops = 2
	cfg.CloseTimeout = 20 * time.Second
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*websocket.Conn
	for _, p := range []string{"/echo", "/chat", "/echo"} {
		c, _, err := websocket.DefaultDialer.Dial(s.URL(p), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Shutdown(context.Background()) }()
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ReadMessage() // gorilla echoes the close frame
		if !websocket.IsCloseError(err, 1001) {
			t.Fatalf("want close 1001, got %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("shutdown took %v: it waited for the close timeout although every client answered", el)
	}
	if _, _, err := websocket.DefaultDialer.Dial(s.URL("/echo"), nil); err == nil {
		t.Fatal("server still accepts after shutdown")
	}
}

func TestMultipleServers(t *testing.T) {
	a := startTest(t, nil)
	b := startTest(t, nil)
	if a.Addr().String() == b.Addr().String() {
		t.Fatalf("two servers on %s", a.Addr())
	}
	for _, s := range []*Server{a, b} {
		c, _, err := websocket.DefaultDialer.Dial(s.URL("/echo"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(s.Addr().String()))
		_, p, err := c.ReadMessage()
		if err != nil || string(p) != s.Addr().String() {
			t.Fatalf("echo on %s: %q %v", s.Addr(), p, err)
		}
		c.Close()
	}
}

func TestMaxConns(t *testing.T) {
	s := startTest(t, func(c *Config) { c.MaxConns = 1 })
	c, _, err := websocket.DefaultDialer.Dial(s.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, resp, err := websocket.DefaultDialer.Dial(s.URL("/echo"), nil)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("second connection over --max-conns 1: %v %v", resp, err)
	}
}

// readAll drains a gorilla connection until it fails.
func drain(c *websocket.Conn, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}
