package scenario

// vu.go is the step interpreter: one virtual user running a scenario's
// steps over one dialer.Conn at a time (a link). Whenever a step blocks
// (expect, ping, the close handshake, think, the pause of a repeat with
// `every`) the VU waits until the step's end, and every inbound message
// meanwhile goes to handle (counters, listeners, the waiting step, the
// backlog). When no message ends the wait (think, pacing, the close
// handshake) the run's event loops do that reading on a plain TCP
// connection (dialer.Poller, waitUntil): the VU parks, a loop reads what
// arrives and calls handle itself, and the VU wakes only at the step's
// end, so a lurker in a busy room costs no goroutine wake-up per
// delivery. With RunOptions.Chain a repeat of one send and one expect
// goes further: the loop that reads a reply also sends the next request
// (chain.go). Otherwise (an expect or ping waiting for its reply, TLS,
// Socket.IO, --event-loops -1) the VU's goroutine reads with a read
// deadline at the step's end (ReadEach). Either way handle never runs on
// two goroutines at once, and an idle VU costs one goroutine stack.
// Between iterations no connection stays open (iterate ends it), so a VU
// never holds an unread connection outside a step. The one step that does
// not read is send: a VU that sends a lot without waiting (a flood) starts
// a helper goroutine that reads meanwhile (readAside), and takes reading
// back at its next step that waits.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/report"
)

const (
	// backlogLen is how many recent unmatched messages a link keeps for an
	// expect that starts after they arrived.
	backlogLen = 4
	// backlogMaxMsg bounds the size of a message kept in the backlog; larger
	// ones are not kept (the per-VU memory budget is 16 KiB).
	backlogMaxMsg = 2 << 10
	// closeWait bounds how long a close step waits for the peer's close frame.
	closeWait = 3 * time.Second
	// endCloseWait bounds the close handshake when an iteration ends with
	// the connection still open.
	endCloseWait = time.Second
	// reconnectFloor is the least delay between failed reconnect attempts,
	// so a refusing server never makes a VU spin.
	reconnectFloor = 50 * time.Millisecond
	// floodSends and floodBytes bound what a VU sends without reading
	// before a helper goroutine reads for it: an echoing server that blocks
	// writing to a client that does not read stops reading itself, and the
	// client's writes would then block for good.
	floodSends = 16
	floodBytes = 16 << 10
)

// Step outcomes other than nil.
var (
	errIterFailed = errors.New("iteration failed")
	errConnLost   = errors.New("connection lost")
	errCancelled  = errors.New("cancelled")
)

// sched is the pacing context of steps inside a repeat with `every`: the
// iteration's scheduled start and its actual start. Zero outside.
type sched struct {
	at, actual time.Time
}

// vu is one virtual user. Its fields, and its link's, belong to the VU
// goroutine.
type vu struct {
	s     *scenarioRun
	m     *metrics // s.m
	vars  *Vars
	lvars *Vars // listeners' variables; nil without listeners
	link  *link
	ch    *chain // a repeat run on the event loops (chain.go); nil until one is
	ctx   context.Context
	timer *time.Timer
	buf   []byte // send buffer, reused

	iter     int
	lastDial *cdial
	lastSend time.Time // actual time of the previous send (or of the connect)
	lastPlan time.Time // its scheduled time under `every`, zero otherwise
	top      int       // top-level step being run
	resume   int       // top-level step to resume at after a reconnect
	depth    int

	// Dial backoff (backoff.go).
	backoff  dialBackoff     // failed dials in a row, for the wait before the next
	loadDone <-chan struct{} // closed when the load ends (not when the VU is cancelled); nil = never
}

func newVU(s *scenarioRun, num int) *vu {
	v := &vu{s: s, m: s.m, vars: NewVars(num, s.sc.Name, s.r.seed, s.r.env)}
	if len(s.listeners) > 0 {
		v.lvars = NewVars(num, s.sc.Name, s.r.seed^0x9e3779b97f4a7c15, s.r.env)
	}
	return v
}

