package report

// tags.go names the tagged series of a metric (k6's tags): besides its
// run-wide total, every metric is kept per scenario and per user-defined
// tag set, as a series of its own named like a Prometheus selector,
// "delivery{room=big,scenario=lurkers}". A series name is the metric name
// followed by its tags sorted by key, so the same tags always give the same
// name; results files, merges, the per-second series and every output key
// series by that name, and a run-wide total (the bare metric name) is the
// exact sum of its series.
//
// Recording stays as cheap as before: a virtual user records into its own
// series, resolved once when the plan is compiled (Registry.Tagged), and
// the registry derives the total from the series when it closes an
// interval, never per sample.

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// TagScenario is the tag every series of a scenario carries: the
// scenario's name.
const TagScenario = "scenario"

// MaxTagSets bounds the distinct tag sets (scenario × step tags) of one
// run. Each tag set costs a histogram set per latency metric and one
// counter per counter name; a run that asks for more is refused before it
// starts, rather than growing without bound.
const MaxTagSets = 64

// ReservedTagKeys are tag keys a scenario file may not set: scenario is
// set by wsbench, the others are labels of the Prometheus push (promrw).
var ReservedTagKeys = []string{TagScenario, "file", "run_id", "segment", "metric", "quantile", "reason", "code", "kind", "job", "instance"}

// Tag is one key=value pair of a series.
type Tag struct{ Key, Value string }

// Tags is a set of tags sorted by key (see SortTags).
type Tags []Tag

// SortTags sorts tags by key and returns them.
func SortTags(t Tags) Tags {
	slices.SortFunc(t, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	return t
}

// String renders tags as "k=v,k2=v2" (sorted as given).
func (t Tags) String() string {
	var b strings.Builder
	for i, tg := range t {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tg.Key)
		b.WriteByte('=')
		b.WriteString(tg.Value)
	}
	return b.String()
}

// Get returns the value of key.
func (t Tags) Get(key string) (string, bool) {
	for _, tg := range t {
		if tg.Key == key {
			return tg.Value, true
		}
	}
	return "", false
}

// Contains reports whether every tag of sel is in t.
func (t Tags) Contains(sel Tags) bool {
	for _, s := range sel {
		if v, ok := t.Get(s.Key); !ok || v != s.Value {
			return false
		}
	}
	return true
}

// SeriesName returns the name of the series of metric with tags (sorted):
// "metric{k=v,…}", or metric itself without tags.
func SeriesName(metric string, tags Tags) string {
	if len(tags) == 0 {
		return metric
	}
	return metric + "{" + tags.String() + "}"
}

// SplitSeries splits a series name into its metric and tags; ok is false
// for a bare metric name (a run-wide total) and for a malformed name.
func SplitSeries(name string) (metric string, tags Tags, ok bool) {
	open := strings.IndexByte(name, '{')
	if open < 0 || !strings.HasSuffix(name, "}") {
		return name, nil, false
	}
	tags, err := ParseTags(name[open+1 : len(name)-1])
	if err != nil || len(tags) == 0 {
		return name, nil, false
	}
	return name[:open], tags, true
}

// SeriesMetric returns the metric name of a series name (itself for a bare
// metric name).
func SeriesMetric(name string) string {
	if i := strings.IndexByte(name, '{'); i > 0 {
		return name[:i]
	}
	return name
}

// IsSeries reports whether name is a tagged series rather than a total.
func IsSeries(name string) bool { return strings.IndexByte(name, '{') >= 0 }

// ParseTags parses "k=v,k2=v2" (spaces around the parts allowed), checking
// keys and values with CheckTag, and returns the tags sorted by key.
func ParseTags(s string) (Tags, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty tag selector {}: name at least one tag, e.g. {scenario=lurkers}")
	}
	var out Tags
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("tag %q: want key=value", strings.TrimSpace(part))
		}
		v = strings.Trim(v, `"`)
		if err := CheckTag(k, v); err != nil {
			return nil, err
		}
		if _, dup := out.Get(k); dup {
			return nil, fmt.Errorf("tag %q appears twice", k)
		}
		out = append(out, Tag{k, v})
	}
	return SortTags(out), nil
}

