package dialer

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// headServer answers every upgrade request with head, then writes chunks
// made by more until the client goes away (more nil: nothing more).
func headServer(t *testing.T, head string, more func(i int) string) string {
	t.Helper()
	return headServerFunc(t, func(nc net.Conn) {
		if _, err := nc.Write([]byte(head)); err != nil || more == nil {
			return
		}
		for i := 0; ; i++ {
			if _, err := nc.Write([]byte(more(i))); err != nil {
				return
			}
		}
	})
}

// headServerFunc reads each upgrade request and hands the connection to
// answer.
func headServerFunc(t *testing.T, answer func(net.Conn)) string {
	t.Helper()
	return upgradeServer(t, func(nc net.Conn, _ *bufio.Reader, _ *http.Request) { answer(nc) })
}

// countConn counts the bytes read from the socket.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// An upgrade response that never ends is cut after MaxResponseHead (plus
// one read buffer) read from the socket, whatever part of it is endless.
func TestResponseHeadCapped(t *testing.T) {
	line := strings.Repeat("a", 4096)
	headers := func(i int) string { return "X-Filler-" + string(rune('a'+i%26)) + ": v\r\n" }
	for _, tt := range []struct {
		name, head string
		more       func(int) string
		want       string
		status     int
	}{
		{"101 endless header line", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Endless: ", func(int) string { return line },
			"bad websocket upgrade response: response head larger than 64 KiB", 101},
		{"101 endless headers", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", headers,
			"bad websocket upgrade response: response head larger than 64 KiB", 101},
		{"400 endless headers", "HTTP/1.1 400 Bad Request\r\n", headers,
			"websocket upgrade refused: HTTP 400 Bad Request: response head larger than 64 KiB", 400},
		{"400 endless header line", "HTTP/1.1 400 Bad Request\r\nX-Endless: ", func(int) string { return line },
			"websocket upgrade refused: HTTP 400 Bad Request: response head larger than 64 KiB", 400},
		{"endless status line", "HTTP/1.1 200 ", func(int) string { return line },
			"websocket upgrade failed: response head larger than 64 KiB", 0},
		{"endless 101 status line", "HTTP/1.1 101 ", func(int) string { return line },
			"bad websocket upgrade response: response head larger than 64 KiB", 101},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := headServer(t, tt.head, tt.more)
			var read atomic.Int64
			tap := &recTap{}
			d := NewDialer(Options{Tap: tap, WrapConn: func(nc net.Conn) net.Conn { return countConn{nc, &read} }})
			_, _, err := d.Dial(context.Background(), url)
			var he *HandshakeError
			if !errors.As(err, &he) || !errors.Is(err, ErrResponseHeadTooLarge) {
				t.Fatalf("err = %v, want a HandshakeError for a head over the limit", err)
			}
			if he.Status != tt.status || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("status %d, err %q; want status %d and an error ending in %q", he.Status, err, tt.status, tt.want)
			}
			if Kind(err) != KindHandshake {
				t.Errorf("Kind = %s, want handshake", Kind(err))
			}
			if n, most := read.Load(), int64(MaxResponseHead+handshakeReadBuffer); n > most || n < MaxResponseHead {
				t.Errorf("read %d bytes of the response, want between %d and %d", n, MaxResponseHead, most)
			}
			tap.mu.Lock()
			defer tap.mu.Unlock()
			if len(tap.rsp) == 0 || len(tap.rsp) > MaxResponseHead {
				t.Errorf("the Tap got %d bytes of response, want 1 to %d", len(tap.rsp), MaxResponseHead)
			}
		})
	}
}

// A head just under the limit, with frames after it, still upgrades.
func TestResponseHeadNearLimit(t *testing.T) {
	pad := strings.Repeat("p", MaxResponseHead-1024)
	url := rawServerHeader(t, "X-Pad: "+pad+"\r\n", frame(0x81, []byte("welcome")))
	c := dial(t, Options{}, url)
	m, err := c.ReadMessage()
	if err != nil || string(m.Payload) != "welcome" {
		t.Fatalf("got %q %v, want the welcome frame sent after a %d-byte head", m.Payload, err, len(pad))
	}
}

// Responses that are not WebSocket upgrades say what they were.
func TestNotAnUpgradeResponse(t *testing.T) {
	for _, tt := range []struct {
		name, resp, want string
		status           int
	}{
		{"HTTP/1.0 page", "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 21\r\n\r\n<html>a page</html>\r\n",
			"websocket upgrade refused: HTTP 200 OK: <html>a page</html>", 200},
		{"HTTP/1.1 page", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			"websocket upgrade refused: HTTP 200 OK: hello", 200},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n",
			`websocket upgrade failed: not an HTTP response: it starts with "SSH-2.0-OpenSSH_9.6\r\n"`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := headServer(t, tt.resp, nil)
			_, _, err := NewDialer(Options{}).Dial(context.Background(), url)
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tt.status || !strings.HasSuffix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a HandshakeError with status %d ending in %q", err, tt.status, tt.want)
			}
		})
	}
}

// The guard keeps nothing of a 101 and the start of anything else, however
// the bytes are split between reads.
func TestHeadGuardKeeps(t *testing.T) {
	for _, tt := range []struct {
		resp   string
		is101  bool
		status int
	}{
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n", true, 0},
		{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, 200},
		{"HTTP/1.1 10", false, 0},
	} {
		g := &headGuard{}
		for i := range len(tt.resp) {
			g.keep([]byte(tt.resp[i : i+1]))
		}
		rf, _ := g.notUpgrade()
		if g.is101 != tt.is101 || rf.status != tt.status || tt.is101 && g.kept != nil {
			t.Errorf("%q fed byte by byte: is101 %v, status %d, kept %q", tt.resp, g.is101, rf.status, g.kept)
		}
	}
}

// An HTTP/1.0 server writing its head and its body apart: the body is read
// for the error too.
func TestNotAnUpgradeBodyApart(t *testing.T) {
	url := headServerFunc(t, func(nc net.Conn) {
		if _, err := nc.Write([]byte("HTTP/1.0 404 File not found\r\nContent-Length: 9\r\n\r\n")); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
		_, _ = nc.Write([]byte("no such\r\n"))
	})
	_, _, err := NewDialer(Options{}).Dial(context.Background(), url)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != 404 || !strings.HasSuffix(err.Error(), "HTTP 404 File not found: no such") {
		t.Fatalf("err = %v, want the 404 with its body", err)
	}
}