// iterate runs the steps once. It implements vuRunner.
func (v *vu) iterate(ctx context.Context) {
	v.ctx = ctx
	v.vars.Iter = v.iter
	if v.lvars != nil {
		v.lvars.Iter = v.iter
	}
	v.iter++
	v.resume = 0
	v.lastSend, v.lastPlan = time.Time{}, time.Time{}
	steps := v.s.steps
	var err error
	for i := 0; i < len(steps); {
		v.top, v.depth = i, 0
		err = v.step(&steps[i], sched{})
		if err == nil {
			i++
			continue
		}
		if ctx.Err() != nil {
			err = errCancelled
			break
		}
		if errors.Is(err, errConnLost) && v.s.sc.Reconnect.Mode != ReconnectOff && v.lastDial != nil {
			if v.reconnect() {
				i = v.resume
				continue
			}
			if ctx.Err() != nil {
				err = errCancelled
			}
		}
		break
	}
	m := v.m
	switch {
	case err == nil:
		m.iterations.Inc()
		v.endConn(true)
	case errors.Is(err, errCancelled):
		m.iterInterrupted.Inc() // cut by the end of the run, the graceful stop or Ctrl-C: no verdict
		v.endConn(false)
	default:
		m.iterations.Inc()
		m.iterFailed.Inc()
		v.endConn(ctx.Err() == nil)
	}
}

// close releases the VU's connection. It implements vuRunner.
func (v *vu) close() {
	v.endConn(false)
	if v.timer != nil {
		v.timer.Stop()
	}
}

func (v *vu) step(st *cstep, sc sched) error {
	if v.ctx.Err() != nil {
		return errCancelled
	}
	if st.Kind < 0 || st.Kind >= numStepKinds() {
		return fmt.Errorf("%s: unknown step kind %v", st.Pos, st.Kind)
	}
	k := &stepKinds[st.Kind]
	if l := v.link; l != nil && l.aside != nil && !k.keepsAside {
		l.own()
	}
	return k.run(v, st, sc)
}

// sleep waits d or until the VU is cancelled, reading the open connection
// meanwhile. If the connection ends, it sleeps out the rest without one.
func (v *vu) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if l := v.link; l != nil && !l.dead.Load() {
		end := time.Now().Add(d)
		out := l.readUntil(end)
		if v.ctx.Err() != nil {
			return errCancelled
		}
		if out == readTimeout {
			return nil
		}
		if d = time.Until(end); d <= 0 {
			return nil
		}
	}
	return v.pause(d)
}

// pause waits d or until the VU is cancelled without reading: inbound
// messages stay in the socket (think with `read: false`, a stalled client).
// It reuses one timer per VU.
func (v *vu) pause(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if v.timer == nil {
		v.timer = time.NewTimer(d)
	} else {
		v.timer.Reset(d)
	}
	select {
	case <-v.timer.C:
		return nil
	case <-v.ctx.Done():
		v.timer.Stop()
		return errCancelled
	}
}

