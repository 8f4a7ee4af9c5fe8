package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Meta describes the run a Results came from.
type Meta struct {
	Scenario string    `json:"scenario,omitempty"`
	Target   string    `json:"target,omitempty"`
	Version  string    `json:"version,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Segment  string    `json:"segment,omitempty"` // execution segment of this process ("0:1/3", "0:1" for the whole load); merged files list them all
	// RunID names the run (random, or `run --run-id`); the workers of one
	// run share it. Merged files list every source's, comma-separated.
	RunID string `json:"run_id,omitempty"`
	// ScenarioHash is the sha256 (hex) of the normalized scenario file, so
	// that results of different scenarios are not merged by mistake.
	ScenarioHash string `json:"scenario_hash,omitempty"`
	// Interrupted is set when the run was stopped by SIGINT/SIGTERM.
	Interrupted bool `json:"interrupted,omitempty"`

	StartAt *StartInfo `json:"start_at,omitempty"` // the agreed start of a distributed run (distributed.go)
	Clock   *ClockInfo `json:"clock,omitempty"`    // clock error bounds of the hosts (distributed.go)
}

// Results is everything a run measured, ready for JSON: per-latency
// statistics with the full histogram (mergeable), counters, gauges, a
// per-second series and threshold verdicts. Durations are nanoseconds in
// JSON (fields suffixed _ns).
type Results struct {
	Meta       Meta                  `json:"meta"`
	Sources    int                   `json:"sources"` // number of process results merged into this one (1 for a single run)
	Latencies  []LatencyStats        `json:"latencies"`
	Counters   map[string]int64      `json:"counters"`
	Gauges     map[string]GaugeStats `json:"gauges"`
	Series     []SeriesPoint         `json:"series"`
	Thresholds []Verdict             `json:"thresholds,omitempty"`
	Examples   map[string]string     `json:"examples,omitempty"` // one example message per counter, e.g. the first error of each conn.failed.<reason>

	hists map[string]*hdr.Histogram // decoded histograms by metric name
}

// LatencyStats summarises one latency metric.
type LatencyStats struct {
	Name    string        `json:"name"`
	Count   int64         `json:"count"`
	Clamped int64         `json:"clamped,omitempty"` // samples outside [0, HistHighest], recorded at the bound
	Min     time.Duration `json:"min_ns"`
	P50     time.Duration `json:"p50_ns"`
	P90     time.Duration `json:"p90_ns"`
	P99     time.Duration `json:"p99_ns"`
	P999    time.Duration `json:"p99_9_ns"`
	P9999   time.Duration `json:"p99_99_ns"`
	Max     time.Duration `json:"max_ns"`
	Mean    time.Duration `json:"mean_ns"`
	StdDev  time.Duration `json:"stddev_ns"`
	// Histogram is the full histogram (nanoseconds) in HdrHistogram's V2
	// compressed base64 encoding; Merge and Evaluate decode it.
	Histogram string `json:"histogram"`
}

// GaugeStats is a gauge's value at the end of the run and its highest value.
type GaugeStats struct {
	Last int64 `json:"last"`
	Max  int64 `json:"max"`
}

// SeriesPoint is one interval of the per-second time series.
type SeriesPoint struct {
	T         int                      `json:"t"`                  // interval start, whole seconds after Meta.Start
	Counters  map[string]int64         `json:"counters,omitempty"` // deltas of the main counters and of the aliases errors, connect_failed
	Gauges    map[string]int64         `json:"gauges,omitempty"`
	Latencies map[string]SeriesLatency `json:"latencies,omitempty"`
}

// SeriesLatency is one latency metric within one interval. P90 and Max are
// absent (zero) in files written before they were added.
type SeriesLatency struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns,omitempty"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns,omitempty"`
}

