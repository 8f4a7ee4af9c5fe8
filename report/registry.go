// Package report is where measurements go in the data flow of wsbench:
// virtual users record samples into a Registry (HdrHistograms per latency
// metric, counters, gauges); once a second the runner closes an Interval
// and hands it to every Sink (sink.go: live progress line, HdrHistogram
// interval log, a worker's stream, the Prometheus push); at the end the
// Registry yields Results, which are data first: rendered in the Formats
// of output.go (summary tables, JSON with the full histograms, HTML,
// series), read back, merged with the results of other processes, and
// checked against thresholds that decide the exit status.
//
// Latency values are kept in nanoseconds in histograms that track 1 ns to
// one hour with 3 significant digits (see HistLowest, HistHighest,
// HistSigFigs), so figures stay exact to 0.1 % from a microsecond up; values
// above the range (or negative) are clamped and counted.
package report

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry shared by every latency metric, in nanoseconds. Every
// histogram the package creates, encodes or merges uses it, so merges are
// exact.
const (
	HistLowest  = int64(1)         // 1 ns: 3 significant digits hold from the first microsecond
	HistHighest = int64(time.Hour) // larger values are clamped to it and counted
	HistSigFigs = 3                // relative error ≤ 0.1 %

	cacheLine = 64 // padding against false sharing of hot atomics
	maxShards = 64 // upper bound of histogram shards per metric
	tryShards = 4  // shards tried with TryLock before blocking
)

// newHist returns an empty histogram with the package geometry.
func newHist() *hdr.Histogram { return hdr.New(HistLowest, HistHighest, HistSigFigs) }

// HistMax returns the highest value recorded in h, as h.Max() does, but
// scans the counts only up to the last sample, in blocks, instead of
// walking every bucket of the 1 ns – 1 h range: about 30× faster on a
// second's histogram (BenchmarkHistMax), which matters once per latency
// series per interval (Tick's series point, the Prometheus push).
// TestHistMax holds it equal to h.Max().
func HistMax(h *hdr.Histogram) int64 { return h.ValueAtPercentile(100) }

// Registry holds every metric of a run. All methods are safe for concurrent
// use. Handles returned by Latency, Counter and Gauge stay valid for the
// life of the Registry; callers look them up once and keep them.
type Registry struct {
	mu        sync.RWMutex
	latencies map[string]*Latency
	counters  map[string]*Counter
	gauges    map[string]*Gauge
	nshards   int

	// snap serialises Tick and Results so that a sample moving from a shard
	// to the totals is seen exactly once.
	snap     sync.Mutex
	start    time.Time
	lastTick time.Time
	last     map[string]int64 // counter values at the previous Tick
	series   []SeriesPoint

	examples examples // one message per counter name (outcome.go)

	tagsets map[string]*Tagged // by Tags.String(), at most MaxTagSets (tags.go)
}

// NewRegistry returns an empty Registry whose run starts now (see StartAt).
func NewRegistry() *Registry {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < maxShards {
		n <<= 1
	}
	now := time.Now()
	return &Registry{
		latencies: make(map[string]*Latency),
		counters:  make(map[string]*Counter),
		gauges:    make(map[string]*Gauge),
		nshards:   n,
		start:     now,
		lastTick:  now,
		last:      make(map[string]int64),
		tagsets:   make(map[string]*Tagged),
	}
}

// StartAt sets the start of the run, from which the first Interval and the
// elapsed times count. Call it before the first Tick.
func (r *Registry) StartAt(t time.Time) {
	r.snap.Lock()
	defer r.snap.Unlock()
	r.start = t
	r.lastTick = t
}

// Start returns the start of the run.
func (r *Registry) Start() time.Time {
	r.snap.Lock()
	defer r.snap.Unlock()
	return r.start
}