// connect dials with d, closing any previous connection first.
func (v *vu) connect(d *cdial) error {
	v.endConn(false)
	m := v.m
	c, tm, err := d.dialApart(v.ctx, v.vars)
	var sio *sioConn
	if err == nil && d.sio != nil {
		sio, err = d.sio.open(v.ctx, c, v.vars)
	}
	if err != nil {
		// A cancel that cut an upgrade in progress is a handshake timeout
		// (a server dripping its 101 past the end of the run), not a drop.
		if v.ctx.Err() != nil && !errors.Is(err, dialer.ErrHandshakeTimeout) {
			return errCancelled
		}
		if v.sioFailed(d, err) {
			v.backoff.failed()
			return fmt.Errorf("connect: %w", errIterFailed)
		}
		v.backoff.failed()
		m.countDialFailure(connFailReason(err), err)
		if dialer.Kind(err) == dialer.KindHandshake || errors.Is(err, dialer.ErrHandshakeTimeout) {
			m.errHandshake.Inc()
		} else {
			m.errDial.Inc()
		}
		v.s.r.log.Debug("connect failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "err", err)
		if v.ctx.Err() != nil {
			return errCancelled
		}
		return fmt.Errorf("connect: %w", errIterFailed)
	}
	v.backoff.succeeded()
	m.connect.Record(tm.Connect)
	m.handshake.Record(tm.Handshake)
	m.opened.Inc()
	m.connsOpen.Add(1)
	v.lastDial = d
	v.lastSend, v.lastPlan = time.Now(), time.Time{}
	l := newLink(v, c)
	l.sio = sio
	l.ctx, l.abandonDone = v.ctx, make(chan struct{})
	// A cancelled VU may be blocked in a read or in a write to a server
	// that stopped reading: closing the socket is what unblocks it.
	l.stopAbandon = context.AfterFunc(v.ctx, l.abandon)
	v.link = l
	return nil
}

// reconnect dials again with the last connect's options, following the
// scenario's reconnect policy. It counts `reconnects` on success.
func (v *vu) reconnect() bool {
	rc := v.s.sc.Reconnect
	v.endConn(false)
	initial := rc.Initial
	if initial <= 0 {
		initial = DefaultBackoffMin
	}
	ceiling := rc.Max
	if ceiling <= 0 {
		ceiling = DefaultBackoffMax
	}
	for attempt := 0; rc.MaxAttempts <= 0 || attempt < rc.MaxAttempts; attempt++ {
		var delay time.Duration
		switch {
		case rc.Mode == ReconnectBackoff:
			delay = backoffDelay(initial, ceiling, attempt, v.vars)
		case attempt > 0: // immediate: only the first retry is immediate
			delay = max(reconnectFloor, backoffDelay(initial, ceiling, attempt-1, v.vars))
		}
		if err := v.sleep(delay); err != nil {
			return false
		}
		if err := v.connect(v.lastDial); err == nil {
			v.m.reconnects.Inc()
			return true
		}
		if v.ctx.Err() != nil {
			return false
		}
	}
	return false
}

// backoffDelay is initial·2^attempt capped at ceiling, with "equal jitter":
// uniformly in [d/2, d].
func backoffDelay(initial, ceiling time.Duration, attempt int, vars *Vars) time.Duration {
	d := ceiling
	if attempt < 30 && initial<<attempt < ceiling {
		d = initial << attempt
	}
	half := d / 2
	return half + time.Duration(vars.rng().Int64N(int64(d-half)+1))
}

// liveLink returns the open connection or the error a step gets without one.
func (v *vu) liveLink() (*link, error) {
	l := v.link
	if l == nil {
		v.m.errNotConnected.Inc()
		return nil, errIterFailed
	}
	if l.dead.Load() {
		return nil, errConnLost
	}
	return l, nil
}

// appendRandom appends n random bytes from the VU's source.
func appendRandom(dst []byte, n int, v *Vars) []byte {
	r := v.rng()
	for n > 0 {
		x := r.Uint64()
		for i := 0; i < 8 && n > 0; i++ {
			dst = append(dst, byte(x))
			x >>= 8
			n--
		}
	}
	return dst
}

// endConn closes the VU's connection if it has one: with a close handshake
// bounded by endCloseWait when graceful, at once otherwise.
func (v *vu) endConn(graceful bool) {
	l := v.link
	if l == nil {
		return
	}
	l.own()
	if graceful && !l.dead.Load() && v.ctx != nil && v.ctx.Err() == nil {
		l.closing = true
		l.goodbye()
		if l.c.SendClose(1000, "") == nil {
			l.readUntil(time.Now().Add(endCloseWait))
		}
	}
	v.dropLink()
}

// dropLink closes the socket (if the connection is still open, without
// counting an error) and forgets the link.
func (v *vu) dropLink() {
	l := v.link
	if l == nil {
		return
	}
	if l.stopAbandon != nil && !l.stopAbandon() {
		<-l.abandonDone // the hook runs: let it finish sending its close frame
	}
	l.own()
	if !l.dead.Load() {
		if l.ctx != nil && l.ctx.Err() != nil {
			l.goAway() // interrupted while the hook was not needed
		}
		l.abandoned.Store(true)
		l.end(nil)
	}
	v.link = nil
}

// abandon sends 1001 (interrupt.go) and closes the socket: the
// close-on-cancel hook, run on another goroutine. A read or write of the
// VU in progress returns, and the read error is not counted as an error.
func (l *link) abandon() {
	defer close(l.abandonDone)
	l.abandoned.Store(true)
	l.goAway()
	_ = l.c.Close()
}

// Wait kinds of a link.
const (
	waitNone uint8 = iota
	waitExpect
	waitPong
	waitAck // a Socket.IO acknowledgement (socketio.go)
)

// link is one open connection of a VU. It belongs to the VU goroutine;
// only abandon runs elsewhere, and readAside while it runs (then the VU
// only sends, and touches none of the read side: deadline, listeners,
// backlog, wait).
type link struct {
	c    *dialer.Conn
	s    *scenarioRun
	m    *metrics // s.r.m
	vars *Vars    // the VU's variables, for the waiting expect's matcher and captures
	lis  []listenerState

	stopAbandon func() bool // unregisters the close-on-cancel hook
	sio         *sioConn    // Socket.IO state (socketio.go); nil on raw WebSocket connections
	abandoned   atomic.Bool // we closed the socket: read errors are expected

	// Interruption (interrupt.go).
	ctx         context.Context // the VU's: done when the connection is interrupted
	abandonDone chan struct{}   // closed when the close-on-cancel hook has run

	// The read deadline set on c (zero: none) and whether it has passed.
	// A deadline ahead of the one a wait needs is moved back; one before it
	// is kept until it fires, so a run of short waits (round trips) sets
	// the deadline about once per timeout, not once per message.
	deadline time.Time
	expired  bool

	waitKind uint8  // what the blocked step waits for
	want     *cstep // the waiting expect
	gotAt    time.Time
	capErr   error
	onMsg    func(dialer.Message) bool // handleNow, bound at the first read

	dead    atomic.Bool // the connection ended and was accounted for
	closing bool        // we started the close handshake: the peer's close is expected

	// Sends since the VU last read, and the helper reading meanwhile:
	// aside is closed when readAside exits; stopAside asks it to.
	unreadSends, unreadBytes int
	aside                    chan struct{}
	stopAside                atomic.Bool
	backlog                  [backlogLen]backlogMsg
	bstart                   int
	blen                     int
}

type backlogMsg struct {
	op ws.OpCode
	at time.Time
	p  []byte
}

func newLink(v *vu, c *dialer.Conn) *link {
	l := &link{c: c, s: v.s, m: v.m, vars: v.vars}
	if len(v.s.listeners) > 0 {
		l.lis = make([]listenerState, len(v.s.listeners))
		for i := range l.lis {
			l.lis[i].l = &v.s.listeners[i]
			l.lis[i].vars = v.lvars
		}
	}
	return l
}

// takeBacklog looks for the oldest kept message that st matches, removes
// it and returns its arrival time. Messages that arrived before since (the
// send the expect times) are dropped first: they cannot be its reply, and
// no later expect times from an earlier send. Those st would have matched
// are counted in expect.stale.
func (l *link) takeBacklog(st *cstep, vars *Vars, since time.Time) (time.Time, bool) {
	for l.blen > 0 && l.backlog[l.bstart].at.Before(since) {
		b := &l.backlog[l.bstart]
		if st.Expect.Match.Match(b.op, b.p, vars) {
			l.m.expectStale.Inc()
		}
		l.bstart = (l.bstart + 1) % backlogLen
		l.blen--
	}
	if l.blen == 0 {
		return time.Time{}, false
	}
	for k := 0; k < l.blen; k++ {
		b := &l.backlog[(l.bstart+k)%backlogLen]
		if !st.Expect.Match.Match(b.op, b.p, vars) {
			continue
		}
		l.capErr = st.Expect.CaptureInto(b.p, vars)
		at := b.at
		// Remove entry k by shifting the newer entries down one place.
		for j := k; j < l.blen-1; j++ {
			cur := &l.backlog[(l.bstart+j)%backlogLen]
			next := &l.backlog[(l.bstart+j+1)%backlogLen]
			*cur, *next = *next, *cur // swap keeps both buffers for reuse
		}
		l.blen--
		return at, true
	}
	return time.Time{}, false
}

// keep stores an unmatched message in the backlog, dropping the oldest
// when full.
func (l *link) keep(op ws.OpCode, p []byte, at time.Time) {
	if len(p) > backlogMaxMsg || !l.s.expects {
		return
	}
	var b *backlogMsg
	if l.blen < backlogLen {
		b = &l.backlog[(l.bstart+l.blen)%backlogLen]
		l.blen++
	} else {
		b = &l.backlog[l.bstart]
		l.bstart = (l.bstart + 1) % backlogLen
	}
	b.op, b.at, b.p = op, at, append(b.p[:0], p...)
}

// Outcomes of readUntil.
const (
	readGot     = iota // the awaited message (waitKind) arrived
	readTimeout        // end passed
	readEnded          // the connection ended, or was closed by a cancel
)

// readUntil reads the connection, handling every inbound message, until
// the message the blocked step waits for arrives, end passes, or the
// connection ends. Pings are answered by the dialer inside ReadMessage.
func (l *link) readUntil(end time.Time) int {
	l.own()
	l.unreadSends, l.unreadBytes = 0, 0
	if l.dead.Load() {
		return readEnded
	}
	if l.onMsg == nil {
		l.onMsg = l.handleNow
	}
	// The event loops read for waits that messages do not end (think, the
	// pause of `every`, a backoff, the close handshake): there they save
	// a goroutine wake-up per message. A wait for one reply (expect, ping)
	// ends with its first message: a hand-off through a loop adds a
	// goroutine switch to save one read, which measured slower with 50
	// echoing VUs (BENCHMARKS.md, session 7).
	if p := l.poller(); p != nil && l.waitKind == waitNone {
		return l.waitUntil(p, l.onMsg, end)
	}
	if l.expired || l.deadline.IsZero() || l.deadline.After(end) {
		l.setDeadline(end)
	}
	for {
		err := l.c.ReadEach(l.onMsg)
		if err == nil {
			return readGot
		}
		now := time.Now()
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			l.end(err)
			return readEnded
		}
		if !now.Before(end) {
			l.expired = true
			return readTimeout
		}
		l.setDeadline(end) // an earlier wait's deadline fired
	}
}