// Results returns everything recorded so far, including samples not yet
// moved by Tick; it does not close an interval. A zero meta.Start becomes
// the registry's start and a zero meta.End the current time. Series offsets
// are relative to meta.Start.
func (r *Registry) Results(meta Meta) *Results {
	lats, ctrs, gauges := r.handles()

	r.snap.Lock()
	defer r.snap.Unlock()
	if meta.Start.IsZero() {
		meta.Start = r.start
	}
	if meta.End.IsZero() {
		meta.End = time.Now()
	}
	res := &Results{
		Meta:      meta,
		Sources:   1,
		Latencies: make([]LatencyStats, 0, len(lats)),
		Counters:  make(map[string]int64, len(ctrs)),
		Gauges:    make(map[string]GaugeStats, len(gauges)),
		hists:     make(map[string]*hdr.Histogram, len(lats)),
	}
	res.Counters = counterTotals(ctrs)
	res.Examples = r.examples.snapshot()
	for name, g := range gauges {
		res.Gauges[name] = GaugeStats{Last: g.Value(), Max: g.Max()}
	}
	names := make([]string, 0, len(lats))
	clamped := make(map[string]int64, len(lats))
	for name, l := range lats {
		h := l.total.Clone()
		l.copyInto(h)
		res.hists[name] = h
		names = append(names, name)
		clamped[name] += l.clamped.Load()
	}
	// A total holds what its tagged series recorded since the last Tick
	// (the earlier samples are in its total already) and their clamps.
	for name, l := range lats {
		if metric := SeriesMetric(name); metric != name {
			l.copyInto(res.hists[metric])
			clamped[metric] += l.clamped.Load()
		}
	}
	sortLatencyNames(names)
	for _, name := range names {
		res.Latencies = append(res.Latencies, statsOf(name, res.hists[name], clamped[name]))
	}
	shift := int(math.Round(r.start.Sub(meta.Start).Seconds()))
	res.Series = make([]SeriesPoint, len(r.series))
	for i, p := range r.series {
		p.T += shift
		res.Series[i] = p
	}
	return res
}

// statsOf computes the statistics of h and encodes it.
func statsOf(name string, h *hdr.Histogram, clamped int64) LatencyStats {
	s := LatencyStats{Name: name, Count: h.TotalCount(), Clamped: clamped}
	if s.Count > 0 {
		s.Min = time.Duration(h.Min())
		s.P50 = time.Duration(h.ValueAtQuantile(50))
		s.P90 = time.Duration(h.ValueAtQuantile(90))
		s.P99 = time.Duration(h.ValueAtQuantile(99))
		s.P999 = time.Duration(h.ValueAtQuantile(99.9))
		s.P9999 = time.Duration(h.ValueAtQuantile(99.99))
		s.Max = time.Duration(HistMax(h))
		s.Mean = time.Duration(math.Round(h.Mean()))
		s.StdDev = time.Duration(math.Round(h.StdDev()))
	}
	enc, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err == nil {
		s.Histogram = string(enc)
	}
	return s
}

// Duration is the length of the run: Meta.End − Meta.Start, or the length
// of the series when the times are missing.
func (r *Results) Duration() time.Duration {
	if !r.Meta.Start.IsZero() && r.Meta.End.After(r.Meta.Start) {
		return r.Meta.End.Sub(r.Meta.Start)
	}
	if n := len(r.Series); n > 0 {
		return time.Duration(r.Series[n-1].T+1) * time.Second
	}
	return 0
}

// Latency returns the statistics of the latency metric name.
func (r *Results) Latency(name string) (LatencyStats, bool) {
	for _, l := range r.Latencies {
		if l.Name == name {
			return l, true
		}
	}
	return LatencyStats{}, false
}

// Histogram returns the decoded histogram of latency metric name (nil when
// unknown). The caller must not modify it.
func (r *Results) Histogram(name string) *hdr.Histogram {
	if h, ok := r.hists[name]; ok {
		return h
	}
	l, ok := r.Latency(name)
	if !ok {
		return nil
	}
	h, err := decodeHist(l)
	if err != nil {
		return nil
	}
	if r.hists == nil {
		r.hists = make(map[string]*hdr.Histogram)
	}
	r.hists[name] = h
	return h
}

