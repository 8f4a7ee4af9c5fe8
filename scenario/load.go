package scenario

// load.go holds the load models that start and stop virtual users: the
// closed model (a number of VUs that follows the stages, each looping over
// the steps) and the open model (arrivals at a rate that follows the stages,
// each running the steps once on a VU taken from a bounded pool).

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbench/wsbench/report"
)

// rampTick is how often the closed model adjusts its VU count.
const rampTick = 100 * time.Millisecond

// vuRunner is what a load model drives: one virtual user. iterate runs the
// steps once and returns when they are done or ctx is cancelled; close
// releases the VU's connection when the VU stops for good.
type vuRunner interface {
	iterate(ctx context.Context)
	close()
}

// vuFactory makes the VU with the given global number (1-based).
type vuFactory func(vu int) vuRunner

// stageValue is the load level at el: start, then a linear ramp to each
// stage's target over its duration; after the last stage its target.
func stageValue(start float64, stages []Stage, el time.Duration) float64 {
	v := start
	for _, s := range stages {
		if el < s.Duration {
			return v + (s.Target-v)*float64(el)/float64(s.Duration)
		}
		el -= s.Duration
		v = s.Target
	}
	return v
}

// peakValue is the highest level the load reaches.
func peakValue(start float64, stages []Stage) float64 {
	p := start
	for _, s := range stages {
		p = max(p, s.Target)
	}
	return p
}

// vuCount turns a (fractional) load level into a whole VU count.
func vuCount(v float64) int {
	if v <= 0 || math.IsNaN(v) {
		return 0
	}
	return int(math.Floor(v + 1e-9))
}

// loadEnv is what both load models share.
type loadEnv struct {
	load    Load
	seg     Segment
	length  time.Duration // when the load ends (0: closed model with iterations only)
	grace   time.Duration // graceful stop
	factory vuFactory
	vus     *report.Gauge   // may be nil
	dropped *report.Counter // open model; may be nil
	wg      *sync.WaitGroup // every VU goroutine is added to it
}

// closedSlot is one local VU position of the closed model.
type closedSlot struct {
	stop     atomic.Bool // finish the current iteration, then exit
	cancel   context.CancelFunc
	done     chan struct{}
	running  bool      // a goroutine is live for this slot (executor-owned)
	finished bool      // its iterations are all done: never restarted
	exhaust  bool      // set by the goroutine before done closes
	stopAt   time.Time // when stop was requested
}

// runClosed runs the closed model until its length passes (or, with an
// iteration cap and no length, until every VU is done), then stops every
// VU gracefully and returns once all of them have exited. loadCtx ends the
// load early (plan duration cap, Ctrl-C); hardCtx cancels VUs at once.
func runClosed(loadCtx, hardCtx context.Context, e loadEnv) {
	start := time.Now()
	stages := e.load.Stages
	startLevel := float64(e.load.VUs)
	peak := vuCount(peakValue(startLevel, stages))
	capacity := e.seg.Scale(peak)
	first := e.seg.First(peak)
	iters := e.load.Iterations
	if e.length <= 0 && iters <= 0 {
		iters = 1 // nothing bounds the run otherwise
	}
	slots := make([]closedSlot, capacity)

	startSlot := func(i int) {
		s := &slots[i]
		ctx, cancel := context.WithCancel(hardCtx)
		s.stop.Store(false)
		s.cancel, s.done, s.running, s.exhaust = cancel, make(chan struct{}), true, false
		vu := e.factory(first + i + 1)
		if e.vus != nil {
			e.vus.Add(1)
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(s.done)
			defer cancel()
			defer vu.close()
			if e.vus != nil {
				defer e.vus.Add(-1)
			}
			for n := 0; !s.stop.Load() && ctx.Err() == nil; n++ {
				if iters > 0 && n >= iters {
					s.exhaust = true
					return
				}
				vu.iterate(ctx)
			}
		}()
	}
	// reap notes slots whose goroutine has exited.
	reap := func() (live int) {
		for i := range slots {
			s := &slots[i]
			if !s.running {
				continue
			}
			select {
			case <-s.done:
				s.running = false
				s.finished = s.exhaust
			default:
				live++
			}
		}
		return live
	}

	tick := time.NewTicker(rampTick)
	defer tick.Stop()
	for {
		el := time.Since(start)
		if e.length > 0 && el >= e.length {
			break
		}
		live := reap()
		n := min(e.seg.Scale(vuCount(stageValue(startLevel, stages, el))), capacity)
		now := time.Now()
		for i := range slots {
			s := &slots[i]
			switch {
			case i < n && !s.running && !s.finished:
				startSlot(i)
				live++
			case i < n && s.running && s.stop.Load():
				s.stop.Store(false) // wanted again before it stopped
			case i >= n && s.running && !s.stop.Load():
				s.stop.Store(true)
				s.stopAt = now
			case i >= n && s.running && now.Sub(s.stopAt) >= e.grace:
				s.cancel() // ramp-down grace passed
			}
		}
		if iters > 0 && live == 0 {
			done := 0
			for i := range slots {
				if slots[i].finished {
					done++
				}
			}
			if done == capacity {
				break // every VU did all its iterations
			}
		}
		select {
		case <-loadCtx.Done():
		case <-tick.C:
			continue
		}
		break
	}

	// Graceful stop: let running iterations finish, then cancel.
	for i := range slots {
		slots[i].stop.Store(true)
	}
	waitSlots(hardCtx, e.grace, func(yield func(done <-chan struct{}, cancel context.CancelFunc)) {
		for i := range slots {
			if slots[i].running {
				yield(slots[i].done, slots[i].cancel)
			}
		}
	})
}

