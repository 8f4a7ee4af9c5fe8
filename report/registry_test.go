package report

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestRecordTickResults(t *testing.T) {
	r := NewRegistry()
	r.StartAt(t0)
	l := r.Latency("echo")
	if r.Latency("echo") != l {
		t.Fatal("Latency is not get-or-create")
	}
	for i := 1; i <= 100; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	r.Counter("msgs.sent").Add(5)
	r.Gauge("vus").Set(7)
	iv := r.Tick(t0.Add(time.Second))
	if got := iv.Latencies["echo"].TotalCount(); got != 100 {
		t.Fatalf("interval count = %d, want 100", got)
	}
	if iv.Delta("msgs.sent") != 5 || iv.Total("msgs.sent") != 5 || iv.Gauges["vus"] != 7 {
		t.Fatalf("interval counters %v totals %v gauges %v", iv.Counters, iv.Totals, iv.Gauges)
	}
	if iv.Elapsed != time.Second || !iv.Start.Equal(t0) {
		t.Fatalf("interval start %v elapsed %v", iv.Start, iv.Elapsed)
	}
	l.Record(time.Second) // not ticked yet: Results must still see it
	r.Counter("msgs.sent").Add(3)
	iv2 := r.Tick(t0.Add(2 * time.Second))
	if iv2.Delta("msgs.sent") != 3 || iv2.Latencies["echo"].TotalCount() != 1 {
		t.Fatalf("second interval: delta %d count %d", iv2.Delta("msgs.sent"), iv2.Latencies["echo"].TotalCount())
	}
	l.Record(2 * time.Second)
	res := r.Results(Meta{Start: t0, End: t0.Add(3 * time.Second)})
	st, ok := res.Latency("echo")
	if !ok || st.Count != 102 {
		t.Fatalf("results count = %d (ok %v), want 102", st.Count, ok)
	}
	if !near(st.Min, time.Millisecond) || !near(st.Max, 2*time.Second) {
		t.Fatalf("min %v max %v", st.Min, st.Max)
	}
	if !near(st.P50, 51*time.Millisecond) { // 51st of 102 samples
		t.Fatalf("p50 = %v", st.P50)
	}
	// Results does not drain: a later Tick still sees the last sample.
	if iv3 := r.Tick(t0.Add(3 * time.Second)); iv3.Latencies["echo"].TotalCount() != 1 {
		t.Fatalf("third interval count = %d, want 1", iv3.Latencies["echo"].TotalCount())
	}
	if len(res.Series) != 2 || res.Series[0].T != 0 || res.Series[1].T != 1 {
		t.Fatalf("series = %+v", res.Series)
	}
	if res.Series[1].Counters["msgs.sent"] != 3 || res.Series[0].Latencies["echo"].Count != 100 {
		t.Fatalf("series points = %+v", res.Series)
	}
}

func TestRecordClamps(t *testing.T) {
	r := NewRegistry()
	l := r.Latency("x")
	l.Record(-time.Second)
	l.Record(3 * time.Hour)
	l.Record(time.Microsecond)
	r.Latency("y").RecordN(-time.Millisecond, 4)
	res := r.Results(Meta{})
	st, _ := res.Latency("x")
	if st.Count != 3 || st.Clamped != 2 {
		t.Fatalf("count %d clamped %d, want 3 and 2", st.Count, st.Clamped)
	}
	// Never silent: every clamped sample is also an error.
	if n := res.Counters[ErrClampedSample]; n != 6 {
		t.Errorf("%s = %d, want 6 (2 of x, 4 of y)", ErrClampedSample, n)
	}
	if st.Min != 0 || st.Max < time.Hour || st.Max > time.Hour+time.Hour/1000 {
		t.Fatalf("min %v max %v", st.Min, st.Max)
	}
}

func TestPrecisionMicroseconds(t *testing.T) {
	r := NewRegistry()
	l := r.Latency("x")
	for _, d := range []time.Duration{1500 * time.Nanosecond, 37 * time.Microsecond, 812 * time.Microsecond, 59 * time.Second} {
		l.Record(d)
		st, _ := r.Results(Meta{}).Latency("x")
		if diff := float64(st.Max-d) / float64(d); diff < 0 || diff > 0.001 {
			t.Errorf("recorded %v, max reads %v (error %.4f > 0.1%%)", d, st.Max, diff)
		}
	}
}

func TestGaugeMax(t *testing.T) {
	g := NewRegistry().Gauge("vus")
	g.Add(5)
	g.Add(-2)
	g.Set(10)
	g.Set(1)
	if g.Value() != 1 || g.Max() != 10 {
		t.Fatalf("value %d max %d", g.Value(), g.Max())
	}
}

