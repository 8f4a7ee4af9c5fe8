package dialer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

func TestEchoSizes(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	c := dial(t, Options{}, wsURL(s))
	cases := []struct {
		name string
		op   ws.OpCode
		size int
	}{
		{name: "text 7-bit length", op: ws.OpText, size: 64},
		{name: "binary 16-bit length", op: ws.OpBinary, size: 200},
		{name: "text 16-bit over read buffer", op: ws.OpText, size: 5000},
		{name: "binary 64-bit length", op: ws.OpBinary, size: 70 << 10},
		{name: "empty text", op: ws.OpText, size: 0},
		{name: "small after large", op: ws.OpText, size: 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := bytes.Repeat([]byte("abcdefghij"), tc.size/10+1)[:tc.size]
			orig := append([]byte(nil), p...)
			var err error
			if tc.op == ws.OpText {
				err = c.WriteText(p)
			} else {
				err = c.WriteBinary(p)
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(p, orig) {
				t.Fatalf("write modified the caller's slice")
			}
			m, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.Op != tc.op || !bytes.Equal(m.Payload, p) {
				t.Fatalf("got op %v len %d, want op %v len %d", m.Op, len(m.Payload), tc.op, len(p))
			}
		})
	}
}

func TestFragmentedFromServer(t *testing.T) {
	want := bytes.Repeat([]byte("fragment "), 300) // 2700 bytes
	s := gorillaServer(t, websocket.Upgrader{WriteBufferSize: 256}, func(c *websocket.Conn, _ *http.Request) {
		w, err := c.NextWriter(websocket.TextMessage)
		if err != nil {
			return
		}
		for i := 0; i < len(want); i += 100 {
			_, _ = w.Write(want[i:min(i+100, len(want))])
		}
		_ = w.Close()
		_ = c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
		_, _, _ = c.ReadMessage()
	})
	tap := &recTap{}
	c := dial(t, Options{Tap: tap}, wsURL(s))
	m, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if m.Op != ws.OpText || !bytes.Equal(m.Payload, want) {
		t.Fatalf("got op %v %q…, want the %d-byte text", m.Op, m.Payload[:min(20, len(m.Payload))], len(want))
	}
	m, err = c.ReadMessage()
	if err != nil || m.Op != ws.OpBinary || !bytes.Equal(m.Payload, []byte{1, 2, 3}) {
		t.Fatalf("second message: %v %v %v", m.Op, m.Payload, err)
	}
	frames := 0
	for _, f := range tap.snapshot() {
		if f.dir == ServerToClient {
			frames++
		}
	}
	if frames < 3 {
		t.Fatalf("server sent %d frames; the test needs a fragmented message", frames)
	}
}

