package dialer

// poller.go: the event-loop read path for connections whose reader waits.
//
// A goroutine that waits for a message with ReadEach costs, per wait, one
// read system call that only says EAGAIN (the runtime forgets a socket's
// readiness when a read starts), a park and a wake-up through the runtime's
// netpoller; a virtual user that sits in a long think while a room's
// deliveries arrive pays a goroutine wake-up per delivery. A Poller moves
// that waiting to a few event loops (one epoll set each): a waiting
// goroutine parks on its own channel, the loop that owns the socket reads
// what arrives, parses it and hands each message to the waiter's callback
// itself, and wakes the waiter only when the callback says the wait is
// over, when the wait's end passes or when the connection fails. A round
// trip then costs the write and one read; a delivery to a lurker one read
// and no goroutine switch.
//
// The loops block in the runtime's netpoller, not in epoll_wait: each
// loop's epoll descriptor is itself registered there (an *os.File), so a
// loop that has nothing to do parks like any goroutine and holds no P.
// Deadlines live in one min-heap per loop, armed as that file's read
// deadline; a wait whose entry is due before its end keeps it (a run of
// short waits touches the heap about once per timeout, not per wait).
//
// Ownership of a connection's read side passes under pollWait.mu: while
// waiting is set the loop owns it; otherwise the goroutine calling
// WaitEach (or ReadMessage, ReadEach) does, and the loop only notes that
// the socket became readable (pending), so the next wait reads first.