// poller returns the run's event loops when they may read this
// connection, nil otherwise: --event-loops -1, a TLS or wrapped
// connection, or Socket.IO (its handler answers the server's pings with a
// data write, which a loop must not wait on).
func (l *link) poller() *dialer.Poller {
	if p := l.s.r.poll; p != nil && l.sio == nil && l.c.Pollable() {
		return p
	}
	return nil
}

// waitUntil is readUntil through the run's event loops (dialer.Poller):
// the VU parks while a loop reads and hands its messages to fn (handleNow,
// or a chain's onMsg), and wakes when fn says so, end passed or the
// connection ended. The connection's own read deadline stays unset
// (cleared once after a read that set one).
func (l *link) waitUntil(p *dialer.Poller, fn func(dialer.Message) bool, end time.Time) int {
	if !l.deadline.IsZero() {
		l.setDeadline(time.Time{})
	}
	err := l.c.WaitEach(p, fn, end)
	switch {
	case err == nil:
		return readGot
	case errors.Is(err, os.ErrDeadlineExceeded):
		return readTimeout
	}
	l.end(err)
	return readEnded
}

func (l *link) setDeadline(t time.Time) {
	_ = l.c.SetReadDeadline(t)
	l.deadline, l.expired = t, false
}

// startAside starts the helper that reads while the VU floods the
// connection with sends.
func (l *link) startAside() {
	if l.dead.Load() {
		return
	}
	l.setDeadline(time.Time{})
	l.aside = make(chan struct{})
	go l.readAside(l.aside)
}

