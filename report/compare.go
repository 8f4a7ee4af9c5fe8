package report

// compare.go sets two results side by side (a base run and a new one):
// every latency statistic, counter rate and gauge with its change, and the
// regressions beyond a tolerance that a CI job can fail on.

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter/tw"
)

// Direction says which way a compared value gets worse.
type Direction int

const (
	Neutral       Direction = iota // shown, never a regression
	HigherIsWorse                  // latencies, errors, losses
	LowerIsWorse                   // message and byte rates
)

// Change is one compared value.
type Change struct {
	Metric     string
	Stat       string  // "p99", "max", "rate", "max" (gauge) …
	Base, New  float64 // nanoseconds for latencies, per second for counter rates
	Unit       chartUnit
	Direction  Direction
	Regression bool
}

// Ratio is New/Base − 1 (+Inf when only New is non-zero, 0 when both are
// zero).
func (c Change) Ratio() float64 {
	switch {
	case c.Base == c.New:
		return 0
	case c.Base == 0:
		return math.Inf(1)
	}
	return c.New/c.Base - 1
}

// Comparison is the outcome of Compare.
type Comparison struct {
	Base, New *Results
	Tolerance float64 // e.g. 0.1 for 10 %
	Changes   []Change
}

// Regressions returns the changes flagged as regressions.
func (c *Comparison) Regressions() []Change {
	var out []Change
	for _, ch := range c.Changes {
		if ch.Regression {
			out = append(out, ch)
		}
	}
	return out
}

// gatedLatencyStats are the latency statistics that can regress. Max is one
// sample and too noisy to gate a build on; it is shown.
var gatedLatencyStats = map[string]bool{"p50": true, "p90": true, "p99": true, "p99.9": true, "p99.99": true, "mean": true}

// Compare compares new against base. A latency statistic regresses when it
// grows by more than tolerance (a fraction: 0.1 is 10 %); an error, loss or
// failure counter when its rate per second grows by more than tolerance or
// appears where base had none; a message or byte rate when it drops by more
// than tolerance. Max, wsbench.sched and other counters and gauges are
// shown but never regress; counters that are zero in both are left out.
// Metrics in only one of the files are compared against zero.
func Compare(base, new *Results, tolerance float64) *Comparison {
	cmp := &Comparison{Base: base, New: new, Tolerance: tolerance}
	var names []string
	for _, rs := range []*Results{base, new} {
		for _, l := range rs.Latencies {
			if !slices.Contains(names, l.Name) {
				names = append(names, l.Name)
			}
		}
	}
	sortLatencyNames(names)
	for _, name := range names {
		b, _ := base.Latency(name)
		n, _ := new.Latency(name)
		for _, s := range []struct {
			stat string
			b, n time.Duration
		}{{"p50", b.P50, n.P50}, {"p90", b.P90, n.P90}, {"p99", b.P99, n.P99}, {"p99.9", b.P999, n.P999},
			{"p99.99", b.P9999, n.P9999}, {"max", b.Max, n.Max}, {"mean", b.Mean, n.Mean}} {
			dir := HigherIsWorse
			if !gatedLatencyStats[s.stat] || name == SchedLatency || b.Count == 0 || n.Count == 0 {
				dir = Neutral
			}
			cmp.add(Change{Metric: name, Stat: s.stat, Base: float64(s.b), New: float64(s.n), Unit: unitNanos, Direction: dir})
		}
	}
	counters := map[string]bool{}
	for _, rs := range []*Results{base, new} {
		for k := range rs.Counters {
			counters[k] = true
		}
	}
	bs, ns := base.Duration().Seconds(), new.Duration().Seconds()
	rate := func(v int64, secs float64) float64 {
		if secs <= 0 {
			return float64(v)
		}
		return float64(v) / secs
	}
	for _, k := range sortedKeys(counters) {
		if base.Counters[k] == 0 && new.Counters[k] == 0 {
			continue // an error kind that never happened
		}
		unit := unitCount
		if m := SeriesMetric(k); m == CounterBytesSent || m == CounterBytesRecv {
			unit = unitBytes
		}
		cmp.add(Change{Metric: k, Stat: "rate", Base: rate(base.Counters[k], bs), New: rate(new.Counters[k], ns), Unit: unit, Direction: counterDirection(k)})
	}
	gauges := map[string]bool{}
	for _, rs := range []*Results{base, new} {
		for k := range rs.Gauges {
			gauges[k] = true
		}
	}
	for _, k := range sortedKeys(gauges) {
		cmp.add(Change{Metric: k, Stat: "max", Base: float64(base.Gauges[k].Max), New: float64(new.Gauges[k].Max), Unit: unitCount})
	}
	return cmp
}

func (c *Comparison) add(ch Change) {
	switch ch.Direction {
	case HigherIsWorse:
		ch.Regression = ch.New > ch.Base*(1+c.Tolerance) && ch.New > 0
	case LowerIsWorse:
		ch.Regression = ch.New < ch.Base*(1-c.Tolerance)
	}
	c.Changes = append(c.Changes, ch)
}

// counterDirection says which way a counter (or its tagged series) gets
// worse.
func counterDirection(name string) Direction {
	name = SeriesMetric(name)
	for _, p := range []string{PrefixErrors, PrefixConnFailed, PrefixDelivery} {
		if strings.HasPrefix(name, p) {
			return HigherIsWorse
		}
	}
	switch name {
	case CounterIterationsFailed, CounterArrivalsDropped:
		return HigherIsWorse
	case CounterMsgsSent, CounterMsgsRecv, CounterBytesSent, CounterBytesRecv, CounterIterations:
		return LowerIsWorse
	}
	return Neutral
}

