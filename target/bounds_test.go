package target

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestRepliesToNonReaderAreBounded: a client that never reads while
// flooding /echo with 1 MiB messages, or with pings, is held to
// --outbound-limit like a slow room member: cut with 1008, and every queued
// byte is released once it is gone. Over wss:// the bound covers the TLS
// writer's transport buffer too.
func TestRepliesToNonReaderAreBounded(t *testing.T) {
	const limit = 64 << 10
	pings := make([]byte, 0, 500*131)
	for range 500 {
		pings = append(pings, clientFrame(true, ws.OpPing, bytes.Repeat([]byte{'p'}, 125))...)
	}
	for _, tc := range []struct {
		name  string
		flood []byte // written again and again, never reading
	}{
		{"echo 1 MiB", clientFrame(true, ws.OpBinary, make([]byte, 1<<20))},
		{"pings", pings},
	} {
		for _, useTLS := range []bool{false, true} {
			name := tc.name
			if useTLS {
				name = "wss " + name
			}
			t.Run(name, func(t *testing.T) {
				var pool *x509.CertPool
				s := startTest(t, func(c *Config) {
					c.OutboundLimit = limit
					c.SlowTimeout = time.Second
					c.CloseTimeout = 10 * time.Second // time for the test to read up to the close frame
					c.PingInterval, c.IdleTimeout = 0, 0
					if useTLS {
						c.TLSCert, c.TLSKey, pool = selfSigned(t, t.TempDir())
					}
				})
				heapBefore := liveHeap()
				var rc *rawConn
				if useTLS {
					rc = upgradeTLS(t, s, pool, "/echo")
				} else {
					rc = upgradeRaw(t, s, "/echo")
				}
				_ = rc.nc.SetDeadline(time.Now().Add(30 * time.Second))

				// The queue (and the TLS transport) may hold at most 4x the
				// limit plus the frame that crossed it; sampled while the
				// flood runs.
				var peak int64
				var wg sync.WaitGroup
				stop := make(chan struct{})
				wg.Add(2)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						var held int64
						if s.tls != nil {
							// The transport first: a move from the queue
							// between the two reads is missed, not counted twice.
							for _, c := range s.tls.snapshot(nil) {
								held += int64(c.buffered())
							}
						}
						peak = max(peak, held+s.m.outQueued.Load())
						time.Sleep(time.Millisecond)
					}
				}()
				var writeErr error
				go func() {
					defer wg.Done()
					for s.m.slowDisconnect.Load() == 0 {
						if _, err := rc.nc.Write(tc.flood); err != nil {
							writeErr = err
							return
						}
					}
				}()
				waitFor(t, "the non-reading client cut off", func() bool { return s.m.slowDisconnect.Load() == 1 })
				close(stop)
				wg.Wait()
				if writeErr != nil {
					t.Fatalf("flood write failed before the client was cut: %v", writeErr)
				}
				if bound := int64(4*limit + len(tc.flood) + 14); peak > bound {
					t.Errorf("queued bytes peaked at %d, over %d", peak, bound)
				}
				// Reading now yields what was already on its way, then 1008.
				if code := rc.expectClose(); code != 1008 {
					t.Fatalf("cut with close code %d, want 1008", code)
				}
				rc.write(clientFrame(true, ws.OpClose, []byte{0x03, 0xf0}))
				if _, _, err := rc.readFrame(); err == nil {
					t.Fatal("a frame after the close frame")
				}
				waitFor(t, "connection released", func() bool { return s.m.connsCurrent.Load() == 0 })
				if v := metricValue(s, "wsbench_outbound_queued_bytes"); v != "0" {
					t.Fatalf("wsbench_outbound_queued_bytes = %s after the client left, want 0", v)
				}
				// Nothing the flood made the server allocate is still held (the
				// client's own frame was allocated before the first reading).
				after := liveHeap()
				t.Logf("live heap %d KiB before, %d KiB after", heapBefore>>10, after>>10)
				if after > heapBefore+8<<20 {
					t.Errorf("live heap %d KiB after the client left, %d KiB before it came", after>>10, heapBefore>>10)
				}
				if v := metricValue(s, `wsbench_closes_total{code="1008",initiator="server"}`); v != "1" {
					t.Errorf("1008 closes = %q, want 1", v)
				}
			})
		}
	}
}