// readAside handles inbound messages until own asks it to stop (with a read
// deadline in the past, which loses no partly read frame) or the
// connection ends.
func (l *link) readAside(done chan<- struct{}) {
	defer close(done)
	for {
		msg, err := l.c.ReadMessage()
		now := time.Now()
		switch {
		case err == nil:
			l.handle(msg, now)
		case !errors.Is(err, os.ErrDeadlineExceeded):
			l.end(err)
			return
		case l.stopAside.Load():
			return
		}
	}
}

// own makes the VU's goroutine the only reader again: it stops the helper
// started by a flood of sends, if any, and waits for it to exit.
func (l *link) own() {
	if l.aside == nil {
		return
	}
	l.stopAside.Store(true)
	_ = l.c.SetReadDeadline(time.Unix(1, 0))
	<-l.aside
	l.aside = nil
	l.stopAside.Store(false)
	l.deadline, l.expired = time.Unix(1, 0), true
	l.unreadSends, l.unreadBytes = 0, 0
}

// handle takes one inbound message: a pong ends a waiting ping; a data
// message is counted, observed by the listeners, and ends a waiting
// expect it matches or is kept in the backlog. It reports whether the
// blocked step got what it waits for.
func (l *link) handle(msg dialer.Message, now time.Time) bool {
	if l.sio != nil {
		var ok bool
		if msg, ok = l.sio.inbound(l, msg, now); !ok {
			return l.sio.takeAck()
		}
	}
	if msg.Op == ws.OpPong {
		if l.waitKind != waitPong {
			return false
		}
		l.gotAt, l.waitKind = now, waitNone
		return true
	}
	l.observe(msg, now)
	if l.waitKind == waitExpect && l.want.Expect.Match.Match(msg.Op, msg.Payload, l.vars) {
		l.capErr = l.want.Expect.CaptureInto(msg.Payload, l.vars)
		l.gotAt, l.waitKind = now, waitNone
		return true
	}
	l.keep(msg.Op, msg.Payload, now)
	return false
}