// waitSlots waits up to grace (or until hardCtx ends) for every listed VU
// to exit, then cancels the rest and waits for them.
func waitSlots(hardCtx context.Context, grace time.Duration, each func(func(<-chan struct{}, context.CancelFunc))) {
	timer := time.NewTimer(grace)
	defer timer.Stop()
	expired := false
	each(func(done <-chan struct{}, cancel context.CancelFunc) {
		if !expired {
			select {
			case <-done:
				return
			case <-timer.C:
				expired = true
			case <-hardCtx.Done():
				expired = true
			}
		}
		cancel()
		<-done
	})
}

// arrivalSchedule gives the start offset of every arrival of an open-model
// load: arrival i (0-based) starts when the integral of the rate reaches i.
type arrivalSchedule struct {
	pieces []ratePiece
	length time.Duration
}

type ratePiece struct {
	t0     float64 // start, seconds
	dur    float64 // seconds
	r0, r1 float64 // rate at start and end, per second
	a0     float64 // arrivals before t0
}

func newArrivalSchedule(l Load) arrivalSchedule {
	var s arrivalSchedule
	r, t, a := l.Rate, 0.0, 0.0
	add := func(d time.Duration, to float64) {
		p := ratePiece{t0: t, dur: d.Seconds(), r0: r, r1: to, a0: a}
		s.pieces = append(s.pieces, p)
		t += p.dur
		a += (p.r0 + p.r1) / 2 * p.dur
		r = to
	}
	if len(l.Stages) == 0 {
		add(l.Duration, l.Rate)
	}
	for _, st := range l.Stages {
		add(st.Duration, st.Target)
	}
	s.length = l.Length()
	return s
}

// at returns the offset of arrival i and false when the load ends before it.
// piece is a cursor that callers asking in increasing order keep.
func (s *arrivalSchedule) at(i int64, piece *int) (time.Duration, bool) {
	x := float64(i)
	for ; *piece < len(s.pieces); *piece++ {
		p := s.pieces[*piece]
		area := (p.r0 + p.r1) / 2 * p.dur
		if x >= p.a0+area || p.dur == 0 {
			continue
		}
		// Solve a0 + r0·τ + (r1−r0)·τ²/(2·dur) = x for τ in [0, dur).
		need := x - p.a0
		var tau float64
		k := (p.r1 - p.r0) / (2 * p.dur)
		if math.Abs(k) < 1e-12 {
			tau = need / p.r0
		} else {
			disc := p.r0*p.r0 + 4*k*need
			tau = (-p.r0 + math.Sqrt(max(disc, 0))) / (2 * k)
		}
		tau = min(max(tau, 0), p.dur)
		return time.Duration((p.t0 + tau) * float64(time.Second)), true
	}
	return 0, false
}

