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
// code (handshake, frames, queue, hub) as the event loop, and one sweeper
// goroutine runs the heartbeat of every connection.
//
// A write is never given a deadline while the connection is open: after a
// write times out crypto/tls refuses every later write, so a slow consumer
// could not be sent its 1008. Slowness is judged as on the event loop, by
// how long the queue stays over --outbound-limit; the writer's socket write
// may block meanwhile, which holds up nothing but that writer.
type tlsServer struct {
	s     *Server
	ln    net.Listener
	mu    sync.Mutex
	conns map[*tlsConn]struct{}
	wg    sync.WaitGroup // accept and every connection's two goroutines

	stopSweep chan struct{}
	sweepDone chan struct{}
	bufs      sync.Pool // *[]byte transport buffers

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
	ts := &tlsServer{
		s: s, ln: ln, conns: map[*tlsConn]struct{}{},
		stopSweep: make(chan struct{}), sweepDone: make(chan struct{}),
	}
	ts.wg.Add(1)
	go ts.accept()
	go ts.sweep()
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
		raw := nc
		if c, ok := nc.(*tls.Conn); ok {
			raw = c.NetConn()
		}
		if tcp, ok := raw.(*net.TCPConn); ok && s.cfg.SendBuffer > 0 {
			_ = tcp.SetWriteBuffer(s.cfg.SendBuffer)
		}
		tc := &tlsConn{ts: ts, nc: nc, raw: raw, wake: make(chan struct{}, 1)}
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

// sweep runs the heartbeat of every connection each sweep interval: idle
// and ping timers, slow consumers, close timeouts. It lives apart from the
// read loops because a read can wait on the writer inside crypto/tls (a
// read that must answer with a TLS record takes the write lock).
func (ts *tlsServer) sweep() {
	defer close(ts.sweepDone)
	tick := time.NewTicker(ts.s.sweepEvery)
	defer tick.Stop()
	var list []*tlsConn
	for {
		select {
		case <-ts.stopSweep:
			return
		case <-tick.C:
		}
		list = ts.snapshot(list[:0])
		for i, tc := range list {
			tc.mu.Lock()
			if tc.hsDone && !tc.ended {
				tc.heartbeat()
			}
			tc.mu.Unlock()
			list[i] = nil
		}
	}
}

// snapshot appends every live connection to dst.
func (ts *tlsServer) snapshot(dst []*tlsConn) []*tlsConn {
	ts.mu.Lock()
	for tc := range ts.conns {
		dst = append(dst, tc)
	}
	ts.mu.Unlock()
	return dst
}

// stopAccepting closes the listener.
func (ts *tlsServer) stopAccepting() { _ = ts.ln.Close() }

// readBarrier waits until no connection is inside process: each owner lock
// is taken once.
func (ts *tlsServer) readBarrier() {
	for _, tc := range ts.snapshot(nil) {
		tc.mu.Lock()
		//lint:ignore SA2001 an empty critical section is the barrier
		tc.mu.Unlock()
	}
}

// shutdown sends close 1001 to every connection and waits for them to end
// (closing the sockets when ctx expires).
func (ts *tlsServer) shutdown(ctx context.Context) {
	_ = ts.ln.Close()
	for _, tc := range ts.snapshot(nil) {
		tc.c.requestClose(1001, "server shutting down", true)
	}
	done := make(chan struct{})
	go func() { ts.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, tc := range ts.snapshot(nil) {
			tc.abort()
		}
		<-done
	}
	close(ts.stopSweep)
	<-ts.sweepDone
}

// transportMax is the largest transport buffer kept for reuse.
const transportMax = 64 << 10

func (ts *tlsServer) getBuf() []byte {
	if p, ok := ts.bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, flushHighWater)
}

func (ts *tlsServer) putBuf(b []byte) {
	if cap(b) > transportMax {
		return
	}
	b = b[:0]
	ts.bufs.Put(&b)
}

// tlsConn is one wss:// connection: owner and sink of its wsConn.
//
// Its transport is the pending buffer: flush (the owner role, under mu)
// copies queued frames into it, at most flushHighWater at a time as on the
// event loop, and the writer goroutine writes it to the socket without
// holding mu. buffered() counts pending and the write in flight, so the
// outbound limit and its 4x cap cover them as they cover gnet's buffer.
type tlsConn struct {
	ts     *tlsServer
	nc     net.Conn
	raw    net.Conn // the TCP socket under nc: closing it never blocks
	c      wsConn
	mu     sync.Mutex // serialises process, flush and heartbeat (the owner role)
	sc     *scratch
	in     tlsInput
	wake   chan struct{}
	hsDone bool // the TLS handshake is done; guarded by mu
	ended  bool // connGone ran; guarded by mu

	omu      sync.Mutex // guards the transport
	pending  []byte     // handed to the transport, not yet being written
	inflight int        // bytes of the socket write in progress
	closing  bool       // close the socket once pending is written
	closeBy  time.Time  // the write deadline set when closing began
	closed   bool       // the socket is closed (or being closed)
}

func (tc *tlsConn) markDirty(c *wsConn) { tc.poke() }

// poke wakes the writer; safe from any goroutine, never blocks.
func (tc *tlsConn) poke() {
	select {
	case tc.wake <- struct{}{}:
	default:
	}
}