// handleNow is handle at the message's arrival, as ReadEach's callback
// (bound once per link in onMsg).
func (l *link) handleNow(msg dialer.Message) bool { return l.handle(msg, time.Now()) }

// observe counts an inbound data message and runs the listeners on it.
func (l *link) observe(msg dialer.Message, now time.Time) {
	m := l.m
	m.msgsRecv.Inc()
	m.bytesRecv.Add(int64(len(msg.Payload)))
	for i := range l.lis {
		l.lis[i].observe(msg.Op, msg.Payload, now, m)
	}
}

// end records how the connection ended (err nil: we dropped it) and closes
// the socket.
func (l *link) end(err error) {
	l.dead.Store(true)
	l.fail(err)
	_ = l.c.Close()
	l.m.connsOpen.Add(-1)
}

// fail counts how the connection ended.
func (l *link) fail(err error) {
	expected, abandoned := l.closing, l.abandoned.Load()
	m := l.m
	var ce *dialer.CloseError
	var pe *dialer.ProtocolError
	var se *dialer.StallError
	switch {
	case l.ctx != nil && l.ctx.Err() != nil:
		m.connInterrupted.Inc() // cut by the end of the run or Ctrl-C, after a 1001 (interrupt.go)
	case errors.As(err, &ce):
		m.closed(ce.Code).Inc()
		if !expected && !abandoned {
			m.errClosedByPeer.Inc()
		}
	case abandoned:
		m.closed(1006).Inc() // we dropped it without a close handshake (or the peer never answered ours)
	case errors.As(err, &se):
		m.closed(1006).Inc()
		m.counter(report.ErrStall).Inc() // the server stopped reading: a pong or close could not be written
	case errors.As(err, &pe):
		m.closed(pe.Code).Inc()
		m.errProtocol.Inc()
	case expected:
		m.closed(1006).Inc() // the peer dropped the socket instead of answering our close
	default:
		m.closed(1006).Inc()
		if dialer.Kind(err) == dialer.KindProtocol {
			m.errProtocol.Inc()
		} else {
			m.errClosedByPeer.Inc()
		}
	}
	if !abandoned {
		l.s.r.log.Debug("connection ended", "scenario", l.s.sc.Name, "vu", l.vars.VU, "err", err)
	}
}

// cdial is a connect step prepared for dialing: its dialer (shared by every
// VU), URL and per-connection header templates.
type cdial struct {
	d   *dialer.Dialer
	sio *sioDial // Socket.IO handshake after the upgrade; nil for raw WebSocket
	dialTarget

	backoff DialBackoff // wait after failed dials (backoff.go)
}

// dialTarget is where a connect step dials: its URL and headers, with
// their templates compiled once (newDialTarget).
type dialTarget struct {
	url     string    // static URL, or "" when path is a template
	path    *Template // templated path
	base    string
	static  map[string][]string // headers without templates, set in the dialer
	headers []cheader           // templated headers rendered per connection
}