// countMissed counts as dropped the arrivals from i on (owned by this
// segment) that were due before elapsed.
func countMissed(sched *arrivalSchedule, i int64, piece int, elapsed time.Duration, e loadEnv) {
	if e.dropped == nil {
		return
	}
	for ; ; i++ {
		off, ok := sched.at(i, &piece)
		if !ok || off >= sched.length || off >= elapsed {
			return
		}
		if e.seg.OwnsArrival(i) {
			e.dropped.Inc()
		}
	}
}

// openVU is one pooled VU of the open model.
type openVU struct {
	work   chan struct{}
	vu     vuRunner
	done   chan struct{}
	cancel context.CancelFunc
}

// runOpen runs the open model: every arrival this segment owns starts, at
// its scheduled time (never later than needed: a late executor catches up
// without sleeping), one iteration on an idle pooled VU, starting a new VU
// while fewer than the segment's share of MaxVUs exist; with none free the
// arrival is counted in arrivals.dropped. Then it stops gracefully like
// runClosed.
func runOpen(loadCtx, hardCtx context.Context, e loadEnv) {
	maxVUs := max(e.load.MaxVUs, 1)
	capacity := max(e.seg.Scale(maxVUs), 1)
	first := e.seg.First(maxVUs)
	sched := newArrivalSchedule(e.load)
	vuCtx, stopIdle := context.WithCancel(hardCtx) // ends idle waits at load end
	defer stopIdle()

	idle := make(chan *openVU, capacity)
	var pool []*openVU
	var soft atomic.Bool // load over: finish the iteration, do not wait for more

	startVU := func() *openVU {
		ov := &openVU{work: make(chan struct{}, 1), vu: e.factory(first + len(pool) + 1), done: make(chan struct{})}
		pool = append(pool, ov)
		ctx, cancel := context.WithCancel(hardCtx)
		ov.cancel = cancel
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(ov.done)
			defer cancel()
			defer ov.vu.close()
			for {
				select {
				case <-ov.work:
				case <-vuCtx.Done():
					// An arrival handed over just before the load ended
					// still runs (select picks at random among ready cases).
					select {
					case <-ov.work:
					default:
						return
					}
				}
				// The open model's vus gauge counts VUs running an
				// iteration, not idle pooled ones.
				if e.vus != nil {
					e.vus.Add(1)
				}
				ov.vu.iterate(ctx)
				if e.vus != nil {
					e.vus.Add(-1)
				}
				if soft.Load() || ctx.Err() != nil {
					return
				}
				idle <- ov // never blocks: capacity holds every VU
			}
		}()
		return ov
	}

	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	piece := 0
	var i int64
loop:
	for ; ; i++ {
		off, ok := sched.at(i, &piece)
		if !ok || off >= sched.length {
			break
		}
		if !e.seg.OwnsArrival(i) {
			continue
		}
		if wait := time.Until(start.Add(off)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-loadCtx.Done():
				break loop
			}
		} else if loadCtx.Err() != nil {
			// The load ended while this executor was behind: the
			// arrivals already due were never started. They count as
			// dropped, so a saturated generator cannot hide them.
			countMissed(&sched, i, piece, time.Since(start), e)
			break
		}
		select {
		case ov := <-idle:
			ov.work <- struct{}{}
		default:
			if len(pool) < capacity {
				startVU().work <- struct{}{}
			} else if e.dropped != nil {
				e.dropped.Inc()
			}
		}
	}
	if loadCtx.Err() == nil && sched.length > 0 {
		// Wait out the rest of the load after the last arrival.
		if wait := time.Until(start.Add(sched.length)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-loadCtx.Done():
			}
		}
	}
	soft.Store(true)
	stopIdle()
	waitSlots(hardCtx, e.grace, func(yield func(<-chan struct{}, context.CancelFunc)) {
		for _, ov := range pool {
			yield(ov.done, ov.cancel)
		}
	})
}