// TestConcurrentRecord hammers one registry from many goroutines while
// another ticks and takes results; run with -race. Nothing may be lost or
// counted twice.
func TestConcurrentRecord(t *testing.T) {
	r := NewRegistry()
	r.StartAt(t0)
	r.Latency("a")
	const workers, per = 200, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var ticked int64
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		now := t0
		for {
			select {
			case <-stop:
				return
			default:
			}
			now = now.Add(time.Second)
			iv := r.Tick(now)
			ticked += iv.Latencies["a"].TotalCount()
			_ = r.Results(Meta{})
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			a := r.Latency("a")
			c := r.Counter("n")
			g := r.Gauge("g")
			for i := 0; i < per; i++ {
				a.Record(time.Duration(w*per+i) * time.Microsecond)
				r.Latency("b").Record(time.Millisecond)
				c.Inc()
				g.Add(1)
				g.Add(-1)
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	<-tickDone
	ticked += r.Tick(t0.Add(time.Hour)).Latencies["a"].TotalCount()
	res := r.Results(Meta{})
	a, _ := res.Latency("a")
	b, _ := res.Latency("b")
	if a.Count != workers*per || b.Count != workers*per || ticked != workers*per {
		t.Fatalf("a %d b %d ticked %d, want %d", a.Count, b.Count, ticked, workers*per)
	}
	if res.Counters["n"] != workers*per || res.Gauges["g"].Last != 0 || res.Gauges["g"].Max < 1 {
		t.Fatalf("counter %d gauge %+v", res.Counters["n"], res.Gauges["g"])
	}
}

func TestSortLatencyNames(t *testing.T) {
	names := []string{"zeta", "delivery.raw", "handshake", "delivery", "connect", "alpha", "delivery-x"}
	sortLatencyNames(names)
	want := []string{"connect", "handshake", "alpha", "delivery", "delivery.raw", "delivery-x", "zeta"}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("got %v, want %v", names, want)
		}
	}
}

func TestRecordAllocs(t *testing.T) {
	l := NewRegistry().Latency("x")
	if n := testing.AllocsPerRun(1000, func() { l.Record(123 * time.Microsecond) }); n != 0 {
		t.Fatalf("Record allocates %.1f times per call, want 0", n)
	}
}

// BenchmarkLatencyRecord measures one Record from one goroutine: 0 allocs/op.
func BenchmarkLatencyRecord(b *testing.B) {
	l := NewRegistry().Latency("x")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Record(time.Duration(i&0xffff) * time.Microsecond)
	}
}

// BenchmarkLatencyRecordParallel measures Record from many goroutines at once: 0 allocs/op.
func BenchmarkLatencyRecordParallel(b *testing.B) {
	l := NewRegistry().Latency("x")
	b.ReportAllocs()
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Record(time.Duration(i&0xffff) * time.Microsecond)
			i++
		}
	})
}

func BenchmarkCounterIncParallel(b *testing.B) {
	c := NewRegistry().Counter("x")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

func BenchmarkTick(b *testing.B) {
	r := NewRegistry()
	for _, n := range []string{"connect", "handshake", "echo", "delivery", "delivery.raw"} {
		l := r.Latency(n)
		for i := 0; i < 1000; i++ {
			l.Record(time.Duration(i) * time.Microsecond)
		}
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		r.Tick(now)
	}
}

// near reports whether got is within HdrHistogram's 0.1 % of want.
func near(got, want time.Duration) bool {
	diff := float64(got-want) / float64(want)
	return diff > -0.001 && diff < 0.001
}

// TestHistMax: HistMax is h.Max(), on histograms of every size and spread.
func TestHistMax(t *testing.T) {
	if HistMax(newHist()) != 0 {
		t.Fatal("HistMax of an empty histogram is not 0")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 3000; n += 7 {
		h := newHist()
		for range n {
			_ = h.RecordValue(rng.Int64N(HistHighest) >> rng.IntN(40))
		}
		if a, b := h.Max(), HistMax(h); a != b {
			t.Fatalf("%d samples: Max %d, HistMax %d", n, a, b)
		}
	}
}

// BenchmarkHistMax compares h.Max() (a walk over every bucket) with HistMax.
func BenchmarkHistMax(b *testing.B) {
	h := newHist()
	for i := range 1000 {
		_ = h.RecordValue(int64(i) * 1000)
	}
	b.Run("Max", func(b *testing.B) {
		for b.Loop() {
			_ = h.Max()
		}
	})
	b.Run("HistMax", func(b *testing.B) {
		for b.Loop() {
			_ = HistMax(h)
		}
	})
}
