package scenario

// vu.go is the step interpreter: one virtual user running a scenario's
// steps over one dialer.Conn at a time, with a reader goroutine per open
// connection (link) that counts, runs listeners and hands matching
// messages to a waiting expect. While the VU sleeps (think, pacing) for
// handoverMin or longer, the reader exits and the VU's own goroutine reads
// in its place, so an idle VU costs one goroutine stack, not two.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
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
	// handoverMin is the shortest sleep, and the time an expect waits,
	// before the VU takes over reading from the link's reader goroutine
	// (which then exits, freeing its stack). A hand-over and back costs
	// about 4.5 µs of CPU (BenchmarkReadInlineHandover), so short pacing
	// sleeps and quick replies keep the reader.
	handoverMin = 500 * time.Millisecond
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

// vu is one virtual user. Its fields belong to the VU goroutine, except the
// link which it shares with the link's reader under link.mu.
type vu struct {
	s     *scenarioRun
	vars  *Vars
	lvars *Vars // listeners' variables (reader goroutine); nil without listeners
	link  *link
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
}

func newVU(s *scenarioRun, num int) *vu {
	v := &vu{s: s, vars: NewVars(num, s.sc.Name, s.r.seed, s.r.env)}
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
	m := v.s.r.m
	switch {
	case err == nil:
		m.iterations.Inc()
		v.endConn(true)
	case errors.Is(err, errCancelled):
		v.endConn(false) // interrupted: no verdict
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
	switch st.Kind {
	case StepConnect:
		if err := v.connect(st.dial); err != nil {
			return err
		}
		if v.depth == 0 {
			v.resume = v.top + 1
		} else {
			v.resume = v.top
		}
		return nil
	case StepSend:
		return v.send(st, sc)
	case StepExpect:
		return v.expect(st)
	case StepThink:
		return v.sleep(thinkTime(st.Think, v.vars))
	case StepRepeat:
		return v.repeat(st, sc)
	case StepPing:
		return v.ping(st)
	case StepClose:
		return v.closeStep(st)
	case StepEmit:
		return v.emit(st, sc)
	case StepGroup:
		start := time.Now()
		v.depth++
		defer func() { v.depth-- }()
		for i := range st.sub {
			if err := v.step(&st.sub[i], sc); err != nil {
				return err
			}
		}
		st.lat.Record(time.Since(start))
		return nil
	}
	return fmt.Errorf("%s: unknown step kind %v", st.Pos, st.Kind)
}

// thinkTime draws a think time from the step's distribution.
func thinkTime(t *ThinkStep, v *Vars) time.Duration {
	r := v.rng()
	switch t.Dist {
	case ThinkUniform:
		if t.Max <= t.Min {
			return t.Min
		}
		return t.Min + time.Duration(r.Int64N(int64(t.Max-t.Min)+1))
	case ThinkExponential:
		d := r.ExpFloat64() * float64(t.Mean)
		return time.Duration(min(d, float64(math.MaxInt64/2)))
	}
	return t.Fixed
}

// sleep waits d or until the VU is cancelled. With a connection open and
// d of at least handoverMin, the VU reads it while it sleeps.
func (v *vu) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if l := v.link; l != nil && d >= handoverMin {
		end := time.Now().Add(d)
		switch v.readInline(l, end, false) {
		case inlineDeadline:
			if v.ctx.Err() != nil {
				return errCancelled
			}
			return nil
		case inlineEnded: // sleep out the rest without a connection
			if v.ctx.Err() != nil {
				return errCancelled
			}
			d = time.Until(end)
			if d <= 0 {
				return nil
			}
		}
	}
	if !v.wait(d, nil) {
		return errCancelled
	}
	return nil
}

// Outcomes of readInline.
const (
	inlineGone     = iota // the connection ended before the hand-over: nothing was read
	inlineReady           // the waiting step got its message
	inlineDeadline        // end passed (or the socket was closed by a cancel)
	inlineEnded           // the connection ended while the VU read it
)