// CheckTag says what is wrong with a tag: keys are lower-case letters,
// digits and `_`, starting with a letter (so they are Prometheus label
// names); values are letters, digits, `_`, `-` and `.` (like scenario
// names), at most 64 bytes each.
func CheckTag(key, value string) error {
	if !validTagKey(key) {
		return fmt.Errorf("tag key %q: use lower-case letters, digits and `_`, starting with a letter", key)
	}
	if !validTagValue(value) {
		return fmt.Errorf("tag %s=%q: values use letters, digits, `_`, `-` and `.` (1 to 64 of them)", key, value)
	}
	return nil
}

func validTagKey(k string) bool {
	if k == "" || len(k) > 64 || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validTagValue(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ParseSelector splits a threshold's metric, "delivery" or
// "delivery{scenario=lurkers}", into the metric name and the tags a series
// must carry (nil for the run-wide total).
func ParseSelector(s string) (metric string, tags Tags, err error) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		if strings.IndexByte(s, '}') >= 0 {
			return "", nil, fmt.Errorf("selector %q: `}` without `{`", s)
		}
		return s, nil, nil
	}
	if open == 0 {
		return "", nil, fmt.Errorf("selector %q: a metric name comes before `{`", s)
	}
	if !strings.HasSuffix(s, "}") || strings.Count(s, "{") != 1 || strings.Count(s, "}") != 1 {
		return "", nil, fmt.Errorf("selector %q: want metric{key=value,…}, e.g. delivery{scenario=lurkers}", s)
	}
	tags, err = ParseTags(s[open+1 : len(s)-1])
	if err != nil {
		return "", nil, fmt.Errorf("selector %q: %w", s, err)
	}
	return s[:open], tags, nil
}

// TagSets returns the distinct tag sets of r's series, sorted by their
// rendering.
func (r *Results) TagSets() []Tags {
	seen := map[string]Tags{}
	add := func(name string) {
		if _, t, ok := SplitSeries(name); ok {
			seen[t.String()] = t
		}
	}
	for _, l := range r.Latencies {
		add(l.Name)
	}
	for k := range r.Counters {
		add(k)
	}
	for k := range r.Gauges {
		add(k)
	}
	out := make([]Tags, 0, len(seen))
	for _, k := range sortedKeys(seen) {
		out = append(out, seen[k])
	}
	return out
}

// Select returns the results of the series whose tags contain sel, under
// their bare metric names: latencies whose histograms add, counters that
// add, gauges whose last values and maxima add (the maxima's sum is an
// upper bound when several series match). Meta, Sources and the run's
// duration are r's; the per-second series, thresholds and examples are not
// carried. With an empty sel it returns r's totals unchanged.
func (r *Results) Select(sel Tags) *Results {
	if len(sel) == 0 {
		return r
	}
	out := r.selectCounters(sel)
	out.hists = map[string]*hdr.Histogram{}
	clamped := map[string]int64{}
	var names []string
	for _, l := range r.Latencies {
		metric, tags, ok := SplitSeries(l.Name)
		if !ok || !tags.Contains(sel) {
			continue
		}
		src := r.Histogram(l.Name)
		if src == nil {
			continue
		}
		dst, seen := out.hists[metric]
		if !seen {
			dst = newHist()
			out.hists[metric] = dst
			names = append(names, metric)
		}
		clamped[metric] += l.Clamped + dst.Merge(src)
	}
	sortLatencyNames(names)
	for _, n := range names {
		out.Latencies = append(out.Latencies, statsOf(n, out.hists[n], clamped[n]))
	}
	return out
}