import (
	"container/heap"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loopEvents is how many epoll events a loop takes per wake-up.
const loopEvents = 256

// loopBusy is how long a loop handles full batches of events before it
// yields to the scheduler once.
const loopBusy = time.Millisecond

// loopWriteSlack bounds a pong that an event loop writes for a waiting
// connection: a server that does not read must not stall every
// connection of that loop. A pong cut by it hands the read side back to
// the waiter, whose wait goes on (errPongCut): its next read finishes the
// pong under the usual stall rules.
const loopWriteSlack = time.Millisecond

var (
	// errPollerClosed is what a wait gets when its Poller is closed under it.
	errPollerClosed = errors.New("dialer: poller closed")
	// errPongCut: the loop gave up on a pong after loopWriteSlack. Not the
	// wait's end: the waiter reads on, finishing the pong itself.
	errPongCut = errors.New("dialer: pong cut by the loop's write slack")
	// errNotPollable: WaitEach on a TLS or wrapped connection.
	errNotPollable = errors.New("dialer: WaitEach needs a plain TCP connection (see Pollable)")
)

// Poller reads the connections whose readers wait in WaitEach on a few
// event loops. Create one per process (or per run) with NewPoller and
// Close it when no wait is in progress any more.
type Poller struct {
	loops []*loop
	next  atomic.Uint32
	epoch time.Time // deadlines are kept as monotonic nanoseconds since epoch
	wg    sync.WaitGroup
}

// loop is one event loop: an epoll set, the connections registered in it
// (by slot) and the deadlines of their waits.
type loop struct {
	p     *Poller
	ep    int
	f     *os.File // ep, registered in the runtime's netpoller
	raw   syscall.RawConn
	evs   []unix.EpollEvent
	ready []*pollWait        // the registrations of evs (handle's scratch)
	wait  func(uintptr) bool // raw.Read's callback, bound once
	yield bool               // poll ran for loopBusy: run yields once

	mu     sync.Mutex // guards what follows
	slots  []*pollWait
	free   []int32
	timers timerHeap // the waits' deadline entries
	armed  int64     // the deadline set on f (0: none)
	closed bool
}

// pollWait is a connection's registration in a loop.
type pollWait struct {
	c    *Conn
	lp   *loop
	slot int32
	gen  int32
	wake chan struct{} // a waiter parks here; the loop (or Close) sends once per wait

	mu      sync.Mutex // guards what follows
	waiting bool       // a WaitEach is parked: the loop owns the read side
	pending bool       // the socket became readable while nobody waited
	closed  bool       // the connection was closed (or the loop stopped)
	fn      func(Message) bool
	end     int64 // the wait's end (Poller.mono)
	err     error // how the wait ended (nil: fn returned true)

	// clean: the last read of the socket found it empty and nothing has
	// read it since, so a new wait may park without reading first. It
	// belongs to the read side's owner.
	clean bool

	// The wait's heap entry (under lp.mu): due 0 and hidx -1 when none.
	due  int64
	hidx int

	fd int // the socket's descriptor, read by the loop under mu while !closed (readLoop)
}

// NewPoller starts n event loops (n < 1 means 1).
func NewPoller(n int) (*Poller, error) {
	if n < 1 {
		n = 1
	}
	p := &Poller{epoch: time.Now()}
	for i := 0; i < n; i++ {
		lp, err := newLoop(p)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.loops = append(p.loops, lp)
	}
	for _, lp := range p.loops {
		p.wg.Add(1)
		go lp.run()
	}
	return p, nil
}

func newLoop(p *Poller) (*loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("dialer: poller: epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		_ = unix.Close(ep)
		return nil, fmt.Errorf("dialer: poller: %w", err)
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime's
	// netpoller: the epoll set is readable when it holds events.
	f := os.NewFile(uintptr(ep), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("dialer: poller: %w", err)
	}
	lp := &loop{p: p, ep: ep, f: f, raw: raw, evs: make([]unix.EpollEvent, loopEvents), ready: make([]*pollWait, 0, loopEvents)}
	lp.wait = lp.poll
	return lp, nil
}

// Close stops the loops. Waits still parked end with an error; later
// WaitEach calls fail.
func (p *Poller) Close() error {
	for _, lp := range p.loops {
		lp.mu.Lock()
		lp.closed = true
		lp.mu.Unlock()
		_ = lp.f.Close() // wakes the loop parked in raw.Read
	}
	p.wg.Wait()
	return nil
}

// Loops is the number of event loops.
func (p *Poller) Loops() int { return len(p.loops) }

// mono is t as monotonic nanoseconds since the Poller started (at least 1).
func (p *Poller) mono(t time.Time) int64 { return max(int64(t.Sub(p.epoch)), 1) }

// Pollable reports whether WaitEach can serve the connection: a plain TCP
// one (not TLS, not wrapped by Options.WrapConn).
func (c *Conn) Pollable() bool { return c.rr != nil }

// WaitEach is ReadEach with an end, with the waiting done by p: it hands
// messages to fn until fn returns true (WaitEach returns nil), end passes
// (os.ErrDeadlineExceeded) or the connection fails (what ReadMessage would
// return). Messages that are already there reach fn on the calling
// goroutine; while none is, the caller parks and one of p's event loops
// reads the socket and calls fn itself, so fn must not block and must not
// read the connection (it may write: a pong goes out from inside the read
// as usual). fn is never called from two goroutines at once, and the
// caller sees everything fn did when WaitEach returns. The connection
// must be Pollable, with no read deadline of its own in force.
func (c *Conn) WaitEach(p *Poller, fn func(Message) bool, end time.Time) error {
	r := c.rr
	if r == nil {
		return errNotPollable
	}
	if c.rerr != nil {
		return c.rerr
	}
	pw := r.pw.Load()
	if pw == nil {
		var err error
		if pw, err = p.add(c); err != nil {
			return err
		}
	}
	// pw.end is the read side's while no wait is parked (SetWaitEnd).
	pw.end = p.mono(end)
	if done, err := c.eachBuffered(fn); done {
		return err
	}
	for {
		if !pw.clean {
			if done, err := c.readNow(pw, fn); done {
				return err
			}
		}
		if p.mono(time.Now()) >= pw.end {
			return os.ErrDeadlineExceeded
		}
		pw.mu.Lock()
		if pw.closed {
			pw.mu.Unlock()
			return c.closedErr(pw)
		}
		if pw.pending {
			// Bytes came after our last read: read them here.
			pw.pending, pw.clean = false, false
			pw.mu.Unlock()
			continue
		}
		pw.waiting, pw.fn, pw.err = true, fn, nil
		pw.lp.arm(pw, pw.end)
		pw.mu.Unlock()
		<-pw.wake
		// The loop (or Close) cleared waiting and set err.
		switch err := pw.err; err {
		case nil:
			return nil
		case errConnClosed, errPollerClosed:
			return c.closedErr(pw)
		case errPongCut:
			// The loop's pong is pending: read here, where the next read
			// writes it first within ControlWriteTimeout (a peer that
			// never reads then fails the connection with a *StallError),
			// and go on waiting.
			continue
		default:
			return err
		}
	}
}

// SetWaitEnd moves the end of the WaitEach in progress to end. It is for
// WaitEach's callback (a callback that starts the next round trip itself
// gives it its own timeout); outside a WaitEach it has no effect. A later
// end costs no work per call: the wait's deadline entry, due at the
// earlier end, finds the wait still running and is armed again for the
// new one.
func (c *Conn) SetWaitEnd(end time.Time) {
	if r := c.rr; r != nil {
		if pw := r.pw.Load(); pw != nil {
			pw.end = pw.lp.p.mono(end)
		}
	}
}

// errConnClosed is a wait's end when Close ran under it.
var errConnClosed = errors.New("dialer: closed while waiting")

// closedErr is the sticky error of a wait cut by Close or by the Poller's end.
func (c *Conn) closedErr(pw *pollWait) error {
	if c.rerr != nil {
		return c.rerr
	}
	err := error(net.ErrClosed)
	if pw.err == errPollerClosed {
		err = errPollerClosed
	}
	return c.fail(err)
}

// readNow reads and hands fn what the socket holds, without waiting.
// done: fn returned true or the read failed (err). It records in
// pw.clean whether the socket is known to be empty afterwards.
func (c *Conn) readNow(pw *pollWait, fn func(Message) bool) (done bool, err error) {
	r := c.rr
	r.stepped = false
	return pw.afterRead(c.rawRead(r.once, fn))
}

// readLoop is readNow for the loop that reads for a parked waiter. The
// loop holds pw.mu and has seen pw.closed false, and Close detaches the
// registration (taking pw.mu) before it closes the socket, so the
// descriptor stays open until the loop lets go: the loop reads pw.fd
// itself, without the descriptor lock and the readiness reset that
// RawConn.Read would add to every delivery (the waiter's own reads still
// go through RawConn.Read, which resets that flag first, and WaitEach
// has no read deadline for it to check).
func (c *Conn) readLoop(pw *pollWait) (done bool, err error) {
	c.beginRaw(pw.fn)
	c.rr.stepped = c.step(uintptr(pw.fd))
	return pw.afterRead(c.endRaw())
}

// afterRead is readNow's and readLoop's outcome from the read's error and
// the rawReader's state after it.
func (pw *pollWait) afterRead(err error) (done bool, _ error) {
	r := pw.c.rr
	switch {
	case err != nil:
		pw.clean = false
		return true, err
	case r.stepped:
		pw.clean = r.drained // fn is done; the socket may hold more
		return true, nil
	}
	pw.clean = true // step returned false: the socket is empty
	return false, nil
}

// add registers c in one of p's loops (round robin).
func (p *Poller) add(c *Conn) (*pollWait, error) {
	lp := p.loops[int(p.next.Add(1))%len(p.loops)]
	// gen tells a reused slot's events from stale ones.
	pw := &pollWait{c: c, lp: lp, gen: int32(c.id), wake: make(chan struct{}, 1), hidx: -1}
	lp.mu.Lock()
	if lp.closed {
		lp.mu.Unlock()
		return nil, errPollerClosed
	}
	if n := len(lp.free); n > 0 {
		pw.slot = lp.free[n-1]
		lp.free = lp.free[:n-1]
		lp.slots[pw.slot] = pw
	} else {
		pw.slot = int32(len(lp.slots))
		lp.slots = append(lp.slots, pw)
	}
	lp.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: pw.slot, Pad: pw.gen}
	var eerr error
	if err := c.rr.raw.Control(func(fd uintptr) {
		pw.fd = int(fd)
		eerr = unix.EpollCtl(lp.ep, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil {
		eerr = err
	}
	if eerr != nil {
		lp.release(pw)
		return nil, fmt.Errorf("dialer: poller: register conn %d: %w", c.id, eerr)
	}
	c.rr.pw.Store(pw)
	if c.closed.Load() {
		// Close ran between: it may not have seen pw.
		pw.detach(false)
	}
	return pw, nil
}

// detach ends pw's registration (Close): a parked waiter wakes with
// errConnClosed. The socket leaves the epoll set when it is closed. held:
// the caller is the loop reading for the waiter, holding pw.mu (the read
// failed and ends the wait itself).
func (pw *pollWait) detach(held bool) {
	if held {
		pw.closed = true
		pw.lp.release(pw)
		return
	}
	pw.mu.Lock()
	if pw.closed {
		pw.mu.Unlock()
		return
	}
	pw.closed = true
	waiting := pw.waiting
	if waiting {
		pw.waiting, pw.fn, pw.err = false, nil, errConnClosed
	}
	pw.mu.Unlock()
	pw.lp.release(pw)
	if waiting {
		pw.wake <- struct{}{}
	}
}

// release frees pw's slot and heap entry.
func (lp *loop) release(pw *pollWait) {
	lp.mu.Lock()
	if int(pw.slot) < len(lp.slots) && lp.slots[pw.slot] == pw {
		lp.slots[pw.slot] = nil
		lp.free = append(lp.free, pw.slot)
	}
	if pw.hidx >= 0 {
		lp.remove(pw)
	}
	lp.mu.Unlock()
}

// arm makes sure pw's wait has a heap entry due no later than due. The
// caller holds pw.mu.
func (lp *loop) arm(pw *pollWait, due int64) {
	lp.mu.Lock()
	switch {
	case pw.hidx >= 0 && pw.due <= due:
		// An earlier entry fires first and re-arms for the rest.
	case pw.hidx >= 0:
		pw.due = due
		heap.Fix(&lp.timers, pw.hidx)
	default:
		pw.due = due
		heap.Push(&lp.timers, pw)
	}
	if (lp.armed == 0 || due < lp.armed) && lp.timers[0] == pw {
		lp.setDeadline(due)
	}
	lp.mu.Unlock()
}

// setDeadline arms f's read deadline at due (0: none). lp.mu held.
func (lp *loop) setDeadline(due int64) {
	lp.armed = due
	if lp.closed {
		return
	}
	dl := time.Time{}
	if due != 0 {
		dl = lp.p.epoch.Add(time.Duration(due))
	}
	_ = lp.f.SetReadDeadline(dl)
}

// run is the loop: wait for events (parked in the runtime's netpoller when
// there are none) and handle them (inside poll), expire due waits.
func (lp *loop) run() {
	defer lp.p.wg.Done()
	defer lp.stop()
	for {
		err := lp.raw.Read(lp.wait)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // closed
		}
		lp.expire()
		if lp.yield {
			// A long busy spell: let the scheduler see the loop pass
			// through it, or sysmon preempts it every 10 ms and, finding
			// work each time, keeps polling at its fastest rate.
			lp.yield = false
			runtime.Gosched()
		}
	}
}

// poll is raw.Read's callback: it takes the ready events without blocking
// and handles them, until none is left (false: park until the epoll set
// is readable) or a wait is due (true: run expires it). After a batch
// smaller than evs it parks without asking again: raw.Read cleared the
// set's readiness before calling poll, so an event added since then has
// raised it, and the park returns at once.
func (lp *loop) poll(uintptr) bool {
	start := time.Now()
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(lp.ep), uintptr(unsafe.Pointer(&lp.evs[0])), uintptr(len(lp.evs)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 || n == 0 {
			return false
		}
		lp.handle(lp.evs[:n])
		now := time.Now()
		lp.mu.Lock()
		due := len(lp.timers) > 0 && lp.timers[0].due <= lp.p.mono(now)
		lp.mu.Unlock()
		if due {
			return true
		}
		if int(n) < len(lp.evs) {
			return false
		}
		if now.Sub(start) > loopBusy {
			lp.yield = true
			return true
		}
	}
}

// handle reads the connections the events name.
func (lp *loop) handle(evs []unix.EpollEvent) {
	// The registrations the events name, under one lock for the batch.
	ready := lp.ready[:0]
	lp.mu.Lock()
	for i := range evs {
		ev := &evs[i]
		if s := int(ev.Fd); s < len(lp.slots) {
			if pw := lp.slots[s]; pw != nil && pw.gen == ev.Pad {
				ready = append(ready, pw)
			} // else closed since
		}
	}
	lp.mu.Unlock()
	for i, pw := range ready {
		ready[i] = nil
		pw.mu.Lock()
		if pw.closed {
			pw.mu.Unlock()
			continue
		}
		if !pw.waiting {
			pw.pending = true
			pw.mu.Unlock()
			continue
		}
		c := pw.c
		c.rr.inLoop = true
		done, err := c.readLoop(pw)
		c.rr.inLoop = false
		if !done {
			pw.mu.Unlock()
			continue
		}
		if err != nil && isTimeout(err) {
			// The connection has no read deadline while the loop reads
			// (WaitEach's rule), so a timeout here is a pong this loop
			// cut after loopWriteSlack: hand the read side back to the
			// waiter, which finishes it (see errPongCut).
			err = errPongCut
		}
		pw.waiting, pw.fn, pw.err = false, nil, err
		pw.mu.Unlock()
		pw.wake <- struct{}{}
	}
}

// expire ends the waits whose end has passed, re-arms those due early, and
// sets f's deadline to the next entry (when the entry at the top is not
// the one armed, or its deadline fired).
func (lp *loop) expire() {
	now := lp.p.mono(time.Now())
	for {
		lp.mu.Lock()
		if len(lp.timers) == 0 || lp.timers[0].due > now {
			next := int64(0)
			if len(lp.timers) > 0 {
				next = lp.timers[0].due
			}
			lp.setDeadline(next)
			lp.mu.Unlock()
			return
		}
		pw := lp.timers[0]
		lp.remove(pw)
		lp.mu.Unlock()
		pw.mu.Lock()
		wake := false
		if pw.waiting && !pw.closed {
			if pw.end <= now {
				pw.waiting, pw.fn, pw.err = false, nil, os.ErrDeadlineExceeded
				wake = true
			} else {
				// Due early (a wait kept an earlier wait's entry), or a new
				// wait began after the entry was taken off the heap above
				// and armed one of its own: arm keeps one entry per wait.
				lp.arm(pw, pw.end)
			}
		}
		pw.mu.Unlock()
		if wake {
			pw.wake <- struct{}{}
		}
	}
}

// stop ends every wait still parked when the loop exits.
func (lp *loop) stop() {
	lp.mu.Lock()
	lp.closed = true
	slots := lp.slots
	lp.mu.Unlock()
	for _, pw := range slots {
		if pw == nil {
			continue
		}
		pw.mu.Lock()
		waiting := pw.waiting
		if waiting {
			pw.waiting, pw.fn, pw.err = false, nil, errPollerClosed
		}
		pw.closed = true
		pw.mu.Unlock()
		if waiting {
			pw.wake <- struct{}{}
		}
	}
}

// timerHeap is a min-heap of waits by due (container/heap), each wait
// knowing its index (hidx). It belongs to its loop, under lp.mu.
type timerHeap []*pollWait

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *timerHeap) Push(x any) {
	pw := x.(*pollWait)
	pw.hidx = len(*h)
	*h = append(*h, pw)
}
func (h *timerHeap) Pop() any {
	old := *h
	pw := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return pw
}

// remove takes pw's entry off the heap (lp.mu held).
func (lp *loop) remove(pw *pollWait) {
	heap.Remove(&lp.timers, pw.hidx)
	pw.hidx, pw.due = -1, 0
}
