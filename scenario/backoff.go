package scenario

// backoff.go spaces out a virtual user's dials after failures, so that a
// server that refuses (or a source address that cannot be bound) does not
// turn every VU into a tight loop of failing dials: after n consecutive
// failed dials the VU waits a delay drawn uniformly from
// [0, min(Max, Initial·2^(n−1))) ("full jitter", which spreads the retries
// of many VUs that failed together) before it dials again. A successful
// dial resets it. Configured by `connect: {backoff: {initial, max}}`.

import (
	"fmt"
	"time"
)

// Defaults of `connect.backoff`.
const (
	DefaultDialBackoffInitial = 100 * time.Millisecond
	DefaultDialBackoffMax     = 5 * time.Second
)

// DialBackoff configures the wait before a VU dials again after failed
// dials. Zero fields take the defaults.
type DialBackoff struct {
	Initial time.Duration // ceiling of the first wait
	Max     time.Duration // highest ceiling
}

// withDefaults fills in zero fields.
func (b DialBackoff) withDefaults() DialBackoff {
	if b.Initial <= 0 {
		b.Initial = DefaultDialBackoffInitial
	}
	if b.Max <= 0 {
		b.Max = max(DefaultDialBackoffMax, b.Initial)
	}
	return b
}

// check reports a configuration that cannot work.
func (b DialBackoff) check() error {
	if b.Initial > 0 && b.Max > 0 && b.Max < b.Initial {
		return fmt.Errorf("max %s is below initial %s", b.Max, b.Initial)
	}
	return nil
}

// ceiling is the upper bound of the wait after failures consecutive
// failed dials (≥ 1): Initial·2^(failures−1), capped at Max.
func (b DialBackoff) ceiling(failures int) time.Duration {
	b = b.withDefaults()
	if failures <= 0 {
		return 0
	}
	shift := failures - 1
	if shift >= 62 || b.Initial > b.Max>>shift {
		return b.Max
	}
	return b.Initial << shift
}

// dialBackoff is one VU's state: consecutive failed dials.
type dialBackoff struct {
	failures int
}

// next is the wait before the next dial: 0 after a success, otherwise
// uniform in [0, ceiling) drawn from rnd (which returns a value in [0, n),
// like rand.Int64N).
func (s *dialBackoff) next(cfg DialBackoff, rnd func(n int64) int64) time.Duration {
	c := cfg.ceiling(s.failures)
	if c <= 0 {
		return 0
	}
	return time.Duration(rnd(int64(c)))
}

// failed records a failed dial; succeeded resets the count.
func (s *dialBackoff) failed()    { s.failures++ }
func (s *dialBackoff) succeeded() { s.failures = 0 }

// dialBackoff parses `connect.backoff: {initial: D, max: D}`.
func (d *decoder) dialBackoff(n *ynode, field string) DialBackoff {
	var b DialBackoff
	if !d.object(n, field, []string{"initial", "max"}) {
		return b
	}
	for i, k := range n.keys {
		v, f := n.vals[i], join(field, k.str)
		switch k.str {
		case "initial":
			b.Initial, _ = d.positiveDur(v, f)
		case "max":
			b.Max, _ = d.positiveDur(v, f)
		}
	}
	if err := b.check(); err != nil {
		d.fail(n, field, "%v", err)
	}
	return b
}

// backoffWait waits before a dial as long as the VU's failed dials ask
// for. A wait cut by the end of the load (or a cancel) ends the iteration
// without a dial, as cancelled: no VU holds the run past its end for a
// dial it was only waiting to make.
func (v *vu) backoffWait(cfg DialBackoff) error {
	d := v.backoff.next(cfg, v.vars.rng().Int64N)
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
	case <-v.loadDone:
	}
	v.timer.Stop()
	return errCancelled
}
