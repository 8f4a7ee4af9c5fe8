package target

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// tlsServer is the crypto/tls path: gnet has no TLS, so each wss://
// connection gets a reader and a writer goroutine running the same wsConn
// code (handshake, frames, queue, hub) as the event loop.
type tlsServer struct {
	s     *Server
	ln    net.Listener
	mu    sync.Mutex
	conns map[*tlsConn]struct{}
	wg    sync.WaitGroup

	// wakeups counts returns from the blocking calls of every read loop
	// (the TLS handshake and each read), so a test can tell a loop that
	// waits from one that spins.
	wakeups atomic.Int64
}

func startTLS(s *Server, tc *tls.Config) (*tlsServer, error) {
	ln, err := tls.Listen("tcp", s.cfg.Addr, tc)
	if err != nil {
		return nil, fmt.Errorf("listen (TLS) on %s: %w", s.cfg.Addr, err)
	}
	ts := &tlsServer{s: s, ln: ln, conns: map[*tlsConn]struct{}{}}
	ts.wg.Add(1)
	go ts.accept()
	return ts, nil
}

func (ts *tlsServer) accept() {
	defer ts.wg.Done()
	s := ts.s
	for {
		nc, err := ts.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept (TLS)", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if s.shuttingDown.Load() || s.m.connsCurrent.Load() >= int64(s.cfg.MaxConns) {
			s.m.upgradeFailed("max_conns")
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write(serviceUnavailable)
			_ = nc.Close()
			continue
		}
		hs, ok := s.half.acquire(nc.RemoteAddr())
		if !ok {
			// No HTTP answer: the peer has not even started TLS.
			s.m.upgradeFailed("handshakes_per_ip")
			_ = nc.Close()
			continue
		}
		if tcp, ok := nc.(*net.TCPConn); ok && s.cfg.SendBuffer > 0 {
			_ = tcp.SetWriteBuffer(s.cfg.SendBuffer)
		}
		tc := &tlsConn{ts: ts, nc: nc, wake: make(chan struct{}, 1), done: make(chan struct{})}
		now := s.now()
		tc.c = wsConn{srv: s, own: tc, out: tc, openedAt: now, lastRead: now, loopIdx: -1, hs: hs}
		s.table.add(&tc.c)
		s.m.connsCurrent.Add(1)
		s.m.connsTotal.Add(1)
		ts.mu.Lock()
		ts.conns[tc] = struct{}{}
		ts.mu.Unlock()
		ts.wg.Add(2)
		go tc.readLoop()
		go tc.writeLoop()
	}
}

// stopAccepting closes the listener.
func (ts *tlsServer) stopAccepting() { _ = ts.ln.Close() }

// readBarrier waits until no connection is inside process: each owner lock
// is taken once.
func (ts *tlsServer) readBarrier() {
	ts.mu.Lock()
	conns := make([]*tlsConn, 0, len(ts.conns))
	for tc := range ts.conns {
		conns = append(conns, tc)
	}
	ts.mu.Unlock()
	for _, tc := range conns {
		tc.mu.Lock()
		tc.mu.Unlock() //nolint:staticcheck // an empty critical section is the barrier
	}
}

// shutdown sends close 1001 to every connection and waits for them to end
// (closing the sockets when ctx expires).
func (ts *tlsServer) shutdown(ctx context.Context) {
	_ = ts.ln.Close()
	ts.mu.Lock()
	for tc := range ts.conns {
		tc.c.requestClose(1001, "server shutting down", true)
	}
	ts.mu.Unlock()
	done := make(chan struct{})
	go func() { ts.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		ts.mu.Lock()
		for tc := range ts.conns {
			_ = tc.nc.Close()
		}
		ts.mu.Unlock()
		<-done
	}
}

// tlsConn is one wss:// connection: owner and sink of its wsConn.
type tlsConn struct {
	ts    *tlsServer
	nc    net.Conn
	c     wsConn
	mu    sync.Mutex // serialises process and flush (the owner role)
	sc    *scratch
	in    tlsInput
	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
	ended bool // connGone ran; guarded by mu
}

func (tc *tlsConn) markDirty(c *wsConn) {
	select {
	case tc.wake <- struct{}{}:
	default:
	}
}

func (tc *tlsConn) handled() {}

func (tc *tlsConn) writev(bufs [][]byte) error {
	_ = tc.nc.SetWriteDeadline(time.Now().Add(tc.ts.s.cfg.SlowTimeout))
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(tc.nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tc.ts.s.m.slowDisconnect.Add(1)
	}
	return err
}

func (tc *tlsConn) buffered() int { return 0 }