func TestServerPingAnswered(t *testing.T) {
	got := make(chan string, 1)
	s := gorillaServer(t, websocket.Upgrader{}, func(c *websocket.Conn, _ *http.Request) {
		c.SetPongHandler(func(p string) error {
			got <- p
			return c.WriteMessage(websocket.TextMessage, []byte("after pong"))
		})
		_ = c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	c := dial(t, Options{}, wsURL(s))
	m, err := c.ReadMessage() // answers the ping inside, returns the text
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != "after pong" {
		t.Fatalf("got %q", m.Payload)
	}
	if p := <-got; p != "are you there" {
		t.Fatalf("server got pong %q", p)
	}
}

func TestClientPingReturnsPong(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	c := dial(t, Options{}, wsURL(s))
	if err := c.Ping([]byte("rtt-1")); err != nil {
		t.Fatal(err)
	}
	m, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if m.Op != ws.OpPong || string(m.Payload) != "rtt-1" {
		t.Fatalf("got %v %q, want pong rtt-1", m.Op, m.Payload)
	}
	if err := c.Ping(make([]byte, 126)); err == nil {
		t.Fatal("126-byte ping accepted")
	}
}

func TestCloseFromServer(t *testing.T) {
	echoed := make(chan error, 1)
	s := gorillaServer(t, websocket.Upgrader{}, func(c *websocket.Conn, _ *http.Request) {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye now"), time.Now().Add(time.Second))
		_, _, err := c.ReadMessage()
		echoed <- err
	})
	c := dial(t, Options{}, wsURL(s))
	_, err := c.ReadMessage()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "bye now" {
		t.Fatalf("got %v, want CloseError 4001 bye now", err)
	}
	if k := Kind(err); k != KindClosed {
		t.Fatalf("Kind = %s", k)
	}
	var gce *websocket.CloseError
	if err := <-echoed; !errors.As(err, &gce) || gce.Code != 4001 {
		t.Fatalf("server got %v, want our echo of 4001", err)
	}
	if _, err2 := c.ReadMessage(); err2 != err {
		t.Fatalf("second read: %v, want the same CloseError", err2)
	}
	if err := c.WriteText([]byte("late")); !errors.Is(err, ErrCloseSent) || Kind(err) != KindClosed {
		t.Fatalf("write after close: %v", err)
	}
}

func TestCloseFromClient(t *testing.T) {
	got := make(chan error, 1)
	s := gorillaServer(t, websocket.Upgrader{}, func(c *websocket.Conn, _ *http.Request) {
		_, _, err := c.ReadMessage() // gorilla answers the close with 1000
		got <- err
	})
	c := dial(t, Options{}, wsURL(s))
	if err := c.SendClose(1000, "done here"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendClose(1001, "again"); err != nil {
		t.Fatalf("second SendClose: %v", err)
	}
	var gce *websocket.CloseError
	if err := <-got; !errors.As(err, &gce) || gce.Code != 1000 || gce.Text != "done here" {
		t.Fatalf("server got %v", err)
	}
	_, err := c.ReadMessage()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("got %v, want the server's close 1000", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestMessagesRightAfterUpgrade(t *testing.T) {
	// Two frames in the very write that carries the 101 response, as a
	// server pushing history would do.
	extra := append(frame(0x81, []byte(`{"op":"welcome"}`)), frame(0x81, []byte(`{"op":"history"}`))...)
	url := rawServer(t, extra, func(nc net.Conn, _ *bufio.Reader) {
		_, _ = nc.Write(frame(0x81, []byte("later")))
		time.Sleep(100 * time.Millisecond)
	})
	c := dial(t, Options{}, url)
	for _, want := range []string{`{"op":"welcome"}`, `{"op":"history"}`, "later"} {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("want %s: %v", want, err)
		}
		if string(m.Payload) != want {
			t.Fatalf("got %q, want %q", m.Payload, want)
		}
	}
}

func TestGorillaWritesImmediately(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, func(c *websocket.Conn, _ *http.Request) {
		_ = c.WriteMessage(websocket.TextMessage, []byte("welcome"))
		_, _, _ = c.ReadMessage()
	})
	c := dial(t, Options{}, wsURL(s))
	m, err := c.ReadMessage()
	if err != nil || string(m.Payload) != "welcome" {
		t.Fatalf("got %q %v", m.Payload, err)
	}
}

func TestSubprotocolAndHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	s := gorillaServer(t, websocket.Upgrader{Subprotocols: []string{"chat.v2"}}, func(c *websocket.Conn, r *http.Request) {
		seen <- r.Header.Clone()
		_, _, _ = c.ReadMessage()
	})
	o := Options{
		Subprotocols: []string{"chat.v1", "chat.v2"},
		Header:       http.Header{"X-Run": {"run-42"}},
	}
	c, _, err := NewDialer(o).DialHeader(context.Background(), wsURL(s), http.Header{"Authorization": {"Bearer vu-7"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Subprotocol() != "chat.v2" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	h := <-seen
	if h.Get("X-Run") != "run-42" || h.Get("Authorization") != "Bearer vu-7" {
		t.Fatalf("server saw headers %v", h)
	}
}

func TestHandshakeRefused403(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	})
	_, tm, err := NewDialer(Options{}).Dial(context.Background(), wsURL(s))
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != 403 || he.Reason != "Forbidden" {
		t.Fatalf("got %v, want HandshakeError 403 Forbidden", err)
	}
	if Kind(err) != KindHandshake {
		t.Fatalf("Kind = %s", Kind(err))
	}
	if tm.Connect <= 0 || tm.Handshake <= 0 {
		t.Fatalf("timings %+v", tm)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, _, err = NewDialer(Options{}).Dial(context.Background(), "ws://"+addr+"/")
	if Kind(err) != KindRefused {
		t.Fatalf("got %v (kind %s), want refused", err, Kind(err))
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %q does not name the target", err)
	}
}

// A source address this machine does not have cannot be bound: the dial
// fails as addr_unavailable, before any packet reaches the target.
func TestSourceAddrUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	src, err := ParseSources("192.0.2.7") // TEST-NET-1: never a local address
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = NewDialer(Options{Sources: src}).Dial(context.Background(), "ws://"+ln.Addr().String()+"/")
	if Kind(err) != KindAddr {
		t.Fatalf("got %v (kind %s), want %s", err, Kind(err), KindAddr)
	}
}

func TestHandshakeTimeoutAndCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and stay silent
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	url := "ws://" + ln.Addr().String() + "/"
	_, tm, err := NewDialer(Options{HandshakeTimeout: 150 * time.Millisecond}).Dial(context.Background(), url)
	if Kind(err) != KindTimeout {
		t.Fatalf("got %v (kind %s), want timeout", err, Kind(err))
	}
	if tm.Handshake < 150*time.Millisecond {
		t.Fatalf("handshake timing %v shorter than the timeout", tm.Handshake)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, _, err = NewDialer(Options{}).Dial(ctx, url)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"http//x", "ftp://127.0.0.1/", "ws:///path"} {
		if _, _, err := NewDialer(Options{}).Dial(context.Background(), u); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

func TestSourceAddress(t *testing.T) {
	seen := make(chan string, 1)
	s := gorillaServer(t, websocket.Upgrader{}, func(c *websocket.Conn, r *http.Request) {
		seen <- r.RemoteAddr
		_, _, _ = c.ReadMessage()
	})
	src, err := ParseSources("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, Options{Sources: src}, wsURL(s))
	host, _, _ := net.SplitHostPort(<-seen)
	if host != "127.0.0.2" {
		t.Fatalf("server saw %s, want 127.0.0.2", host)
	}
	if h, _, _ := net.SplitHostPort(c.LocalAddr().String()); h != "127.0.0.2" {
		t.Fatalf("local address %s", c.LocalAddr())
	}
	// The source was bound without reserving a port (IP_BIND_ADDRESS_NO_PORT):
	// the port was picked at connect for the 4-tuple.
	rc, err := c.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	_ = rc.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
	})
	if gerr != nil || v != 1 {
		t.Errorf("IP_BIND_ADDRESS_NO_PORT = %d (%v), want 1", v, gerr)
	}
}

func TestReadTimeoutIsResumable(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 5000) // larger than the read buffer
	small := frame(0x81, []byte("hello resumable"))
	bigF := frame(0x82, big)
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		_, _ = nc.Write(small[:5])
		time.Sleep(150 * time.Millisecond)
		_, _ = nc.Write(small[5:])
		_, _ = nc.Write(bigF[:3000])
		time.Sleep(150 * time.Millisecond)
		_, _ = nc.Write(bigF[3000:])
		time.Sleep(100 * time.Millisecond)
	})
	c := dial(t, Options{}, url)
	for _, want := range [][]byte{[]byte("hello resumable"), big} {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.ReadMessage()
		if Kind(err) != KindTimeout {
			t.Fatalf("got %v, want a timeout mid-frame", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Payload, want) {
			t.Fatalf("got %d bytes, want %d", len(m.Payload), len(want))
		}
	}
}

// TestConcurrentWritersAndPings has several goroutines writing while the
// reader answers the server's pings (run with -race).
func TestConcurrentWritersAndPings(t *testing.T) {
	pongs := make(chan struct{}, 100)
	s := gorillaServer(t, websocket.Upgrader{}, func(c *websocket.Conn, r *http.Request) {
		c.SetPongHandler(func(string) error { pongs <- struct{}{}; return nil })
		// One ping ahead of every echo, so the client meets it while it is
		// still reading even if the echoes are quicker than the ping timer.
		if err := c.WriteControl(websocket.PingMessage, []byte("first"), time.Now().Add(time.Second)); err != nil {
			return
		}
		var mu sync.Mutex
		done := make(chan struct{})
		defer close(done)
		go func() {
			for range 20 {
				select {
				case <-done:
					return
				case <-time.After(2 * time.Millisecond):
				}
				mu.Lock()
				_ = c.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
				mu.Unlock()
			}
		}()
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			mu.Lock()
			err = c.WriteMessage(op, p)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	c := dial(t, Options{}, wsURL(s))
	const writers, each = 4, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := []byte(fmt.Sprintf("writer %d says hello", w))
			for range each {
				if err := c.WriteText(msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	got := 0
	for got < writers*each {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		if !strings.HasPrefix(string(m.Payload), "writer ") {
			t.Fatalf("garbled message %q", m.Payload)
		}
		got++
	}
	wg.Wait()
	select {
	case <-pongs:
	case <-time.After(5 * time.Second):
		t.Fatal("no pong reached the server")
	}
}

// TestRecvBuffer: Options.RecvBuffer reaches the socket before connect
// (Linux reports twice the value set, for its bookkeeping); without it the
// kernel's default (tcp_rmem, far larger) applies.
func TestRecvBuffer(t *testing.T) {
	srv := gorillaServer(t, websocket.Upgrader{}, echo)
	rcvbuf := func(c *Conn) int {
		t.Helper()
		sc, err := c.nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var gerr error
		if err := sc.Control(func(fd uintptr) {
			v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		return v
	}
	small := dial(t, Options{RecvBuffer: 8192}, wsURL(srv))
	if got := rcvbuf(small); got < 8192 || got > 2*8192 {
		t.Errorf("SO_RCVBUF with RecvBuffer 8192 = %d, want 8192..16384", got)
	}
	if err := small.WriteText([]byte("still works")); err != nil {
		t.Fatal(err)
	}
	if m, err := small.ReadMessage(); err != nil || string(m.Payload) != "still works" {
		t.Fatalf("echo over a small buffer: %q, %v", m.Payload, err)
	}
	def := dial(t, Options{}, wsURL(srv))
	if got := rcvbuf(def); got <= 2*8192 {
		t.Errorf("SO_RCVBUF without RecvBuffer = %d: the option leaked", got)
	}
}

// TestNoKeepAlive: a dialed connection sends no TCP keepalive probes (Go's
// net.Dialer turns them on by default), with and without a source address.
func TestNoKeepAlive(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	src, err := ParseSources("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{}, {Sources: src}} {
		c := dial(t, o, wsURL(s))
		rc, err := c.nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var on int
		var serr error
		if err := rc.Control(func(fd uintptr) {
			on, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		}); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		if on != 0 {
			t.Errorf("sources %v: SO_KEEPALIVE is on", o.Sources != nil)
		}
	}
}
