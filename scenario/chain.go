package scenario

// chain.go: round trips run to completion on the run's event loops.
//
// A repeat of one send and one expect, unpaced, is the hot loop of a
// request/reply or echo test. Run step by step, each round trip wakes the
// VU's goroutine for the reply and parks it again after the next send: a
// goroutine switch and a trip through the runtime's netpoller per round
// trip, which a single-threaded C client does not pay. Chained, the VU
// sends the first request and parks (dialer.Conn.WaitEach); the event loop
// that reads its socket handles the reply like any message (link.handle:
// counters, listeners, the backlog), records the expect, renders the next
// request and writes it with one non-blocking write (WriteTextNow), gives
// the new wait its own timeout (SetWaitEnd) and goes on to the next ready
// socket. The VU wakes only when the repeat is over, the expect times out,
// the connection ends (a cancel closes it), or a write did not go out whole
// (it then finishes the write itself, by its next read, and waits on).
// Everything recorded is what the steps would have recorded; the loop owns
// the VU's state only while the VU is parked.
//
// It is off unless RunOptions.Chain is set: while a socket sits both in
// the runtime's netpoller and in a loop's epoll set, every reply wakes
// both, and on two CPUs that ate the gain at 1,000 connections
// (BENCHMARKS.md, session 8).

import (
	"time"

	"github.com/wsbench/wsbench/dialer"
)

// chainable reports whether a repeat's compiled steps are one send then one
// expect.
func chainable(sub []cstep) bool {
	return len(sub) == 2 && sub[0].Kind == StepSend && sub[1].Kind == StepExpect
}

// States of a chain, set by onMsg for the VU.
const (
	chainWaiting    = iota // the expect of iteration k waits for its reply
	chainDone              // the last reply came: the repeat is over
	chainSendFailed        // the next request's write failed (counted)
)

// chain is a VU's state for running a repeat chained. One per VU, reused.
type chain struct {
	v         *vu
	send, exp *cstep
	count     int       // the repeat's count (0: none)
	end       time.Time // the repeat's end (zero: none)
	timeout   time.Duration
	k         int // iterations started
	inLoop    int // of which the loop started (reported to the runner)
	state     uint8
	fn        func(dialer.Message) bool // onMsg, bound once
}

// chain returns the VU's chain, set up for repeat st ending at end.
func (v *vu) chain(st *cstep, end time.Time) *chain {
	ch := v.ch
	if ch == nil {
		ch = &chain{v: v}
		ch.fn = ch.onMsg
		v.ch = ch
	}
	ch.send, ch.exp = &st.sub[0], &st.sub[1]
	ch.count, ch.end, ch.k = st.Repeat.Count, end, 0
	ch.timeout = ch.exp.Expect.timeout()
	return ch
}

// more reports whether the repeat has another iteration to start at now.
func (ch *chain) more(now time.Time) bool {
	if ch.count > 0 && ch.k >= ch.count {
		return false
	}
	if ch.end.IsZero() {
		return ch.count > 0
	}
	return now.Before(ch.end)
}

// run is runRepeat for a chain: the VU starts each iteration that the
// loop could not start for it.
func (ch *chain) run() error {
	v := ch.v
	ch.inLoop = 0
	defer func() { v.s.r.chained.Add(int64(ch.inLoop)) }()
	for ch.more(time.Now()) {
		ch.k++
		if err := v.step(ch.send, sched{}); err != nil {
			return err
		}
		if err := ch.expect(); err != nil {
			return err
		}
		if ch.state == chainDone {
			return nil
		}
	}
	return nil
}

// expect runs the expect of iteration k, and the round trips the loop
// chains after it.
func (ch *chain) expect() error {
	v := ch.v
	l := v.link
	p := l.poller()
	if v.ctx.Err() != nil || p == nil {
		return v.step(ch.exp, sched{})
	}
	l.own()
	l.unreadSends, l.unreadBytes = 0, 0
	for {
		if at, ok := l.takeBacklog(ch.exp, v.vars, v.lastSend); ok {
			ch.state = chainWaiting
			return v.expectEnd(ch.exp, true, at)
		}
		if l.dead.Load() {
			return errConnLost
		}
		ch.state = chainWaiting
		l.waitKind, l.want = waitExpect, ch.exp
		out := l.waitUntil(p, ch.fn, time.Now().Add(ch.timeout))
		l.waitKind, l.want = waitNone, nil
		switch ch.state {
		case chainDone:
			return nil
		case chainSendFailed:
			return errConnLost
		}
		if out != readGot {
			return v.expectEnd(ch.exp, false, time.Time{})
		}
		// A request not written whole: this wait's read finishes it.
	}
}

// onMsg is the chain's WaitEach callback, on a loop or (for messages
// already buffered) on the VU's goroutine: handle the message; when it is
// the awaited reply, record it and start the next round trip in place.
func (ch *chain) onMsg(msg dialer.Message) bool {
	v := ch.v
	l := v.link
	now := time.Now()
	if !l.handle(msg, now) {
		return false
	}
	_ = v.expectEnd(ch.exp, true, now) // ok: records, never fails
	if !ch.more(now) {
		ch.state = chainDone
		return true
	}
	// No check of the VU's context here: a cancel closes the connection
	// (link.abandon), which ends this wait, and a request written after
	// the close frame fails without counting an error. Polling ctx.Done
	// per round trip cost a cache miss per VU.
	ch.k++
	ch.inLoop++
	s := ch.send.Send
	b := v.renderSend(s)
	now = time.Now()
	var flushed bool
	var err error
	if s.Kind == PayloadBinary {
		flushed, err = l.c.WriteBinaryNow(b)
	} else {
		flushed, err = l.c.WriteTextNow(b)
	}
	if err != nil {
		_ = v.sendFailed(err)
		ch.state = chainSendFailed
		return true
	}
	v.sent(len(b), now, sched{})
	l.waitKind, l.want = waitExpect, ch.exp
	if !flushed {
		return true
	}
	l.c.SetWaitEnd(now.Add(ch.timeout))
	return false
}