// TestSlowReaderSeesItsClose: a room member that stops reading is cut with
// 1008, and when it reads again it finds the close frame after the chatter
// that had already reached its socket — not a reset.
// TestTLSSlowReaderSeesItsClose runs the same over wss://.
func TestSlowReaderSeesItsClose(t *testing.T) { testSlowReaderSeesItsClose(t, false) }

func testSlowReaderSeesItsClose(t *testing.T, useTLS bool) {
	var pool *x509.CertPool
	s := startTest(t, func(c *Config) {
		c.OutboundLimit = 32 << 10
		c.SlowTimeout = 200 * time.Millisecond
		c.CloseTimeout = 10 * time.Second
		c.HistorySize = 0
		if useTLS {
			c.TLSCert, c.TLSKey, pool = selfSigned(t, t.TempDir())
		}
	})
	// A tiny receive window keeps the server's side full: the close frame
	// has to wait behind chatter the transport already holds.
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	dial := func(d *net.Dialer) *rawConn {
		t.Helper()
		nc, err := d.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		if useTLS {
			tc := tls.Client(nc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			if err := tc.Handshake(); err != nil {
				t.Fatalf("TLS handshake: %v", err)
			}
			nc = tc
		}
		rc := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
		_ = rc.nc.SetDeadline(time.Now().Add(30 * time.Second))
		rc.write([]byte(upgradeRequest("/chat")))
		if r := rc.response(); r.StatusCode != 101 {
			t.Fatal(r.Status)
		}
		return rc
	}
	slow := dial(&nd)
	slow.write(clientFrame(true, ws.OpText, []byte(`{"op":"nick","name":"slow"}`)))
	slow.write(clientFrame(true, ws.OpText, []byte(`{"op":"join","room":"r"}`)))
	talker := dial(&net.Dialer{})
	talker.write(clientFrame(true, ws.OpText, []byte(`{"op":"nick","name":"talker"}`)))
	talker.write(clientFrame(true, ws.OpText, []byte(`{"op":"join","room":"r"}`)))
	waitFor(t, "two members", func() bool { return s.hubStats().Members == 2 })

	// The talker reads its own echoes; the slow member reads nothing.
	go func() {
		for {
			if _, _, err := talker.readFrame(); err != nil {
				return
			}
		}
	}()
	text := bytes.Repeat([]byte{'x'}, 4000)
	for i := 0; s.m.slowDisconnect.Load() == 0; i++ {
		msg := `{"op":"say","room":"r","text":"` + string(text) + `","n":` + strconv.Itoa(i) + `}`
		if _, err := talker.nc.Write(clientFrame(true, ws.OpText, []byte(msg))); err != nil {
			t.Fatalf("talker: %v", err)
		}
		if i%8 == 7 {
			time.Sleep(2 * time.Millisecond)
		}
		if i > 200000 {
			t.Fatal("the slow member was never cut")
		}
	}
	// Read long after the cut: all chatter that made it, then the 1008.
	time.Sleep(2 * s.cfg.SlowTimeout)
	said := 0
	for {
		h, p, err := slow.readFrame()
		if err != nil {
			t.Fatalf("slow reader: %v after %d messages, want a 1008 close frame", err, said)
		}
		if h.OpCode == ws.OpClose {
			if len(p) < 2 || binary.BigEndian.Uint16(p) != 1008 || string(p[2:]) != "slow consumer" {
				t.Fatalf("close frame %q, want 1008 slow consumer", p)
			}
			break
		}
		said++
	}
	slow.write(clientFrame(true, ws.OpClose, []byte{0x03, 0xe8}))
	if _, err := slow.br.ReadByte(); err == nil {
		t.Fatal("data after the close frame")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server did not close after the close reply")
	}
	t.Logf("read %d messages before the close frame", said)
	waitFor(t, "slow member gone", func() bool { return s.hubStats().Members == 1 })
	if v := metricValue(s, "wsbench_slow_consumer_disconnects_total"); v != "1" {
		t.Errorf("slow consumer disconnects = %s, want 1", v)
	}
}

// TestHalfOpenPerIP: sockets that never send their request hold at most
// --max-handshakes-per-ip of --max-conns per source address, so other
// clients still get in.
func TestHalfOpenPerIP(t *testing.T) {
	s := startTest(t, func(c *Config) {
		c.MaxConns = 8
		c.HandshakesPerIP = 4
		c.HandshakeTimeout = time.Minute
	})
	// All of 127.0.0.0/8 is loopback on Linux: 127.0.0.2 is another host.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var silent []net.Conn
	for range 10 {
		nc, err := d.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatalf("dial from 127.0.0.2: %v", err)
		}
		defer nc.Close()
		silent = append(silent, nc)
	}
	waitFor(t, "4 pending and 6 refused", func() bool {
		return metricValue(s, "wsbench_handshakes_pending") == "4" &&
			metricValue(s, `wsbench_upgrade_failures_total{reason="handshakes_per_ip"}`) == "6"
	})
	// The refused sockets got a 429 and EOF; the held ones get nothing
	// (their reads end at the deadline).
	got := make([][]byte, len(silent))
	var wg sync.WaitGroup
	for i, nc := range silent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = nc.SetReadDeadline(time.Now().Add(time.Second))
			got[i], _ = io.ReadAll(nc)
		}()
	}
	wg.Wait()
	refused := 0
	for _, b := range got {
		if bytes.HasPrefix(b, []byte("HTTP/1.1 429 Too Many Requests\r\n")) && bytes.Contains(b, []byte("--max-handshakes-per-ip")) {
			refused++
		} else if len(b) > 0 {
			t.Errorf("silent socket got %q", b)
		}
	}
	if refused != 6 {
		t.Errorf("%d of 10 silent sockets refused with 429, want 6", refused)
	}
	// Everyone else still gets in, up to --max-conns.
	for range 4 {
		upgradeRaw(t, s, "/echo")
	}
	if v := metricValue(s, "wsbench_handshakes_pending"); v != "4" {
		t.Errorf("wsbench_handshakes_pending = %s with 4 silent sockets and 4 upgraded, want 4", v)
	}
	// The held sockets are still served once they speak.
	for _, nc := range silent {
		_, _ = nc.Write([]byte(upgradeRequest("/echo"))) // fails on the refused ones
	}
	// The pending count drops when a request is answered, just before the
	// upgrade is counted: wait for both.
	waitFor(t, "no handshakes pending and 8 upgrades (4 from each address)", func() bool {
		return metricValue(s, "wsbench_handshakes_pending") == "0" && metricValue(s, "wsbench_upgrades_total") == "8"
	})
}

// TestHalfOpenDefault: by default one address may hold a quarter of
// --max-conns in the handshake (TestChatThousandConnections shows that a
// burst of 1,000 dials from one host still gets in).
func TestHalfOpenDefault(t *testing.T) {
	for _, tc := range []struct{ maxConns, want int }{{8, 2}, {1, 1}, {20000, 5000}} {
		s := startTest(t, func(c *Config) { c.MaxConns = tc.maxConns })
		if s.half.limit != tc.want {
			t.Errorf("--max-conns %d: %d handshakes per IP, want %d", tc.maxConns, s.half.limit, tc.want)
		}
	}
}

// liveHeap is the heap in use after two full collections (sync.Pool,
// which gnet's buffers and ours go back to, keeps objects for one).
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