// Latency returns the latency metric called name, creating it on first use.
func (r *Registry) Latency(name string) *Latency {
	r.mu.RLock()
	l := r.latencies[name]
	r.mu.RUnlock()
	if l != nil {
		return l
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l = r.latencies[name]; l == nil {
		l = newLatency(r, name, r.nshards)
		r.latencies[name] = l
		if metric := SeriesMetric(name); metric != name && r.latencies[metric] == nil {
			// The total of a tagged series is derived at Tick; it records
			// nothing itself unless asked for by name, so one shard does.
			r.latencies[metric] = newLatency(r, metric, 1)
		}
	}
	return l
}

// Counter returns the counter called name, creating it on first use.
func (r *Registry) Counter(name string) *Counter {
	r.mu.RLock()
	c := r.counters[name]
	r.mu.RUnlock()
	if c != nil {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c = r.counters[name]; c == nil {
		c = &Counter{}
		r.counters[name] = c
		if metric := SeriesMetric(name); metric != name && r.counters[metric] == nil {
			r.counters[metric] = &Counter{} // the total, derived at Tick
		}
	}
	return c
}

// Gauge returns the gauge called name, creating it on first use.
func (r *Registry) Gauge(name string) *Gauge {
	r.mu.RLock()
	g := r.gauges[name]
	r.mu.RUnlock()
	if g != nil {
		return g
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if g = r.gauges[name]; g == nil {
		g = &Gauge{}
		if metric := SeriesMetric(name); metric != name {
			// A tagged gauge moves its total with it: gauges change per
			// connection, not per message, and a peak cannot be derived.
			if g.parent = r.gauges[metric]; g.parent == nil {
				g.parent = &Gauge{}
				r.gauges[metric] = g.parent
			}
		}
		r.gauges[name] = g
	}
	return g
}

// Counter is a monotonically increasing count. Add and Inc are one atomic
// add each and do not allocate.
type Counter struct {
	v atomic.Int64
	_ [cacheLine - 8]byte
}

// Add adds n to the counter.
func (c *Counter) Add(n int64) { c.v.Add(n) }

// Inc adds one to the counter.
func (c *Counter) Inc() { c.v.Add(1) }

// Value returns the current count.
func (c *Counter) Value() int64 { return c.v.Load() }

// Gauge is a value that goes up and down (VUs, open connections); it also
// remembers the highest value it has held, over the run and since the last
// Tick. Add and Set do not allocate.
type Gauge struct {
	v      atomic.Int64
	max    atomic.Int64
	peak   atomic.Int64 // highest value since the last Tick
	parent *Gauge       // the run-wide total of a tagged gauge
	_      [cacheLine - 32]byte
}

// Add adds n (which may be negative) to the gauge (and to its total when it
// is a tagged series).
func (g *Gauge) Add(n int64) {
	g.observe(g.v.Add(n))
	if g.parent != nil {
		g.parent.Add(n)
	}
}

// Set sets the gauge to n.
func (g *Gauge) Set(n int64) {
	old := g.v.Swap(n)
	g.observe(n)
	if g.parent != nil {
		g.parent.Add(n - old)
	}
}

// Value returns the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

// Max returns the highest value the gauge has held.
func (g *Gauge) Max() int64 { return g.max.Load() }

func (g *Gauge) observe(v int64) {
	raise(&g.peak, v)
	raise(&g.max, v)
}

// raise sets m to v if v is higher.
func raise(m *atomic.Int64, v int64) {
	for {
		old := m.Load()
		if v <= old || m.CompareAndSwap(old, v) {
			return
		}
	}
}

// takePeak returns the highest value since the previous call and starts
// the next interval's peak at the current value.
func (g *Gauge) takePeak() int64 {
	return g.peak.Swap(g.v.Load()) // every change raised peak, so it is ≥ the current value
}

// Latency is one latency metric: a set of histogram shards, each behind its
// own mutex, that Tick drains into the interval and total histograms.
type Latency struct {
	name    string
	reg     *Registry // counts clamped samples in ErrClampedSample
	mask    uint32
	shards  []latencyShard
	clamped atomic.Int64

	total *hdr.Histogram // guarded by the Registry's snap mutex
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdr.Histogram
	n  int64 // samples since the last drain
	_  [cacheLine - 24]byte
}

func newLatency(reg *Registry, name string, nshards int) *Latency {
	l := &Latency{name: name, reg: reg, mask: uint32(nshards - 1), shards: make([]latencyShard, nshards), total: newHist()}
	for i := range l.shards {
		l.shards[i].h = newHist()
	}
	return l
}

// Name returns the metric name.
func (l *Latency) Name() string { return l.name }

// Record adds one sample. Negative durations are recorded as 0 and values
// above HistHighest as HistHighest; both are counted as clamped, in the
// metric and in the error counter ErrClampedSample, so that a measurement
// the tool got wrong shows in the summary and fails `errors` thresholds.
//
// Record does not allocate (0 allocs/op, see BenchmarkLatencyRecord) and
// scales to many thousands of goroutines: it picks a shard at random (the
// runtime's per-thread generator, no shared state) and takes the first one
// whose lock is free, so recorders rarely wait for each other.
func (l *Latency) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
		l.clamp(1)
	} else if v > HistHighest {
		v = HistHighest
		l.clamp(1)
	}
	i := rand.Uint32()
	for try := 0; try < tryShards; try++ {
		s := &l.shards[(i+uint32(try))&l.mask]
		if s.mu.TryLock() {
			s.record(v)
			s.mu.Unlock()
			return
		}
	}
	s := &l.shards[i&l.mask]
	s.mu.Lock()
	s.record(v)
	s.mu.Unlock()
}

// RecordN adds n samples of d at once (n ≤ 0 adds nothing), with Record's
// clamping.
func (l *Latency) RecordN(d time.Duration, n int64) {
	if n <= 0 {
		return
	}
	v := int64(d)
	if v < 0 {
		v = 0
		l.clamp(n)
	} else if v > HistHighest {
		v = HistHighest
		l.clamp(n)
	}
	s := &l.shards[rand.Uint32()&l.mask]
	s.mu.Lock()
	_ = s.h.RecordValues(v, n)
	s.n += n
	s.mu.Unlock()
}

// clamp counts n clamped samples. It is off the hot path: the error
// counter is looked up (and created) only when a sample is clamped.
func (l *Latency) clamp(n int64) {
	l.clamped.Add(n)
	if l.reg != nil {
		l.reg.Counter(ErrClampedSample).Add(n)
	}
}

func (s *latencyShard) record(v int64) {
	// v is within [0, HistHighest], so RecordValue cannot fail (and so
	// cannot allocate its error).
	_ = s.h.RecordValue(v)
	s.n++
}

// drainInto moves every shard's samples into dst and empties the shards.
func (l *Latency) drainInto(dst *hdr.Histogram) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		if s.n > 0 {
			dst.Merge(s.h)
			s.h.Reset()
			s.n = 0
		}
		s.mu.Unlock()
	}
}

