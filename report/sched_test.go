package report

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestSchedSampler(t *testing.T) {
	reg := NewRegistry()
	s := NewSchedSampler(reg)
	// Make the scheduler work: many goroutines yielding to each other.
	var wg sync.WaitGroup
	for g := 0; g < 200; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	s.Sample()
	iv := reg.Tick(time.Now())
	h := iv.Latencies[SchedLatency]
	if h == nil || h.TotalCount() == 0 {
		t.Fatalf("no scheduling delays recorded after 40,000 yields")
	}
	// A second sample with nothing new adds (almost) nothing: the baseline moved.
	first := h.TotalCount()
	s.Sample()
	if n := reg.Tick(time.Now()).Latencies[SchedLatency].TotalCount(); n >= first {
		t.Errorf("second sample recorded %d delays, first %d: the baseline did not move", n, first)
	}
}

func TestLatencyRecordN(t *testing.T) {
	reg := NewRegistry()
	l := reg.Latency("x")
	l.RecordN(2*time.Millisecond, 5)
	l.RecordN(-time.Second, 2) // clamped to 0
	l.RecordN(time.Millisecond, 0)
	res := reg.Results(Meta{})
	st, _ := res.Latency("x")
	if st.Count != 7 || st.Clamped != 2 || st.Max < 2*time.Millisecond-time.Microsecond {
		t.Errorf("count %d clamped %d max %v, want 7, 2, ≈2ms", st.Count, st.Clamped, st.Max)
	}
}
