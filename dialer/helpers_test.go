package dialer

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsURL turns an httptest server URL into a ws:// one.
func wsURL(s *httptest.Server) string {
	return "ws" + strings.TrimPrefix(s.URL, "http")
}

// gorillaServer runs handler on each upgraded connection of a gorilla
// (third-party) server.
func gorillaServer(t *testing.T, up websocket.Upgrader, handler func(*websocket.Conn, *http.Request)) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		handler(c, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// echo is a gorilla echo handler.
func echo(c *websocket.Conn, _ *http.Request) {
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
	}
}

func dial(t *testing.T, o Options, url string) *Conn {
	t.Helper()
	c, _, err := NewDialer(o).Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

// rawServer accepts TCP connections on 127.0.0.1, completes the upgrade by
// hand and passes the connection to fn. extra is written in the same write
// as the 101 response.
func rawServer(t *testing.T, extra []byte, fn func(net.Conn, *bufio.Reader)) string {
	t.Helper()
	return rawServerWith(t, "", extra, fn)
}

// rawServerHeader is rawServer with header lines added to the 101 response
// and nothing to do after it.
func rawServerHeader(t *testing.T, header string, extra []byte) string {
	t.Helper()
	return rawServerWith(t, header, extra, func(net.Conn, *bufio.Reader) { time.Sleep(100 * time.Millisecond) })
}

func rawServerWith(t *testing.T, header string, extra []byte, fn func(net.Conn, *bufio.Reader)) string {
	t.Helper()
	return upgradeServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(h[:]) + "\r\n" + header + "\r\n"
		if _, err := nc.Write(append([]byte(resp), extra...)); err != nil {
			return
		}
		fn(nc, br)
	})
}

// upgradeServer accepts connections on a loopback port, reads each upgrade
// request and hands it to answer (the connection is closed after).
func upgradeServer(t *testing.T, answer func(nc net.Conn, br *bufio.Reader, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				answer(nc, br, req)
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// frame builds an unmasked server frame.
func frame(b0 byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, byte(n))
	case n <= 0xffff:
		out = append(out, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, payload...)
}

// readClientFrame reads one masked client frame and returns its opcode and
// unmasked payload.
func readClientFrame(r io.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint64(b[:]))
	}
	var key [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= key[i%4]
	}
	return h[0] & 0x0f, p, nil
}

// recTap records everything a Tap sees.
type recTap struct {
	mu       sync.Mutex
	req, rsp []byte
	frames   []tapFrame
}

type tapFrame struct {
	dir Direction
	raw []byte
}

func (r *recTap) Handshake(_ uint64, req, rsp []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.req, r.rsp = append([]byte(nil), req...), append([]byte(nil), rsp...)
}

func (r *recTap) Frame(_ uint64, dir Direction, _ time.Time, raw []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, tapFrame{dir, append([]byte(nil), raw...)})
}

func (r *recTap) snapshot() []tapFrame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tapFrame(nil), r.frames...)
}