// copyInto adds every shard's samples into dst without emptying the shards.
func (l *Latency) copyInto(dst *hdr.Histogram) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		if s.n > 0 {
			dst.Merge(s.h)
		}
		s.mu.Unlock()
	}
}

// Interval is one closed measurement interval (normally one second).
type Interval struct {
	Start, End time.Time
	Elapsed    time.Duration    // End − the run's start
	Counters   map[string]int64 // counter deltas during the interval
	Totals     map[string]int64 // counter values at End
	Gauges     map[string]int64 // gauge values at End
	// Peaks holds the highest value of each gauge during the interval: an
	// open-model session shorter than the interval is seen here even when
	// Gauges, read at End, is 0.
	Peaks map[string]int64
	// Latencies holds, for every latency metric registered so far, the
	// samples recorded during the interval (nanoseconds, package geometry;
	// empty when none). The Interval owns them.
	Latencies map[string]*hdr.Histogram
}

// Delta returns the change of counter name during the interval.
func (iv *Interval) Delta(name string) int64 { return iv.Counters[name] }

// Total returns the value of counter name at the end of the interval.
func (iv *Interval) Total(name string) int64 { return iv.Totals[name] }

// DeltaPrefix sums the deltas of counters named prefix+"…" (e.g. "errors.").
func (iv *Interval) DeltaPrefix(prefix string) int64 { return sumPrefix(iv.Counters, prefix) }