// CounterPrefix sums the counters named prefix+"…".
func (r *Results) CounterPrefix(prefix string) int64 { return sumPrefix(r.Counters, prefix) }

func decodeHist(l LatencyStats) (*hdr.Histogram, error) {
	if l.Histogram == "" {
		if l.Count != 0 {
			return nil, fmt.Errorf("latency %q: %d samples but no histogram", l.Name, l.Count)
		}
		return newHist(), nil
	}
	h, err := hdr.Decode([]byte(l.Histogram))
	if err != nil {
		return nil, fmt.Errorf("latency %q: decode histogram: %w", l.Name, err)
	}
	return h, nil
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// ReadJSON reads results written by WriteJSON and decodes their histograms.
func ReadJSON(rd io.Reader) (*Results, error) {
	var r Results
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	if r.Counters == nil {
		r.Counters = make(map[string]int64)
	}
	if r.Gauges == nil {
		r.Gauges = make(map[string]GaugeStats)
	}
	if r.Sources < 1 {
		r.Sources = 1
	}
	r.hists = make(map[string]*hdr.Histogram, len(r.Latencies))
	for _, l := range r.Latencies {
		if l.Name == "" {
			return nil, fmt.Errorf("read results: latency without a name")
		}
		if _, dup := r.hists[l.Name]; dup {
			return nil, fmt.Errorf("read results: latency %q appears twice", l.Name)
		}
		h, err := decodeHist(l)
		if err != nil {
			return nil, fmt.Errorf("read results: %w", err)
		}
		r.hists[l.Name] = h
	}
	return &r, nil
}

// Merge combines the results of several processes or machines into one:
// histograms add (statistics are recomputed from the merged histograms, so
// they are exact), counters add, gauges add (Last is the sum of the lasts;
// Max is the highest of the summed per-second values and of each source's
// own max), and series points add by second offset from the earliest start.
// Per-second percentiles cannot be merged exactly without the per-second
// histograms: the merged p50 is the count-weighted mean, the merged p90 and
// p99 the highest of the sources' (an upper bound); the per-second max is
// exact. Thresholds present in any source are
// re-evaluated on the merged results.
func Merge(rs ...*Results) (*Results, error) {
	if len(rs) == 0 {
		return nil, fmt.Errorf("merge results: nothing to merge")
	}
	out := &Results{
		Latencies: []LatencyStats{},
		Counters:  make(map[string]int64),
		Gauges:    make(map[string]GaugeStats),
		hists:     make(map[string]*hdr.Histogram),
	}
	out.Meta = mergeMeta(rs)
	out.Examples = mergeExamples(rs)
	clamped := make(map[string]int64)
	var names []string
	var exprs []string
	for i, r := range rs {
		out.Sources += max(r.Sources, 1)
		for _, l := range r.Latencies {
			src := r.Histogram(l.Name)
			if src == nil {
				_, err := decodeHist(l)
				return nil, fmt.Errorf("merge results: source %d: %w", i+1, err)
			}
			dst, ok := out.hists[l.Name]
			if !ok {
				dst = newHist()
				out.hists[l.Name] = dst
				names = append(names, l.Name)
			}
			clamped[l.Name] += l.Clamped + dst.Merge(src)
		}
		for k, v := range r.Counters {
			out.Counters[k] += v
		}
		for k, g := range r.Gauges {
			m := out.Gauges[k]
			m.Last += g.Last
			m.Max = max(m.Max, g.Max)
			out.Gauges[k] = m
		}
		for _, v := range r.Thresholds {
			if !slices.Contains(exprs, v.Expr) {
				exprs = append(exprs, v.Expr)
			}
		}
	}
	sortLatencyNames(names)
	for _, name := range names {
		out.Latencies = append(out.Latencies, statsOf(name, out.hists[name], clamped[name]))
	}
	out.Series = mergeSeries(out.Meta.Start, rs)
	for _, p := range out.Series {
		for k, v := range p.Gauges {
			if g, ok := out.Gauges[k]; ok && v > g.Max {
				g.Max = v
				out.Gauges[k] = g
			}
		}
	}
	if len(exprs) > 0 {
		ths := make([]Threshold, 0, len(exprs))
		for _, e := range exprs {
			th, err := ParseThreshold(e)
			if err != nil {
				out.Thresholds = append(out.Thresholds, Verdict{Expr: e, Actual: "invalid", Reason: err.Error()})
				continue
			}
			ths = append(ths, th)
		}
		out.Thresholds = append(out.Thresholds, Evaluate(out, ths)...)
	}
	return out, nil
}

func mergeMeta(rs []*Results) Meta {
	var m Meta
	var scen, tgt, ver, seg, ids, hashes []string
	addUniq := func(list *[]string, s string) {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part != "" && !slices.Contains(*list, part) {
				*list = append(*list, part)
			}
		}
	}
	for _, r := range rs {
		if !r.Meta.Start.IsZero() && (m.Start.IsZero() || r.Meta.Start.Before(m.Start)) {
			m.Start = r.Meta.Start
		}
		if r.Meta.End.After(m.End) {
			m.End = r.Meta.End
		}
		addUniq(&scen, r.Meta.Scenario)
		addUniq(&tgt, r.Meta.Target)
		addUniq(&ver, r.Meta.Version)
		addUniq(&seg, r.Meta.Segment)
		addUniq(&ids, r.Meta.RunID)
		addUniq(&hashes, r.Meta.ScenarioHash)
		m.Interrupted = m.Interrupted || r.Meta.Interrupted
	}
	m.RunID = strings.Join(ids, ",")
	m.ScenarioHash = strings.Join(hashes, ",")
	m.Scenario = strings.Join(scen, ", ")
	m.Target = strings.Join(tgt, ", ")
	m.Version = strings.Join(ver, ", ")
	m.Segment = strings.Join(seg, ",")
	m.StartAt = mergeStart(rs)
	m.Clock = mergeClock(rs)
	return m
}

