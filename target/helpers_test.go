package target

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// startTest starts a server on a free port and shuts it down after the test.
func startTest(t testing.TB, mod func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Loops = 2
	cfg.CloseTimeout = 500 * time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

func upgradeRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// rawConn is a hand-driven client connection for protocol violations.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, s *Server) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// upgradeRaw dials and completes the upgrade on path.
func upgradeRaw(t testing.TB, s *Server, path string) *rawConn {
	t.Helper()
	rc := dialRaw(t, s)
	rc.write([]byte(upgradeRequest(path)))
	resp := rc.response()
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade %s: status %d", path, resp.StatusCode)
	}
	return rc
}

// upgradeTLS dials a wss:// server (its certificate in pool) and completes
// the upgrade on path.
func upgradeTLS(t testing.TB, s *Server, pool *x509.CertPool, path string) *rawConn {
	t.Helper()
	nc, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial (TLS): %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	rc := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	rc.write([]byte(upgradeRequest(path)))
	if resp := rc.response(); resp.StatusCode != 101 {
		t.Fatalf("upgrade %s: status %d", path, resp.StatusCode)
	}
	return rc
}

func (rc *rawConn) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.nc.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawConn) response() *http.Response {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	return resp
}

// readFrame reads one server frame.
func (rc *rawConn) readFrame() (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(rc.br)
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(rc.br, p)
	return h, p, err
}

// expectClose reads frames until a close frame and returns its code.
func (rc *rawConn) expectClose() uint16 {
	rc.t.Helper()
	for {
		h, p, err := rc.readFrame()
		if err != nil {
			rc.t.Fatalf("want a close frame, got %v", err)
		}
		if h.OpCode == ws.OpClose {
			if len(p) < 2 {
				return 1005
			}
			return binary.BigEndian.Uint16(p)
		}
	}
}

// clientFrame encodes a masked client frame.
func clientFrame(fin bool, op ws.OpCode, p []byte) []byte {
	return rawFrame(fin, 0, op, true, p)
}

func rawFrame(fin bool, rsv byte, op ws.OpCode, masked bool, p []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	b0 := byte(op) | rsv<<4
	if fin {
		b0 |= 0x80
	}
	var out []byte
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch n := len(p); {
	case n <= 125:
		out = append(out, b0, mbit|byte(n))
	case n <= 0xffff:
		out = append(out, b0, mbit|126, byte(n>>8), byte(n))
	default:
		out = append(out, b0, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	q := append([]byte(nil), p...)
	if masked {
		out = append(out, mask[:]...)
		ws.Cipher(q, mask, 0)
	}
	return append(out, q...)
}

func metricValue(s *Server, series string) string {
	for _, line := range strings.Split(s.Metrics(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 5*time.Second, what, cond)
}

// waitWithin is waitFor with a limit of d.
func waitWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%v)", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