// TotalPrefix sums the totals of counters named prefix+"…".
func (iv *Interval) TotalPrefix(prefix string) int64 { return sumPrefix(iv.Totals, prefix) }

// LatencyNames returns the latency metric names of the interval in report
// order: the run-wide totals, not the tagged series.
func (iv *Interval) LatencyNames() []string {
	names := make([]string, 0, len(iv.Latencies))
	for n := range iv.Latencies {
		if !IsSeries(n) {
			names = append(names, n)
		}
	}
	sortLatencyNames(names)
	return names
}

// sumPrefix sums the run-wide totals (not the tagged series) named
// prefix+"…".
func sumPrefix(m map[string]int64, prefix string) int64 {
	var s int64
	for k, v := range m {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix && !IsSeries(k) {
			s += v
		}
	}
	return s
}

// Tick closes the current interval at now and returns it: counter deltas,
// gauge values and the interval histograms. The samples move into the
// run's totals, and a point is added to the per-second series. Call it once
// a second from one goroutine (concurrent calls are safe but pointless).
func (r *Registry) Tick(now time.Time) *Interval {
	lats, ctrs, gauges := r.handles()

	r.snap.Lock()
	defer r.snap.Unlock()
	iv := &Interval{
		Start:     r.lastTick,
		End:       now,
		Elapsed:   now.Sub(r.start),
		Counters:  make(map[string]int64, len(ctrs)),
		Totals:    make(map[string]int64, len(ctrs)),
		Gauges:    make(map[string]int64, len(gauges)),
		Peaks:     make(map[string]int64, len(gauges)),
		Latencies: make(map[string]*hdr.Histogram, len(lats)),
	}
	for name, v := range counterTotals(ctrs) {
		iv.Totals[name] = v
		iv.Counters[name] = v - r.last[name]
		r.last[name] = v
	}
	for name, g := range gauges {
		iv.Gauges[name] = g.Value()
		iv.Peaks[name] = g.takePeak()
	}
	for name, l := range lats {
		h := newHist()
		l.drainInto(h)
		iv.Latencies[name] = h
	}
	// A total holds its tagged series' samples too (tags.go).
	for name := range lats {
		if metric := SeriesMetric(name); metric != name {
			iv.Latencies[metric].Merge(iv.Latencies[name])
		}
	}
	for name, l := range lats {
		h := iv.Latencies[name]
		l.total.Merge(h)
		h.SetStartTimeMs(iv.Start.UnixMilli())
		h.SetEndTimeMs(now.UnixMilli())
	}
	r.lastTick = now
	r.series = append(r.series, seriesPoint(iv, r.start))
	return iv
}

// counterTotals reads every counter; a total also counts what its tagged
// series counted (tags.go).
func counterTotals(ctrs map[string]*Counter) map[string]int64 {
	out := make(map[string]int64, len(ctrs))
	for name, c := range ctrs {
		v := c.Value()
		out[name] += v
		if metric := SeriesMetric(name); metric != name {
			out[metric] += v
		}
	}
	return out
}

// handles snapshots the metric maps so that Tick and Results do not hold
// the registry lock while merging histograms.
func (r *Registry) handles() (map[string]*Latency, map[string]*Counter, map[string]*Gauge) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	lats := make(map[string]*Latency, len(r.latencies))
	for k, v := range r.latencies {
		lats[k] = v
	}
	ctrs := make(map[string]*Counter, len(r.counters))
	for k, v := range r.counters {
		ctrs[k] = v
	}
	gauges := make(map[string]*Gauge, len(r.gauges))
	for k, v := range r.gauges {
		gauges[k] = v
	}
	return lats, ctrs, gauges
}

