package target

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestTLSSilentClientWaits: a TCP client that never starts the TLS
// handshake is closed at the handshake timeout, and waiting for it costs
// the read loop one wakeup, not a spin of thousands of failed reads.
func TestTLSSilentClientWaits(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startTest(t, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.HandshakeTimeout = 300 * time.Millisecond
	})
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("silent TLS client not closed at the handshake timeout")
	}
	waitFor(t, "connection released", func() bool { return s.m.connsCurrent.Load() == 0 })
	if n := s.tls.wakeups.Load(); n > 2 {
		t.Errorf("read loop woke %d times for one silent client, want 1", n)
	}
	if v := metricValue(s, `wsbench_upgrade_failures_total{reason="timeout"}`); v != "1" {
		t.Errorf("handshake timeouts = %q, want 1", v)
	}

	// A client that finishes TLS but not the HTTP upgrade is timed out too.
	before := s.tls.wakeups.Load()
	tc, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	_, _ = tc.Write([]byte("GET /chat HTTP/1.1\r\n"))
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("unfinished upgrade over TLS: %v, want EOF", err)
	}
	// Heartbeats every sweep interval (75 ms here), not a spin.
	if n := s.tls.wakeups.Load() - before; n > 50 {
		t.Errorf("read loop woke %d times in one 300 ms handshake timeout", n)
	}
	if v := metricValue(s, `wsbench_upgrade_failures_total{reason="timeout"}`); v != "2" {
		t.Errorf("handshake timeouts = %q, want 2", v)
	}
}

// TestTLSHalfOpenPerIP: the per-address limit on connections in the
// handshake holds on the TLS path too (refused sockets are closed unanswered).
func TestTLSHalfOpenPerIP(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startTest(t, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.HandshakesPerIP = 2
		c.HandshakeTimeout = time.Minute
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var silent []net.Conn
	for range 3 {
		nc, err := d.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		silent = append(silent, nc)
	}
	waitFor(t, "2 pending, 1 refused", func() bool {
		return metricValue(s, "wsbench_handshakes_pending") == "2" &&
			metricValue(s, `wsbench_upgrade_failures_total{reason="handshakes_per_ip"}`) == "1"
	})
	tc, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("a client from another address: %v", err)
	}
	tc.Close()
	for _, nc := range silent {
		nc.Close()
	}
	waitFor(t, "no handshakes pending", func() bool { return metricValue(s, "wsbench_handshakes_pending") == "0" })
}

// TestTLSSlowReaderSeesItsClose is TestSlowReaderSeesItsClose over wss://:
// crypto/tls cannot write after a write timed out, so slowness is judged by
// how long the queue stays over the limit, never by a write deadline, and
// the 1008 close frame still reaches a client that reads late.
func TestTLSSlowReaderSeesItsClose(t *testing.T) { testSlowReaderSeesItsClose(t, true) }

// TestTLSHeartbeat: the sweeper pings a silent wss:// connection and closes
// it with 1001 at the idle timeout, as the event loop's sweep does.
func TestTLSHeartbeat(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startTest(t, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.PingInterval = 100 * time.Millisecond
		c.IdleTimeout = 400 * time.Millisecond
	})
	rc := upgradeTLS(t, s, pool, "/echo")
	h, _, err := rc.readFrame()
	if err != nil || h.OpCode != ws.OpPing {
		t.Fatalf("first frame %v (%v), want a ping", h.OpCode, err)
	}
	if code := rc.expectClose(); code != 1001 {
		t.Fatalf("closed with %d, want 1001 (idle timeout)", code)
	}
	if _, err := rc.br.ReadByte(); err == nil {
		t.Fatal("data after the close frame")
	}
	waitFor(t, "connection released", func() bool { return s.m.connsCurrent.Load() == 0 })
}

// TestTLSStalledPeerReleased: a wss:// client that floods /echo and never
// reads leaves its writer blocked in a socket write that has no deadline;
// once it is cut and the close timeout passes, the socket is closed under
// that write and the connection and every queued byte are released.
func TestTLSStalledPeerReleased(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startTest(t, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.OutboundLimit = 64 << 10
		c.SlowTimeout = 200 * time.Millisecond
		c.CloseTimeout = 300 * time.Millisecond
		c.PingInterval, c.IdleTimeout = 0, 0
	})
	// A tiny receive window: the server's writer blocks at once.
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := tls.DialWithDialer(&nd, "tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	_ = rc.nc.SetDeadline(time.Now().Add(30 * time.Second))
	rc.write([]byte(upgradeRequest("/echo")))
	if r := rc.response(); r.StatusCode != 101 {
		t.Fatal(r.Status)
	}
	flood := clientFrame(true, ws.OpBinary, make([]byte, 64<<10))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := rc.nc.Write(flood); err != nil {
				return // the server closed the socket
			}
		}
	}()
	waitFor(t, "the non-reader cut off", func() bool { return s.m.slowDisconnect.Load() == 1 })
	waitFor(t, "connection released", func() bool { return s.m.connsCurrent.Load() == 0 })
	<-done
	if v := metricValue(s, "wsbench_outbound_queued_bytes"); v != "0" {
		t.Fatalf("wsbench_outbound_queued_bytes = %s after the client was released, want 0", v)
	}
	if n := len(s.tls.snapshot(nil)); n != 0 {
		t.Fatalf("%d TLS connections still held", n)
	}
}