// selectCounters is Select without the latencies (which cost a histogram
// merge and encoding each), for the tables of counters per series.
func (r *Results) selectCounters(sel Tags) *Results {
	out := &Results{Meta: r.Meta, Sources: r.Sources, Counters: map[string]int64{}, Gauges: map[string]GaugeStats{}}
	for k, v := range r.Counters {
		if metric, tags, ok := SplitSeries(k); ok && tags.Contains(sel) {
			out.Counters[metric] += v
		}
	}
	for k, g := range r.Gauges {
		if metric, tags, ok := SplitSeries(k); ok && tags.Contains(sel) {
			m := out.Gauges[metric]
			m.Last += g.Last
			m.Max += g.Max
			out.Gauges[metric] = m
		}
	}
	return out
}

// Tagged is a Registry seen through one tag set: the handles it returns
// record into that tag set's series ("name{tags}"), and the Registry adds
// them into the run-wide totals when it closes an interval. Look handles up
// once (when a plan is compiled) and keep them: recording through a handle
// costs the same as recording into a total. Safe for concurrent use.
type Tagged struct {
	reg    *Registry
	tags   Tags
	suffix string // "{k=v,…}"

	mu       sync.RWMutex
	counters map[string]*Counter // by metric name: a hit does not allocate
}

// Tagged returns the view of r through tags (sorted by SortTags; keys
// checked by CheckTag). Without tags it records into the totals. It fails
// past MaxTagSets distinct tag sets.
func (r *Registry) Tagged(tags Tags) (*Tagged, error) {
	key := tags.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.tagsets[key]; ok {
		return t, nil
	}
	for _, tg := range tags {
		if err := CheckTag(tg.Key, tg.Value); err != nil {
			return nil, err
		}
	}
	if len(tags) > 0 && len(r.tagsets) >= MaxTagSets {
		return nil, fmt.Errorf("tag set {%s}: a run keeps at most %d tag sets (scenarios × distinct step tags)", key, MaxTagSets)
	}
	t := &Tagged{reg: r, tags: slices.Clone(tags), counters: map[string]*Counter{}}
	if len(tags) > 0 {
		t.suffix = "{" + key + "}"
	}
	r.tagsets[key] = t
	return t, nil
}

// Tags returns the tag set of t.
func (t *Tagged) Tags() Tags { return t.tags }

// Registry returns the registry t records into.
func (t *Tagged) Registry() *Registry { return t.reg }

// Name returns the series name of metric in t.
func (t *Tagged) Name(metric string) string { return metric + t.suffix }

// Latency returns the latency series of metric in t.
func (t *Tagged) Latency(metric string) *Latency { return t.reg.Latency(t.Name(metric)) }

// Gauge returns the gauge series of metric in t.
func (t *Tagged) Gauge(metric string) *Gauge { return t.reg.Gauge(t.Name(metric)) }

// Counter returns the counter series of metric in t; once a name has been
// asked for, asking again does not allocate (for counters looked up when
// something happens, such as an error of a kind).
func (t *Tagged) Counter(metric string) *Counter {
	t.mu.RLock()
	c := t.counters[metric]
	t.mu.RUnlock()
	if c != nil {
		return c
	}
	c = t.reg.Counter(t.Name(metric))
	t.mu.Lock()
	t.counters[metric] = c
	t.mu.Unlock()
	return c
}

// Totals returns r without its tagged series: the run-wide totals only,
// for the outputs that show them apart. It shares r's maps' values.
func (r *Results) Totals() *Results {
	out := *r
	out.Latencies = make([]LatencyStats, 0, len(r.Latencies))
	for _, l := range r.Latencies {
		if !IsSeries(l.Name) {
			out.Latencies = append(out.Latencies, l)
		}
	}
	out.Counters = make(map[string]int64, len(r.Counters))
	for k, v := range r.Counters {
		if !IsSeries(k) {
			out.Counters[k] = v
		}
	}
	out.Gauges = make(map[string]GaugeStats, len(r.Gauges))
	for k, v := range r.Gauges {
		if !IsSeries(k) {
			out.Gauges[k] = v
		}
	}
	return &out
}