// ParseTolerance reads a regression tolerance: "10%" or "10" (percent).
func ParseTolerance(s string) (float64, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("tolerance %q: want a percentage such as 10%%", s)
	}
	return v / 100, nil
}

func formatChangeValue(u chartUnit, stat string, v float64) string {
	switch {
	case u == unitNanos:
		return FormatDuration(time.Duration(math.Round(v)))
	case u == unitBytes:
		return formatBytes(v) + "/s"
	case stat == "rate":
		return formatRate(v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func formatRatio(c Change) string {
	r := c.Ratio()
	switch {
	case r == 0:
		return "="
	case math.IsInf(r, 1):
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", 100*r)
}

// verdict names a regression, or an improvement beyond the tolerance.
func (c Change) verdict(tolerance float64) (text, class string) {
	switch {
	case c.Regression:
		return "✗ REGRESSION", "regression"
	case c.Direction == HigherIsWorse && c.New < c.Base*(1-tolerance):
		return "better", "better"
	case c.Direction == LowerIsWorse && c.New > c.Base*(1+tolerance):
		return "better", "better"
	}
	return "", ""
}

// WriteComparison renders c as a text table followed by its verdict.
func WriteComparison(w io.Writer, c *Comparison) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "base:  %s\nnew:   %s\n\n", runLabel(c.Base), runLabel(c.New))
	R, L := tw.AlignRight, tw.AlignLeft
	t := newTable(ew, []string{"metric", "stat", "base", "new", "change", "verdict"}, []tw.Align{L, L, R, R, R, L})
	for _, ch := range c.Changes {
		v, _ := ch.verdict(c.Tolerance)
		if err := t.Append([]string{ch.Metric, ch.Stat, formatChangeValue(ch.Unit, ch.Stat, ch.Base), formatChangeValue(ch.Unit, ch.Stat, ch.New), formatRatio(ch), v}); err != nil {
			return fmt.Errorf("render comparison table: %w", err)
		}
	}
	if err := render(t, "comparison"); err != nil {
		return err
	}
	tol := formatPercent(100 * c.Tolerance)
	if n := len(c.Regressions()); n > 0 {
		fmt.Fprintf(ew, "%d regression(s) beyond %s\n", n, tol)
	} else {
		fmt.Fprintf(ew, "no regression beyond %s\n", tol)
	}
	if ew.err != nil {
		return fmt.Errorf("write comparison: %w", ew.err)
	}
	return nil
}

// runLabel names a run in one line: scenario, start and duration.
func runLabel(r *Results) string {
	parts := []string{}
	if r.Meta.Scenario != "" {
		parts = append(parts, r.Meta.Scenario)
	}
	if !r.Meta.Start.IsZero() {
		parts = append(parts, r.Meta.Start.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	parts = append(parts, r.Duration().Round(time.Millisecond).String())
	return strings.Join(parts, ", ")
}

type htmlCompare struct {
	Tolerance   string
	Regressions []Change
	Rows        []htmlCompareRow
}

type htmlCompareRow struct{ Metric, Stat, Base, New, Change, Verdict, Class string }

// WriteComparisonHTML renders c as a self-contained HTML page: both runs'
// headers, the comparison table and the percentile spectra of both runs.
func WriteComparisonHTML(w io.Writer, c *Comparison) error {
	page, err := newHTMLPage("wsbench comparison")
	if err != nil {
		return err
	}
	page.Version = c.New.Meta.Version
	page.Runs = []htmlRun{{Label: "Base", Meta: htmlMeta(c.Base)}, {Label: "New", Meta: htmlMeta(c.New)}}
	hc := &htmlCompare{Tolerance: formatPercent(100 * c.Tolerance), Regressions: c.Regressions()}
	for _, ch := range c.Changes {
		v, cls := ch.verdict(c.Tolerance)
		hc.Rows = append(hc.Rows, htmlCompareRow{ch.Metric, ch.Stat, formatChangeValue(ch.Unit, ch.Stat, ch.Base),
			formatChangeValue(ch.Unit, ch.Stat, ch.New), formatRatio(ch), v, cls})
	}
	page.Compare = hc
	var charts []template.HTML
	for _, l := range c.New.Latencies {
		if l.Name == SchedLatency {
			continue
		}
		bh, nh := c.Base.Histogram(l.Name), c.New.Histogram(l.Name)
		if bh == nil || nh == nil || bh.TotalCount() == 0 || nh.TotalCount() == 0 {
			continue
		}
		xmax := spectrumRange(min(bh.TotalCount(), nh.TotalCount()))
		ch := &chart{Title: l.Name + " — base and new by percentile", XUnit: unitSpectrum, YUnit: unitNanos, LogY: true,
			Lines: []chartLine{spectrumLine("base", 7, bh, xmax), spectrumLine("new", 3, nh, xmax)}}
		ch.Lines[0].Dash = true
		charts = append(charts, ch.HTML())
	}
	if len(charts) > 0 {
		page.Sections = []htmlSection{{Title: "Percentile spectra", Charts: charts}}
	}
	return executeHTML(w, page)
}