// readInline reads l on the VU's goroutine in place of the link's reader,
// which exits for the time (its stack is freed) and is started again
// before readInline returns, unless the connection ended. It reads until
// end, until the waiting expect or ping got its message (untilGot), or
// until the connection ends; messages are handled as the reader would.
func (v *vu) readInline(l *link, end time.Time, untilGot bool) int {
	l.handover.Store(true)
	// A deadline in the past makes the reader's blocked read return at
	// once, without losing a partly read frame.
	_ = l.c.SetReadDeadline(time.Unix(1, 0))
	select {
	case <-l.parked:
	case <-l.done:
		l.handover.Store(false)
		return inlineGone
	}
	_ = l.c.SetReadDeadline(end)
	out := inlineDeadline
	for {
		if untilGot {
			l.mu.Lock()
			got := l.got
			l.mu.Unlock()
			if got {
				out = inlineReady
				break
			}
		}
		msg, err := l.c.ReadMessage()
		now := time.Now()
		if err == nil {
			l.handle(msg, now)
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		l.end(err)
		return inlineEnded
	}
	_ = l.c.SetReadDeadline(time.Time{})
	l.handover.Store(false)
	v.s.r.wg.Add(1)
	go l.read()
	return out
}

// wait blocks until ch is ready (true), d passes (true when ch is nil,
// false otherwise) or the VU is cancelled (false). It reuses one timer per VU.
func (v *vu) wait(d time.Duration, ch <-chan struct{}) bool {
	if v.timer == nil {
		v.timer = time.NewTimer(d)
	} else {
		v.timer.Reset(d)
	}
	select {
	case <-ch:
		v.timer.Stop()
		return true
	case <-v.timer.C:
		return ch == nil
	case <-v.ctx.Done():
		v.timer.Stop()
		return false
	}
}

func (v *vu) repeat(st *cstep, sc sched) error {
	r := st.Repeat
	start := time.Now()
	end := time.Time{}
	if r.Duration > 0 {
		end = start.Add(r.Duration)
	}
	v.depth++
	defer func() { v.depth-- }()
	for k := 0; ; k++ {
		if r.Count > 0 && k >= r.Count {
			return nil
		}
		if r.Count <= 0 && r.Duration <= 0 {
			return nil
		}
		inner := sc
		if r.Every > 0 {
			at := start.Add(time.Duration(k) * r.Every)
			if !end.IsZero() && !at.Before(end) {
				return nil
			}
			if err := v.sleep(time.Until(at)); err != nil {
				return err
			}
			// Late? Run at once; latencies still count from at.
			inner = sched{at: at, actual: time.Now()}
		} else if !end.IsZero() && !time.Now().Before(end) {
			return nil
		}
		for i := range st.sub {
			if err := v.step(&st.sub[i], inner); err != nil {
				return err
			}
		}
	}
}

// connect dials with d, closing any previous connection first.
func (v *vu) connect(d *cdial) error {
	v.endConn(false)
	m := v.s.r.m
	c, tm, err := d.dialApart(v.ctx, v.vars)
	var sio *sioConn
	if err == nil && d.sio != nil {
		sio, err = d.sio.open(v.ctx, c, v.vars)
	}
	if err != nil {
		if v.ctx.Err() != nil {
			return errCancelled
		}
		if v.sioFailed(d, err) {
			return fmt.Errorf("connect: %w", errIterFailed)
		}
		kind := dialer.Kind(err)
		m.counter("conn.failed." + string(kind)).Inc()
		if kind == dialer.KindHandshake {
			m.errHandshake.Inc()
		} else {
			m.errDial.Inc()
		}
		v.s.r.log.Debug("connect failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "err", err)
		return fmt.Errorf("connect: %w", errIterFailed)
	}
	m.connect.Record(tm.Connect)
	m.handshake.Record(tm.Handshake)
	m.opened.Inc()
	m.connsOpen.Add(1)
	v.lastDial = d
	v.lastSend, v.lastPlan = time.Now(), time.Time{}
	l := newLink(v, c)
	l.sio = sio
	// A cancelled VU may be blocked in a write to a server that stopped
	// reading: closing the socket is what unblocks it.
	l.stopAbandon = context.AfterFunc(v.ctx, l.abandon)
	v.link = l
	v.s.r.wg.Add(1)
	go l.read()
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
			v.s.r.m.reconnects.Inc()
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
		v.s.r.m.errNotConnected.Inc()
		return nil, errIterFailed
	}
	l.mu.Lock()
	dead := l.dead
	l.mu.Unlock()
	if dead {
		return nil, errConnLost
	}
	return l, nil
}

func (v *vu) send(st *cstep, sc sched) error {
	l, err := v.liveLink()
	if err != nil {
		return err
	}
	s := st.Send
	v.vars.Seq++
	var p []byte
	switch {
	case s.Kind == PayloadBinary && s.RandomBytes > 0:
		v.buf = appendRandom(v.buf[:0], s.RandomBytes, v.vars)
		p = v.buf
	case s.Kind == PayloadBinary:
		p = s.Raw
	default:
		v.buf = s.Body.Append(v.buf[:0], v.vars)
		p = v.buf
	}
	now := time.Now()
	if s.Kind == PayloadBinary {
		err = l.c.WriteBinary(p)
	} else {
		err = l.c.WriteText(p)
	}
	if err != nil {
		m := v.s.r.m
		m.errSend.Inc()
		v.s.r.log.Debug("send failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "err", err)
		return errConnLost
	}
	m := v.s.r.m
	m.msgsSent.Inc()
	m.bytesSent.Add(int64(len(p)))
	v.lastSend = now
	if sc.at.IsZero() {
		v.lastPlan = time.Time{}
	} else {
		v.lastPlan = sc.at.Add(now.Sub(sc.actual))
	}
	return nil
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

func (v *vu) expect(st *cstep) error {
	l := v.link
	if l == nil {
		v.s.r.m.errNotConnected.Inc()
		return errIterFailed
	}
	e := st.Expect
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultExpectTimeout
	}
	l.mu.Lock()
	// Messages kept before the connection ended still count.
	at, ok := l.takeBacklog(st, v.vars)
	if !ok && l.dead {
		l.mu.Unlock()
		return errConnLost
	}
	if !ok {
		l.want, l.waitKind, l.got = st, waitExpect, false
		l.mu.Unlock()
		// A long wait hands reading over to the VU's goroutine after
		// handoverMin, so a VU idle in an expect costs one stack.
		start := time.Now()
		if !v.wait(min(timeout, handoverMin), l.wake) && timeout > handoverMin && v.ctx.Err() == nil {
			v.readInline(l, start.Add(timeout), true)
		}
		l.mu.Lock()
		ok, at = l.got, l.gotAt
		l.want, l.waitKind, l.got = nil, waitNone, false
		select { // a wake sent after the timer fired
		case <-l.wake:
		default:
		}
	}
	capErr := l.capErr
	l.capErr = nil
	dead := l.dead
	l.mu.Unlock()

	m := v.s.r.m
	if ok {
		if capErr != nil {
			m.errCapture.Inc()
			v.s.r.log.Debug("capture failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "step", e.Name, "err", capErr)
		}
		if v.lastPlan.IsZero() {
			st.lat.Record(at.Sub(v.lastSend))
		} else {
			st.lat.Record(at.Sub(v.lastPlan))
			st.raw.Record(at.Sub(v.lastSend))
		}
		return nil
	}
	switch {
	case v.ctx.Err() != nil:
		return errCancelled
	case dead:
		return errConnLost
	}
	m.errExpectTimeout.Inc()
	if e.OnTimeout == TimeoutContinue {
		return nil
	}
	return errIterFailed
}

func (v *vu) ping(st *cstep) error {
	l, err := v.liveLink()
	if err != nil {
		return err
	}
	p := st.Ping
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultPingTimeout
	}
	l.mu.Lock()
	l.waitKind, l.got = waitPong, false
	l.mu.Unlock()
	sent := time.Now()
	if err := l.c.Ping(p.Payload); err != nil {
		l.mu.Lock()
		l.waitKind = waitNone
		l.mu.Unlock()
		v.s.r.m.errSend.Inc()
		return errConnLost
	}
	v.wait(timeout, l.wake)
	l.mu.Lock()
	ok, at, dead := l.got, l.gotAt, l.dead
	l.waitKind, l.got = waitNone, false
	select {
	case <-l.wake:
	default:
	}
	l.mu.Unlock()
	switch {
	case ok:
		st.lat.Record(at.Sub(sent))
		return nil
	case v.ctx.Err() != nil:
		return errCancelled
	case dead:
		return errConnLost
	}
	v.s.r.m.errPingTimeout.Inc()
	return errIterFailed
}

func (v *vu) closeStep(st *cstep) error {
	l, err := v.liveLink()
	if err != nil {
		return err
	}
	code := st.Close.Code
	if code == 0 {
		code = 1000
	}
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.goodbye()
	if err := l.c.SendClose(code, st.Close.Reason); err != nil {
		v.s.r.m.errSend.Inc()
	} else if !v.wait(closeWait, l.done) && v.ctx.Err() == nil {
		v.s.r.m.errCloseTimeout.Inc()
	}
	v.dropLink()
	if v.ctx.Err() != nil {
		return errCancelled
	}
	return nil
}

// endConn closes the VU's connection if it has one: with a close handshake
// bounded by endCloseWait when graceful, at once otherwise.
func (v *vu) endConn(graceful bool) {
	l := v.link
	if l == nil {
		return
	}
	if graceful && v.ctx != nil && v.ctx.Err() == nil {
		l.mu.Lock()
		dead := l.dead
		l.closing = true
		l.mu.Unlock()
		if !dead {
			l.goodbye()
		}
		if !dead && l.c.SendClose(1000, "") == nil {
			v.wait(endCloseWait, l.done)
		}
	}
	v.dropLink()
}

// dropLink closes the socket and waits for the reader to exit.
func (v *vu) dropLink() {
	l := v.link
	if l == nil {
		return
	}
	if l.stopAbandon != nil {
		l.stopAbandon()
	}
	l.abandon()
	<-l.done
	v.link = nil
}

// abandon closes the socket; the reader then exits without counting an error.
func (l *link) abandon() {
	l.mu.Lock()
	l.abandoned = true
	l.mu.Unlock()
	_ = l.c.Close()
}

// Wait kinds of a link.
const (
	waitNone uint8 = iota
	waitExpect
	waitPong
)

// link is one open connection of a VU and the state its reader goroutine
// shares with the VU goroutine (under mu).
type link struct {
	c      *dialer.Conn
	s      *scenarioRun
	vars   *Vars // the VU's variables: used by the reader only while the VU waits in an expect
	lis    []listenerState
	wake   chan struct{} // capacity 1: the reader wakes a waiting step
	done   chan struct{} // closed once the connection has ended and been accounted for
	parked chan struct{} // capacity 1: the reader exited to hand reading over to the VU

	handover atomic.Bool // the VU asks the reader to exit at its next read timeout

	stopAbandon func() bool // unregisters the close-on-cancel hook

	sio *sioConn // Socket.IO state (socketio.go); nil on raw WebSocket connections

	mu        sync.Mutex
	waitKind  uint8
	want      *cstep
	got       bool
	gotAt     time.Time
	capErr    error
	dead      bool // the reader saw the connection end
	closing   bool // we started the close handshake: the peer's close is expected
	abandoned bool // we closed the socket: read errors are expected
	backlog   [backlogLen]backlogMsg
	bstart    int
	blen      int
}

type backlogMsg struct {
	op ws.OpCode
	at time.Time
	p  []byte
}

func newLink(v *vu, c *dialer.Conn) *link {
	l := &link{c: c, s: v.s, vars: v.vars, wake: make(chan struct{}, 1), done: make(chan struct{}), parked: make(chan struct{}, 1)}
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
// it and returns its arrival time. Called with mu held.
func (l *link) takeBacklog(st *cstep, vars *Vars) (time.Time, bool) {
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
// when full. Called with mu held.
func (l *link) keep(op ws.OpCode, p []byte, at time.Time) {
	if len(p) > backlogMaxMsg {
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

// read is the link's reader goroutine: it handles inbound messages until
// the connection ends, or until the VU takes over reading for a sleep
// (handover set, read deadline in the past). Pings are answered by the
// dialer inside ReadMessage.
func (l *link) read() {
	defer l.s.r.wg.Done()
	for {
		msg, err := l.c.ReadMessage()
		now := time.Now()
		if err == nil {
			l.handle(msg, now)
			continue
		}
		if l.handover.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
			l.parked <- struct{}{}
			return
		}
		l.end(err)
		return
	}
}

// handle counts an inbound message, runs the listeners, and hands it to a
// waiting expect or keeps it in the backlog; a pong goes to a waiting ping.
// It is called by whichever goroutine reads the connection.
func (l *link) handle(msg dialer.Message, now time.Time) {
	if l.sio != nil {
		var ok bool
		if msg, ok = l.sio.inbound(l, msg, now); !ok {
			return
		}
	}
	if msg.Op == ws.OpPong {
		l.mu.Lock()
		if l.waitKind == waitPong {
			l.got, l.gotAt, l.waitKind = true, now, waitNone
			l.signal()
		}
		l.mu.Unlock()
		return
	}
	m := l.s.r.m
	m.msgsRecv.Inc()
	m.bytesRecv.Add(int64(len(msg.Payload)))
	for i := range l.lis {
		l.lis[i].observe(msg.Op, msg.Payload, now, m)
	}
	l.mu.Lock()
	if l.waitKind == waitExpect && l.want.Expect.Match.Match(msg.Op, msg.Payload, l.vars) {
		l.capErr = l.want.Expect.CaptureInto(msg.Payload, l.vars)
		l.got, l.gotAt, l.waitKind = true, now, waitNone
		l.signal()
	} else {
		l.keep(msg.Op, msg.Payload, now)
	}
	l.mu.Unlock()
}

// end records how the connection ended, closes the socket and marks the
// link done.
func (l *link) end(err error) {
	l.fail(err)
	_ = l.c.Close()
	l.s.r.m.connsOpen.Add(-1)
	close(l.done)
}

// signal wakes the VU goroutine without blocking. Called with mu held.
func (l *link) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// fail records how the connection ended and wakes a waiting step.
func (l *link) fail(err error) {
	l.mu.Lock()
	expected, abandoned := l.closing, l.abandoned
	l.dead = true
	l.signal()
	l.mu.Unlock()
	m := l.s.r.m
	var ce *dialer.CloseError
	var pe *dialer.ProtocolError
	switch {
	case errors.As(err, &ce):
		m.closed(ce.Code).Inc()
		if !expected && !abandoned {
			m.errClosedByPeer.Inc()
		}
	case abandoned:
		// We closed the socket ourselves.
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
	d       *dialer.Dialer
	sio     *sioDial  // Socket.IO handshake after the upgrade; nil for raw WebSocket
	url     string    // static URL, or "" when path is a template
	path    *Template // templated path
	base    string
	headers []cheader // templated headers rendered per connection
}

type cheader struct {
	name string
	tmpl *Template
}

// dialApart dials on a short-lived goroutine: dialing runs deep call chains
// (net, TLS, the HTTP upgrade) that grow the dialing goroutine's stack to
// 8 KiB, and a VU's goroutine then keeps that stack while idle (measured:
// 8.3 KiB of stack per idle VU dialing in place, 4.3 KiB dialing apart).
func (d *cdial) dialApart(ctx context.Context, v *Vars) (*dialer.Conn, dialer.Timings, error) {
	type result struct {
		c   *dialer.Conn
		tm  dialer.Timings
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		r.c, r.tm, r.err = d.dial(ctx, v)
		ch <- r
	}()
	r := <-ch
	return r.c, r.tm, r.err
}

func (d *cdial) dial(ctx context.Context, v *Vars) (*dialer.Conn, dialer.Timings, error) {
	url := d.url
	if d.path != nil {
		url = string(d.path.Append([]byte(d.base), v))
	}
	if len(d.headers) == 0 {
		return d.d.Dial(ctx, url)
	}
	h := make(map[string][]string, len(d.headers))
	for _, hd := range d.headers {
		h[hd.name] = []string{hd.tmpl.Render(v)}
	}
	return d.d.DialHeader(ctx, url, h)
}

// metrics holds the handles of every fixed-name metric the runner records.
type metrics struct {
	reg                                         *report.Registry
	connect, handshake                          *report.Latency
	opened, msgsSent, msgsRecv, bytesSent       *report.Counter
	bytesRecv, iterations, iterFailed, dropped  *report.Counter
	reconnects                                  *report.Counter
	errDial, errHandshake, errSend, errProtocol *report.Counter
	errExpectTimeout, errClosedByPeer           *report.Counter
	errNotConnected, errCapture, errPingTimeout *report.Counter
	errCloseTimeout                             *report.Counter
	lost, duplicate, reordered                  *report.Counter
	vus, connsOpen                              *report.Gauge
}

func newMetrics(reg *report.Registry) *metrics {
	return &metrics{
		reg:              reg,
		connect:          reg.Latency("connect"),
		handshake:        reg.Latency("handshake"),
		opened:           reg.Counter("conn.opened"),
		msgsSent:         reg.Counter("msgs.sent"),
		msgsRecv:         reg.Counter("msgs.recv"),
		bytesSent:        reg.Counter("bytes.sent"),
		bytesRecv:        reg.Counter("bytes.recv"),
		iterations:       reg.Counter("iterations"),
		iterFailed:       reg.Counter("iterations.failed"),
		dropped:          reg.Counter("arrivals.dropped"),
		reconnects:       reg.Counter("reconnects"),
		errDial:          reg.Counter("errors.dial"),
		errHandshake:     reg.Counter("errors.handshake"),
		errSend:          reg.Counter("errors.send"),
		errProtocol:      reg.Counter("errors.protocol"),
		errExpectTimeout: reg.Counter("errors.expect_timeout"),
		errClosedByPeer:  reg.Counter("errors.closed_by_peer"),
		errNotConnected:  reg.Counter("errors.not_connected"),
		errCapture:       reg.Counter("errors.capture"),
		errPingTimeout:   reg.Counter("errors.ping_timeout"),
		errCloseTimeout:  reg.Counter("errors.close_timeout"),
		lost:             reg.Counter("delivery.lost"),
		duplicate:        reg.Counter("delivery.duplicate"),
		reordered:        reg.Counter("delivery.reordered"),
		vus:              reg.Gauge("vus"),
		connsOpen:        reg.Gauge("conns.open"),
	}
}

func (m *metrics) counter(name string) *report.Counter { return m.reg.Counter(name) }

// closed is the counter conn.closed.<code>.
func (m *metrics) closed(code uint16) *report.Counter {
	return m.reg.Counter("conn.closed." + strconv.Itoa(int(code)))
}
