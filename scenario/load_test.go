package scenario

import (
	"context"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsbench/wsbench/report"
)

// fakeVU is a vuRunner whose iteration just sleeps.
type fakeVU struct {
	num       int
	d         time.Duration
	iters     *atomic.Int64
	cancelled *atomic.Int64
}

func (f *fakeVU) iterate(ctx context.Context) {
	t := time.NewTimer(f.d)
	defer t.Stop()
	select {
	case <-t.C:
		f.iters.Add(1)
	case <-ctx.Done():
		f.cancelled.Add(1)
	}
}

func (f *fakeVU) close() {}

// fakeLoad records the VU numbers a load model creates.
type fakeLoad struct {
	mu        sync.Mutex
	nums      []int
	iters     atomic.Int64
	cancelled atomic.Int64
	reg       *report.Registry
	wg        sync.WaitGroup
}

func (f *fakeLoad) env(l Load, seg Segment, d time.Duration) loadEnv {
	f.reg = report.NewRegistry()
	return loadEnv{
		load: l, seg: seg, length: l.Length(), grace: time.Second,
		factory: func(num int) vuRunner {
			f.mu.Lock()
			f.nums = append(f.nums, num)
			f.mu.Unlock()
			return &fakeVU{num: num, d: d, iters: &f.iters, cancelled: &f.cancelled}
		},
		vus: f.reg.Gauge("vus"), dropped: f.reg.Counter("arrivals.dropped"), wg: &f.wg,
	}
}

func TestStageValue(t *testing.T) {
	stages := []Stage{{Duration: time.Second, Target: 10}, {Duration: time.Second, Target: 10}, {Duration: 2 * time.Second, Target: 0}}
	for _, tc := range []struct {
		el   time.Duration
		want float64
	}{
		{0, 2}, {500 * time.Millisecond, 6}, {time.Second, 10}, {1500 * time.Millisecond, 10},
		{3 * time.Second, 5}, {4 * time.Second, 0}, {time.Hour, 0},
	} {
		if got := stageValue(2, stages, tc.el); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("stageValue(%v) = %v, want %v", tc.el, got, tc.want)
		}
	}
	if p := peakValue(2, stages); p != 10 {
		t.Errorf("peak %v", p)
	}
}

func TestArrivalSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		load Load
		n    int
		last time.Duration // offset of the last arrival
	}{
		{"constant", Load{Model: Open, Rate: 10, Duration: time.Second}, 10, 900 * time.Millisecond},
		{"ramp", Load{Model: Open, Stages: []Stage{{Duration: time.Second, Target: 100}}}, 50, 0},
		{"ramp down", Load{Model: Open, Rate: 100, Stages: []Stage{{Duration: time.Second, Target: 0}}}, 50, 0},
		{"pause", Load{Model: Open, Rate: 0, Stages: []Stage{{Duration: time.Second, Target: 0}, {Duration: time.Second, Target: 0}}}, 0, 0},
		{"steps", Load{Model: Open, Rate: 20, Stages: []Stage{{Duration: 500 * time.Millisecond, Target: 20}, {Duration: 0, Target: 40}, {Duration: 500 * time.Millisecond, Target: 40}}}, 30, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newArrivalSchedule(tc.load)
			piece, n := 0, 0
			prev := time.Duration(-1)
			for i := int64(0); ; i++ {
				off, ok := s.at(i, &piece)
				if !ok || off >= s.length {
					break
				}
				if off < prev {
					t.Fatalf("arrival %d at %v before arrival %d at %v", i, off, i-1, prev)
				}
				prev = off
				n++
			}
			if n != tc.n {
				t.Errorf("%d arrivals, want %d", n, tc.n)
			}
			if tc.last != 0 && (prev-tc.last).Abs() > time.Millisecond {
				t.Errorf("last arrival at %v, want %v", prev, tc.last)
			}
		})
	}
}

func TestOpenModelArrivalCount(t *testing.T) {
	var f fakeLoad
	l := Load{Model: Open, Rate: 50, Duration: time.Second, MaxVUs: 100}
	start := time.Now()
	runOpen(context.Background(), context.Background(), f.env(l, Segment{}, 5*time.Millisecond))
	f.wg.Wait()
	if el := time.Since(start); el < time.Second {
		t.Errorf("open load ended after %v, before its length", el)
	}
	if n := f.iters.Load(); n != 50 {
		t.Errorf("%d iterations, want 50", n)
	}
	if d := f.reg.Counter("arrivals.dropped").Value(); d != 0 {
		t.Errorf("%d dropped", d)
	}
	if g := f.reg.Gauge("vus"); g.Value() != 0 || g.Max() < 1 || g.Max() > 100 {
		t.Errorf("vus gauge %d max %d", g.Value(), g.Max())
	}
}