func (tc *tlsConn) handled() {}

// writev copies bufs into the transport; the writer sends them.
func (tc *tlsConn) writev(bufs [][]byte) error {
	tc.omu.Lock()
	if tc.closed {
		tc.omu.Unlock()
		return net.ErrClosed
	}
	if tc.pending == nil {
		tc.pending = tc.ts.getBuf()
	}
	for _, b := range bufs {
		tc.pending = append(tc.pending, b...)
	}
	tc.omu.Unlock()
	tc.poke()
	return nil
}

func (tc *tlsConn) buffered() int {
	tc.omu.Lock()
	n := len(tc.pending) + tc.inflight
	tc.omu.Unlock()
	return n
}

// flushLocked flushes and, when the close is done, has the socket closed
// once the transport is written (within the close timeout).
func (tc *tlsConn) flushLocked() {
	if tc.sc == nil {
		tc.sc = newScratch()
	}
	if tc.c.flush(tc.sc) {
		tc.shut(tc.ts.s.cfg.CloseTimeout)
	}
}

// shut has the writer close the socket as soon as the transport is written,
// giving that write at most grace: the socket's write deadline ends a write
// that takes longer (crypto/tls refuses further writes then, but nothing is
// to follow).
func (tc *tlsConn) shut(grace time.Duration) {
	by := time.Now().Add(grace)
	tc.omu.Lock()
	if !tc.closed && (!tc.closing || by.Before(tc.closeBy)) {
		tc.closing, tc.closeBy = true, by
		_ = tc.nc.SetWriteDeadline(by)
	}
	tc.omu.Unlock()
	tc.poke()
}

// abort closes the socket now, dropping whatever the transport holds. It
// closes the TCP socket under crypto/tls, which ends a blocked write or
// read at once and never blocks itself.
func (tc *tlsConn) abort() {
	tc.omu.Lock()
	tc.closed = true
	tc.omu.Unlock()
	_ = tc.raw.Close()
	tc.poke()
}

// closeDrained closes the socket after the transport was written: with a
// TLS close_notify, which crypto/tls bounds by its own write deadline (and
// abort ends at once).
func (tc *tlsConn) closeDrained() {
	tc.omu.Lock()
	if tc.closed {
		tc.omu.Unlock()
		return
	}
	tc.closed = true
	tc.omu.Unlock()
	_ = tc.nc.Close()
}

func (tc *tlsConn) readLoop() {
	defer tc.ts.wg.Done()
	s := tc.ts.s
	if !tc.handshakeTLS() {
		tc.abort()
		return
	}
	tc.mu.Lock()
	tc.hsDone = true
	tc.mu.Unlock()
	var buf [4096]byte
	for {
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
			if errors.Is(err, io.EOF) {
				// The peer is done sending; what is queued for it (a close
				// reply) still goes out.
				tc.shut(s.cfg.CloseTimeout)
				return
			}
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("read (TLS)", "err", err)
			}
			tc.abort()
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
	_ = conn.SetReadDeadline(time.Time{})
	tc.omu.Lock()
	if !tc.closing {
		_ = conn.SetWriteDeadline(time.Time{})
	}
	tc.omu.Unlock()
	return true
}

// heartbeat is the sweep of the event loop, for one TLS connection; owner
// role (mu held).
func (tc *tlsConn) heartbeat() {
	s := tc.ts.s
	c := &tc.c
	now := s.now()
	switch c.state {
	case stHandshake:
		if c.route != routeSIOPoll && now-c.openedAt > int64(s.cfg.HandshakeTimeout) {
			s.m.upgradeFailed("timeout")
			c.state = stClosed
			tc.abort()
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
			// No close reply within the close timeout: whatever is still
			// unsent (a slow consumer's 1008 included) is given up.
			c.state, c.closeAfter = stClosed, true
			tc.abort()
			return
		}
	}
	// flush also cuts a connection that stayed over the outbound limit for
	// the slow timeout (closeSlow).
	tc.flushLocked()
}

// writeLoop owns the socket's write side: it moves the queue into the
// transport (under mu) and writes the transport to the socket (without
// mu), until the connection is closed.
func (tc *tlsConn) writeLoop() {
	defer tc.ts.wg.Done()
	defer tc.gone()
	for range tc.wake {
		tc.mu.Lock()
		tc.flushLocked()
		tc.mu.Unlock()
		for {
			tc.omu.Lock()
			if tc.closed {
				tc.omu.Unlock()
				return
			}
			b := tc.pending
			if len(b) == 0 {
				closing := tc.closing
				tc.omu.Unlock()
				if closing {
					tc.closeDrained()
					return
				}
				break
			}
			tc.pending, tc.inflight = nil, len(b)
			tc.omu.Unlock()
			_, err := tc.nc.Write(b)
			tc.omu.Lock()
			tc.inflight = 0
			tc.omu.Unlock()
			tc.ts.putBuf(b)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
					tc.ts.s.log.Debug("write (TLS)", "err", err)
				}
				tc.abort()
				return
			}
			// The transport drained: hand it more of the queue.
			tc.mu.Lock()
			tc.flushLocked()
			tc.mu.Unlock()
		}
	}
}

// gone releases the connection once its socket is closed.
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