// mainSeriesCounters are the counters whose per-second deltas go into the
// series, besides the aggregates "errors" and "connect_failed" and the
// non-zero deltas of the seriesFamilies.
var mainSeriesCounters = [...]string{
	CounterConnOpened, CounterMsgsSent, CounterMsgsRecv, CounterBytesSent, CounterBytesRecv,
	CounterDeliveryLost, CounterDeliveryDuplicate, CounterDeliveryReordered, CounterIterations, CounterReconnects,
}

// seriesFamilies are the counter families (errors by reason) whose non-zero
// per-second deltas go into the series, so reports can chart them over time.
var seriesFamilies = [...]string{PrefixErrors, PrefixConnFailed}

func seriesPoint(iv *Interval, start time.Time) SeriesPoint {
	p := SeriesPoint{
		T:         int(math.Round(iv.Start.Sub(start).Seconds())),
		Counters:  make(map[string]int64),
		Gauges:    make(map[string]int64, len(iv.Gauges)),
		Latencies: make(map[string]SeriesLatency),
	}
	if p.T < 0 {
		p.T = 0
	}
	// Counters of the totals and of each tagged series (tags.go): the main
	// ones always, the families when non-zero, and the aliases errors and
	// connect_failed summed per tag set.
	for name, v := range iv.Counters {
		metric := SeriesMetric(name)
		suffix := name[len(metric):]
		if slices.Contains(mainSeriesCounters[:], metric) {
			p.Counters[name] = v
		}
		for _, fam := range seriesFamilies {
			if v != 0 && strings.HasPrefix(metric, fam) {
				p.Counters[name] = v
			}
		}
		if v != 0 && strings.HasPrefix(metric, PrefixErrors) {
			p.Counters[AliasErrors+suffix] += v
		}
		if v != 0 && strings.HasPrefix(metric, PrefixConnFailed) {
			p.Counters[AliasConnectFailed+suffix] += v
		}
	}
	for name, v := range iv.Gauges {
		p.Gauges[name] = v
	}
	for name, h := range iv.Latencies {
		if h.TotalCount() == 0 {
			continue
		}
		p.Latencies[name] = SeriesLatency{
			Count: h.TotalCount(),
			P50:   time.Duration(h.ValueAtQuantile(50)),
			P90:   time.Duration(h.ValueAtQuantile(90)),
			P99:   time.Duration(h.ValueAtQuantile(99)),
			Max:   time.Duration(HistMax(h)),
		}
	}
	return p
}

// sortLatencyNames orders latency metrics for reports: connect, handshake,
// then by name, with "<name>.raw" right after "<name>", and each tagged
// series ("<name>{…}", tags.go) right after its total.
func sortLatencyNames(names []string) {
	rank := func(n string) int {
		switch n {
		case LatencyConnect:
			return 0
		case LatencyHandshake:
			return 1
		case SchedLatency:
			return 3
		}
		return 2
	}
	base := func(n string) (string, bool) {
		if len(n) > len(RawSuffix) && strings.HasSuffix(n, RawSuffix) {
			return n[:len(n)-len(RawSuffix)], true
		}
		return n, false
	}
	sort.SliceStable(names, func(i, j int) bool {
		mi, mj := SeriesMetric(names[i]), SeriesMetric(names[j])
		ri, rj := rank(mi), rank(mj)
		if ri != rj {
			return ri < rj
		}
		bi, rawi := base(mi)
		bj, rawj := base(mj)
		if bi != bj {
			return bi < bj
		}
		if rawi != rawj {
			return !rawi
		}
		return names[i] < names[j] // the total ("x") sorts before its series ("x{…}")
	})
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