func TestOpenModelDropsWithoutFreeVU(t *testing.T) {
	var f fakeLoad
	l := Load{Model: Open, Rate: 50, Duration: 500 * time.Millisecond, MaxVUs: 2}
	runOpen(context.Background(), context.Background(), f.env(l, Segment{}, 200*time.Millisecond))
	f.wg.Wait()
	it, dr := f.iters.Load(), f.reg.Counter("arrivals.dropped").Value()
	if it+dr != 25 || dr < 10 || it < 2 {
		t.Errorf("iterations %d + dropped %d, want 25 with most dropped", it, dr)
	}
	if len(f.nums) != 2 {
		t.Errorf("%d VUs made, want max_vus 2", len(f.nums))
	}
}

func TestClosedModelRampReachesTarget(t *testing.T) {
	var f fakeLoad
	l := Load{Model: Closed, VUs: 0, Stages: []Stage{{Duration: 400 * time.Millisecond, Target: 5}, {Duration: 400 * time.Millisecond, Target: 5}, {Duration: 300 * time.Millisecond, Target: 1}}}
	runClosed(context.Background(), context.Background(), f.env(l, Segment{}, 20*time.Millisecond))
	f.wg.Wait()
	g := f.reg.Gauge("vus")
	if g.Max() != 5 || g.Value() != 0 {
		t.Errorf("vus max %d last %d, want 5 and 0", g.Max(), g.Value())
	}
	sort.Ints(f.nums)
	if f.nums[0] != 1 || f.nums[len(f.nums)-1] != 5 {
		t.Errorf("VU numbers %v, want 1…5", f.nums)
	}
}

func TestClosedModelIterationCapEndsEarly(t *testing.T) {
	var f fakeLoad
	l := Load{Model: Closed, VUs: 3, Duration: time.Hour, Iterations: 4}
	done := make(chan struct{})
	go func() {
		runClosed(context.Background(), context.Background(), f.env(l, Segment{}, time.Millisecond))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("closed model with an iteration cap did not end")
	}
	f.wg.Wait()
	if n := f.iters.Load(); n != 12 {
		t.Errorf("%d iterations, want 12", n)
	}
}

func TestClosedModelGracefulStopCancels(t *testing.T) {
	var f fakeLoad
	l := Load{Model: Closed, VUs: 2, Duration: 100 * time.Millisecond}
	e := f.env(l, Segment{}, time.Hour) // an iteration that never ends by itself
	e.grace = 100 * time.Millisecond
	start := time.Now()
	runClosed(context.Background(), context.Background(), e)
	f.wg.Wait()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("stop took %v", el)
	}
	if f.iters.Load() != 0 {
		t.Errorf("cancelled iterations counted")
	}
}

func TestClosedModelRampDownFinishesIterations(t *testing.T) {
	var f fakeLoad
	// 4 VUs, then at once 1 VU for 600 ms: the 3 newest stop at the end of
	// their 250 ms iteration, not in the middle of it.
	l := Load{Model: Closed, VUs: 4, Stages: []Stage{{Duration: 300 * time.Millisecond, Target: 4}, {Duration: 0, Target: 1}, {Duration: 600 * time.Millisecond, Target: 1}}}
	e := f.env(l, Segment{}, 250*time.Millisecond)
	runClosed(context.Background(), context.Background(), e)
	f.wg.Wait()
	if c := f.cancelled.Load(); c != 0 {
		t.Errorf("%d iterations cut short by the ramp-down or the end", c)
	}
	// VU 1 runs throughout (4 iterations in 0.9 s + graceful stop), VUs 2-4 run 2 each.
	if n := f.iters.Load(); n < 9 || n > 11 {
		t.Errorf("%d iterations, want about 10", n)
	}
	if g := f.reg.Gauge("vus"); g.Max() != 4 || g.Value() != 0 {
		t.Errorf("vus max %d last %d", g.Max(), g.Value())
	}
}

// TestOpenModelCountsArrivalsMissedWhenBehind: when the load ends while the
// executor is behind its schedule (here the first VU takes 300 ms to make,
// past the load's 200 ms end), the arrivals that were already due count as
// dropped instead of vanishing.
func TestOpenModelCountsArrivalsMissedWhenBehind(t *testing.T) {
	var f fakeLoad
	l := Load{Model: Open, Rate: 100, Duration: time.Second, MaxVUs: 100}
	env := f.env(l, Segment{}, time.Millisecond)
	slow := env.factory
	made := 0
	env.factory = func(num int) vuRunner {
		if made++; made == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		return slow(num)
	}
	loadCtx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	runOpen(loadCtx, context.Background(), env)
	f.wg.Wait()
	it, dr := f.iters.Load(), f.reg.Counter("arrivals.dropped").Value()
	// Arrivals 1… due before the executor woke (10 ms apart, ≥ 19 of them
	// before the load's end) are counted; arrival 0 ran.
	if it != 1 || dr < 19 || dr > 40 {
		t.Errorf("iterations %d, dropped %d: want 1 iteration and the ≈29 arrivals due while the executor was stuck counted as dropped", it, dr)
	}
}