func mergeSeries(start time.Time, rs []*Results) []SeriesPoint {
	type acc struct {
		p       SeriesPoint
		p50Wsum map[string]float64
	}
	byT := make(map[int]*acc)
	for _, r := range rs {
		shift := 0
		if !start.IsZero() && !r.Meta.Start.IsZero() {
			shift = int(math.Round(r.Meta.Start.Sub(start).Seconds()))
		}
		for _, p := range r.Series {
			t := p.T + shift
			a := byT[t]
			if a == nil {
				a = &acc{p: SeriesPoint{T: t, Counters: map[string]int64{}, Gauges: map[string]int64{}, Latencies: map[string]SeriesLatency{}}, p50Wsum: map[string]float64{}}
				byT[t] = a
			}
			for k, v := range p.Counters {
				a.p.Counters[k] += v
			}
			for k, v := range p.Gauges {
				a.p.Gauges[k] += v
			}
			for k, l := range p.Latencies {
				m := a.p.Latencies[k]
				m.Count += l.Count
				m.P90 = max(m.P90, l.P90)
				m.P99 = max(m.P99, l.P99)
				m.Max = max(m.Max, l.Max)
				a.p50Wsum[k] += float64(l.P50) * float64(l.Count)
				m.P50 = time.Duration(math.Round(a.p50Wsum[k] / float64(max(m.Count, 1))))
				a.p.Latencies[k] = m
			}
		}
	}
	ts := make([]int, 0, len(byT))
	for t := range byT {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	out := make([]SeriesPoint, 0, len(ts))
	for _, t := range ts {
		out = append(out, byT[t].p)
	}
	return out
}
