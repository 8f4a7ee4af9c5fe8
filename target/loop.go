package target

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// loopState is the server's state for one gnet event loop. Everything but
// the dirty list is touched only on the loop's own goroutine.
type loopState struct {
	srv   *Server
	gl    gnet.EventLoop
	conns []*wsConn // for the heartbeat sweep
	sc    *scratch

	// backlog holds connections whose queue could not be fully handed to
	// the socket; they are retried on every tick.
	backlog []*wsConn

	mu          sync.Mutex
	dirty       []*wsConn // connections with queued frames, from any goroutine
	spare       []*wsConn
	wakePending atomic.Bool

	flushTask runFunc
	tickTask  runFunc
	lastSweep int64
	// current is the connection whose OnTraffic is running; it must be
	// closed by returning gnet.Close, not by closing it under gnet's feet.
	current      *wsConn
	currentClose bool
	sinceFlush   int // chat messages handled since the last flushDirty
	closing      []*wsConn
}

// runFunc adapts a method to gnet.Runnable without a closure per call.
type runFunc func(ctx context.Context) error

func (f runFunc) Run(ctx context.Context) error { return f(ctx) }

func newLoopState(s *Server, gl gnet.EventLoop) *loopState {
	l := &loopState{srv: s, gl: gl, sc: newScratch()}
	l.flushTask = l.runFlush
	l.tickTask = l.runTick
	return l
}

// markDirty schedules c for a flush on this loop: one Execute per loop per
// batch of deliveries, however many recipients it holds. Safe from any
// goroutine.
func (l *loopState) markDirty(c *wsConn) {
	if !c.dirty.CompareAndSwap(false, true) {
		return
	}
	l.mu.Lock()
	l.dirty = append(l.dirty, c)
	l.mu.Unlock()
	if l.wakePending.CompareAndSwap(false, true) {
		if err := l.gl.Execute(context.Background(), l.flushTask); err != nil {
			l.wakePending.Store(false) // engine stopping
		}
	}
}

// flushEveryMsgs bounds how many chat messages one read may turn into
// deliveries before the loop flushes: one 64 KiB read of tiny `say`s would
// otherwise queue several times that to each same-loop recipient at once.
const flushEveryMsgs = 64

func (l *loopState) handled() {
	l.sinceFlush++
	if l.sinceFlush >= flushEveryMsgs {
		l.flushDirty()
	}
}

func (l *loopState) runFlush(context.Context) error {
	l.wakePending.Store(false)
	l.flushDirty()
	return nil
}

// flushDirty flushes every connection marked dirty. Loop goroutine only.
func (l *loopState) flushDirty() {
	l.sinceFlush = 0
	l.mu.Lock()
	list := l.dirty
	l.dirty = l.spare[:0]
	l.mu.Unlock()
	for i, c := range list {
		c.dirty.Store(false)
		l.flushConn(c)
		list[i] = nil
	}
	l.spare = list[:0]
}

// flushConn flushes c and closes its socket when its close is done.
func (l *loopState) flushConn(c *wsConn) {
	if c.state == stClosed && !c.closeAfter {
		return
	}
	l.sc.backlog = false
	closeNow := c.flush(l.sc)
	if closeNow {
		if c == l.current {
			l.currentClose = true
			return
		}
		if gs, ok := c.out.(*gnetSink); ok {
			_ = l.gl.Close(gs.gc)
		}
		return
	}
	if l.sc.backlog && !c.inBacklog() {
		c.setBacklog(true)
		l.backlog = append(l.backlog, c)
	}
}

// runTick retries backlogged connections and, every sweep interval, runs
// the heartbeat / timeout sweep over all connections of this loop.
func (l *loopState) runTick(context.Context) error {
	s := l.srv
	if len(l.backlog) > 0 {
		list := l.backlog
		l.backlog = nil
		for _, c := range list {
			c.setBacklog(false)
			l.flushConn(c)
		}
	}
	now := s.now()
	if now-l.lastSweep < int64(s.sweepEvery) {
		return nil
	}
	l.lastSweep = now
	l.sweep(now)
	return nil
}

func (l *loopState) sweep(now int64) {
	s := l.srv
	cfg := &s.cfg
	for _, c := range l.conns {
		switch c.state {
		case stHandshake:
			// A parked Socket.IO poll is answered by its session.
			if c.route != routeSIOPoll && now-c.openedAt > int64(cfg.HandshakeTimeout) {
				s.m.upgradeFailed("timeout")
				c.state, c.closeAfter = stClosed, true
				l.closing = append(l.closing, c)
			}
		case stOpen:
			silent := now - c.lastRead
			switch {
			case cfg.IdleTimeout > 0 && silent > int64(cfg.IdleTimeout):
				c.startClose(1001, "idle timeout", false)
				l.closing = append(l.closing, c)
			case cfg.PingInterval > 0 && silent > int64(cfg.PingInterval) && !c.pinged:
				c.pinged = true
				f := s.frames.encode(0x9, nil)
				c.pushOwn(f)
				f.release()
				l.closing = append(l.closing, c)
			default:
				c.mu.Lock()
				over := c.overSince
				c.mu.Unlock()
				if over != 0 && now-over > int64(cfg.SlowTimeout) {
					l.closing = append(l.closing, c)
				}
			}
		case stClosing:
			if now > c.closeDeadline {
				c.state, c.closeAfter = stClosed, true
				l.closing = append(l.closing, c)
			}
		}
	}
	// Flushing may close sockets, which edits l.conns: do it after the scan.
	for i, c := range l.closing {
		l.flushConn(c)
		l.closing[i] = nil
	}
	l.closing = l.closing[:0]
}

// closeAll starts the shutdown close handshake on every connection of the
// loop. Loop goroutine only.
func (l *loopState) closeAll(context.Context) error {
	for _, c := range l.conns {
		c.startClose(1001, "server shutting down", true)
		l.closing = append(l.closing, c)
	}
	for i, c := range l.closing {
		l.flushConn(c)
		l.closing[i] = nil
	}
	l.closing = l.closing[:0]
	return nil
}

func (l *loopState) add(c *wsConn) {
	c.loopIdx = len(l.conns)
	l.conns = append(l.conns, c)
}

func (l *loopState) remove(c *wsConn) {
	i := c.loopIdx
	if i < 0 || i >= len(l.conns) || l.conns[i] != c {
		return
	}
	last := len(l.conns) - 1
	l.conns[i] = l.conns[last]
	l.conns[i].loopIdx = i
	l.conns[last] = nil
	l.conns = l.conns[:last]
	c.loopIdx = -1
	if cap(l.conns) > 64 && len(l.conns) < cap(l.conns)/4 {
		l.conns = append([]*wsConn(nil), l.conns...)
	}
	for j, b := range l.backlog {
		if b == c {
			l.backlog = append(l.backlog[:j], l.backlog[j+1:]...)
			break
		}
	}
}

// gnetSink writes through a gnet connection on its loop.
type gnetSink struct{ gc gnet.Conn }

func (g *gnetSink) writev(bufs [][]byte) error {
	if len(bufs) == 1 {
		_, err := g.gc.Write(bufs[0])
		return err
	}
	_, err := g.gc.Writev(bufs)
	return err
}

func (g *gnetSink) buffered() int { return g.gc.OutboundBuffered() }