// render returns the URL and the templated headers (nil when there are
// none) of a connection of the VU with variables v.
func (t *dialTarget) render(v *Vars) (string, map[string][]string) {
	url := t.url
	if t.path != nil {
		url = string(t.path.Append([]byte(t.base), v))
	}
	if len(t.headers) == 0 {
		return url, nil
	}
	h := make(map[string][]string, len(t.headers))
	for _, hd := range t.headers {
		h[hd.name] = []string{hd.tmpl.Render(v)}
	}
	return url, h
}

type cheader struct {
	name string
	tmpl *Template
}

func (d *cdial) dial(ctx context.Context, v *Vars) (*dialer.Conn, dialer.Timings, error) {
	url, h := d.render(v)
	if h == nil {
		return d.d.Dial(ctx, url)
	}
	return d.d.DialHeader(ctx, url, h)
}

// metrics holds the handles of every fixed-name metric the runner records.
type metrics struct {
	reg                                         *report.Registry // for examples of errors
	tags                                        *report.Tagged   // the scenario's series: every handle below is one of its
	connect, handshake                          *report.Latency
	opened, msgsSent, msgsRecv, bytesSent       *report.Counter
	bytesRecv, iterations, iterFailed, dropped  *report.Counter
	reconnects, expectStale                     *report.Counter
	iterInterrupted, connInterrupted            *report.Counter
	errDial, errHandshake, errSend, errProtocol *report.Counter
	errExpectTimeout, errClosedByPeer           *report.Counter
	errNotConnected, errCapture, errPingTimeout *report.Counter
	errCloseTimeout                             *report.Counter
	lost, duplicate, reordered                  *report.Counter
	vus, connsOpen                              *report.Gauge
}

func newMetrics(tags *report.Tagged) *metrics {
	reg := tags
	return &metrics{
		reg:              tags.Registry(),
		tags:             tags,
		connect:          reg.Latency(report.LatencyConnect),
		handshake:        reg.Latency(report.LatencyHandshake),
		opened:           reg.Counter(report.CounterConnOpened),
		msgsSent:         reg.Counter(report.CounterMsgsSent),
		msgsRecv:         reg.Counter(report.CounterMsgsRecv),
		bytesSent:        reg.Counter(report.CounterBytesSent),
		bytesRecv:        reg.Counter(report.CounterBytesRecv),
		iterations:       reg.Counter(report.CounterIterations),
		iterFailed:       reg.Counter(report.CounterIterationsFailed),
		dropped:          reg.Counter(report.CounterArrivalsDropped),
		reconnects:       reg.Counter(report.CounterReconnects),
		expectStale:      reg.Counter(report.CounterExpectStale),
		iterInterrupted:  reg.Counter(report.CounterIterInterrupted),
		connInterrupted:  reg.Counter(report.CounterConnInterrupted),
		errDial:          reg.Counter(report.ErrDial),
		errHandshake:     reg.Counter(report.ErrHandshake),
		errSend:          reg.Counter(report.ErrSend),
		errProtocol:      reg.Counter(report.ErrProtocol),
		errExpectTimeout: reg.Counter(report.ErrExpectTimeout),
		errClosedByPeer:  reg.Counter(report.ErrClosedByPeer),
		errNotConnected:  reg.Counter(report.ErrNotConnected),
		errCapture:       reg.Counter(report.ErrCapture),
		errPingTimeout:   reg.Counter(report.ErrPingTimeout),
		errCloseTimeout:  reg.Counter(report.ErrCloseTimeout),
		lost:             reg.Counter(report.CounterDeliveryLost),
		duplicate:        reg.Counter(report.CounterDeliveryDuplicate),
		reordered:        reg.Counter(report.CounterDeliveryReordered),
		vus:              reg.Gauge(report.GaugeVUs),
		connsOpen:        reg.Gauge(report.GaugeConnsOpen),
	}
}

func (m *metrics) counter(name string) *report.Counter { return m.tags.Counter(name) }

// closed is the counter conn.closed.<code>.
func (m *metrics) closed(code uint16) *report.Counter {
	return m.tags.Counter(report.PrefixConnClosed + strconv.Itoa(int(code)))
}