// flushLocked flushes and closes the socket when the close is done.
func (tc *tlsConn) flushLocked() {
	if tc.sc == nil {
		tc.sc = newScratch()
	}
	if tc.c.flush(tc.sc) {
		tc.finish()
	}
}

func (tc *tlsConn) finish() {
	tc.once.Do(func() {
		_ = tc.nc.Close()
		close(tc.done)
	})
}

func (tc *tlsConn) readLoop() {
	defer tc.ts.wg.Done()
	s := tc.ts.s
	if !tc.handshakeTLS() {
		tc.finish()
		return
	}
	var buf [4096]byte
	for {
		_ = tc.nc.SetReadDeadline(time.Now().Add(s.sweepEvery))
		n, err := tc.nc.Read(buf[:])
		tc.ts.wakeups.Add(1)
		if n > 0 {
			tc.mu.Lock()
			if tc.ended {
				tc.mu.Unlock()
				return
			}
			tc.in.b = append(tc.in.b, buf[:n]...)
			tc.c.process(&tc.in)
			tc.in.compact()
			tc.flushLocked()
			tc.mu.Unlock()
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				tc.mu.Lock()
				tc.heartbeat()
				tc.mu.Unlock()
				select {
				case <-tc.done:
					return
				default:
				}
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("read (TLS)", "err", err)
			}
			tc.finish()
			return
		}
	}
}

// handshakeTLS runs the TLS handshake under one deadline, the handshake
// timeout. It is not left to the first Read: crypto/tls keeps a failed
// handshake's error, so after the first read deadline every Read would
// return that error at once and the read loop would spin until the timeout.
func (tc *tlsConn) handshakeTLS() bool {
	s := tc.ts.s
	conn, ok := tc.nc.(*tls.Conn)
	if !ok {
		return true
	}
	_ = conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	err := conn.Handshake()
	tc.ts.wakeups.Add(1)
	if err != nil {
		reason := "tls"
		if errors.Is(err, os.ErrDeadlineExceeded) {
			reason = "timeout"
		}
		s.m.upgradeFailed(reason)
		s.log.Debug("TLS handshake", "remote", tc.nc.RemoteAddr().String(), "err", err)
		return false
	}
	_ = conn.SetDeadline(time.Time{})
	return true
}

// heartbeat is the sweep of the event loop, for one TLS connection.
func (tc *tlsConn) heartbeat() {
	s := tc.ts.s
	c := &tc.c
	now := s.now()
	switch c.state {
	case stHandshake:
		if now-c.openedAt > int64(s.cfg.HandshakeTimeout) {
			s.m.upgradeFailed("timeout")
			tc.finish()
			return
		}
	case stOpen:
		silent := now - c.lastRead
		switch {
		case s.cfg.IdleTimeout > 0 && silent > int64(s.cfg.IdleTimeout):
			c.startClose(1001, "idle timeout", false)
		case s.cfg.PingInterval > 0 && silent > int64(s.cfg.PingInterval) && !c.pinged:
			c.pinged = true
			f := s.frames.encode(0x9, nil)
			c.pushOwn(f)
			f.release()
		}
	case stClosing:
		if now > c.closeDeadline {
			c.state, c.closeAfter = stClosed, true
		}
	}
	tc.flushLocked()
}

func (tc *tlsConn) writeLoop() {
	defer tc.ts.wg.Done()
	defer tc.gone()
	for {
		select {
		case <-tc.done:
			return
		case <-tc.wake:
			tc.mu.Lock()
			tc.flushLocked()
			tc.mu.Unlock()
		}
	}
}

// gone releases the connection once both goroutines are about to end.
func (tc *tlsConn) gone() {
	tc.mu.Lock()
	tc.ended = true
	tc.ts.s.connGone(&tc.c)
	tc.mu.Unlock()
	tc.ts.mu.Lock()
	delete(tc.ts.conns, tc)
	tc.ts.mu.Unlock()
}

// tlsInput is the inbound buffer of a TLS connection (input for wsConn).
type tlsInput struct {
	b []byte
	r int
}

func (t *tlsInput) Peek(n int) ([]byte, error) {
	if n > len(t.b)-t.r {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(t.b) - t.r
	}
	return t.b[t.r : t.r+n], nil
}

func (t *tlsInput) Discard(n int) (int, error) {
	n = min(n, len(t.b)-t.r)
	t.r += n
	return n, nil
}

func (t *tlsInput) InboundBuffered() int { return len(t.b) - t.r }

// compact drops consumed bytes and releases a large idle buffer.
func (t *tlsInput) compact() {
	rest := copy(t.b, t.b[t.r:])
	t.b, t.r = t.b[:rest], 0
	if rest == 0 && cap(t.b) > 16<<10 {
		t.b = nil
	}
}
