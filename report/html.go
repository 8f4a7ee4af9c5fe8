package report

// html.go renders Results as one self-contained HTML file: the run's
// header, thresholds, tables and SVG charts (html_chart.go) drawn from the
// results alone — the per-second series and the histograms — so a merged
// multi-machine result renders like a single run. The CSS is embedded; the
// page loads nothing and runs no script.

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed assets/report.css assets/report.html.tmpl
var htmlAssets embed.FS

var htmlTemplate = template.Must(template.ParseFS(htmlAssets, "assets/report.html.tmpl"))

// htmlPage is the view the template renders, for one run or a comparison.
type htmlPage struct {
	Title            string
	Version          string
	CSS              template.CSS
	Runs             []htmlRun
	Compare          *htmlCompare
	Thresholds       []Verdict
	ThresholdsFailed int
	Latencies        []htmlLatency
	Warnings, Notes  []string
	Sections         []htmlSection
	Counters         []htmlCounter
	// The tagged series (tags.go), when the run has more than one tag set.
	SeriesLatencies []htmlLatency
	SeriesCounters  *htmlSeriesCounters
}

type htmlSeriesCounters struct {
	Head []string
	Rows []htmlLatency // Name: the tag set; Cells: one per seriesColumns
}

type htmlKV struct{ K, V string }

type htmlRun struct {
	Label string
	Meta  []htmlKV
}

type htmlLatency struct {
	Name  string
	Cells []htmlKV // data-stat → text
}

type htmlCounter struct{ Group, Name, Total, Rate string }

type htmlSection struct {
	Title, Intro string
	Charts       []template.HTML
}

// WriteHTML renders r as a self-contained HTML report: the run-wide totals,
// then, when the run has several tag sets (tags.go), the tables of its
// series and a chart of each latency's p99 per series.
func WriteHTML(w io.Writer, all *Results) error {
	r := all.Totals()
	page, err := newHTMLPage("wsbench report")
	if err != nil {
		return err
	}
	if r.Meta.Scenario != "" {
		page.Title = "wsbench · " + r.Meta.Scenario
	}
	page.Version = r.Meta.Version
	page.Runs = []htmlRun{{Meta: htmlMeta(r)}}
	page.Thresholds = r.Thresholds
	for _, v := range r.Thresholds {
		if !v.Pass {
			page.ThresholdsFailed++
		}
	}
	page.Latencies = htmlLatencies(r)
	page.Warnings, page.Notes = schedWarnings(r)
	clockN, clockW := clockNotes(r) // distributed.go
	for _, n := range clockN {
		page.Notes = append(page.Notes, "Clock: "+n)
	}
	for _, w := range clockW {
		page.Warnings = append(page.Warnings, "Clock: "+w)
	}
	page.Sections = htmlSections(r)
	page.Counters = htmlCounters(r)
	htmlSeries(page, all)
	return executeHTML(w, page)
}

// htmlSeries adds the tagged series of r to page: their latency table, a
// chart of p99 per second per series for each latency with several series,
// and the per-series counter table (the columns of the text summary).
func htmlSeries(page *htmlPage, r *Results) {
	sets := r.TagSets()
	if len(sets) < 2 {
		return
	}
	series := &Results{Meta: r.Meta, Series: r.Series}
	bySeries := map[string][]string{}
	var metrics []string
	for _, l := range r.Latencies {
		if metric := SeriesMetric(l.Name); metric != l.Name {
			series.Latencies = append(series.Latencies, l)
			if len(bySeries[metric]) == 0 {
				metrics = append(metrics, metric)
			}
			bySeries[metric] = append(bySeries[metric], l.Name)
		}
	}
	page.SeriesLatencies = htmlLatencies(series)
	var charts []template.HTML
	for _, m := range metrics {
		if len(bySeries[m]) < 2 || m == LatencyConnect || m == LatencyHandshake || secondsWith(r, m) < minChartSeconds {
			continue
		}
		c := &chart{Title: m + " — p99 per second, per series", XUnit: unitSeconds, YUnit: unitNanos}
		for i, name := range bySeries[m] {
			c.Lines = append(c.Lines, seriesLine(r, name[len(m):], i, func(p SeriesPoint) (float64, bool) {
				s, ok := p.Latencies[name]
				return float64(s.P99), ok && s.Count > 0
			}))
		}
		charts = append(charts, c.finish(aggMax, "highest"))
	}
	if len(charts) > 0 {
		page.Sections = append(page.Sections, htmlSection{Title: "Per series",
			Intro: "The p99 of each second per scenario (and per set of step tags): which part of the load saw the latency.", Charts: charts})
	}
	sc := &htmlSeriesCounters{}
	for _, c := range seriesColumns {
		sc.Head = append(sc.Head, c.head)
	}
	for _, tags := range sets {
		cells, ok := seriesCounterCells(r.selectCounters(tags))
		if !ok {
			continue
		}
		row := htmlLatency{Name: "{" + tags.String() + "}"}
		for i, v := range cells {
			row.Cells = append(row.Cells, htmlKV{seriesColumns[i].head, v})
		}
		sc.Rows = append(sc.Rows, row)
	}
	if len(sc.Rows) > 0 {
		page.SeriesCounters = sc
	}
}

func newHTMLPage(title string) (*htmlPage, error) {
	css, err := htmlAssets.ReadFile("assets/report.css")
	if err != nil {
		return nil, fmt.Errorf("write html: %w", err)
	}
	return &htmlPage{Title: title, CSS: template.CSS(css)}, nil
}

func executeHTML(w io.Writer, page *htmlPage) error {
	if err := htmlTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

// htmlMeta is the header of one run, in the summary's words.
func htmlMeta(r *Results) []htmlKV {
	m := r.Meta
	var kv []htmlKV
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, htmlKV{k, v})
		}
	}
	add("scenario", m.Scenario)
	add("target", m.Target)
	if !m.Start.IsZero() {
		add("start", m.Start.UTC().Format("2006-01-02 15:04:05 UTC"))
		add("end", m.End.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	add("duration", r.Duration().Round(time.Millisecond).String())
	add("segments", m.Segment)
	add("start-at", startAtText(r))
	if r.Sources > 1 {
		add("merged", strconv.Itoa(r.Sources)+" results")
	}
	add("wsbench", m.Version)
	return kv
}

func htmlLatencies(r *Results) []htmlLatency {
	rows := make([]htmlLatency, 0, len(r.Latencies))
	for _, l := range r.Latencies {
		row := htmlLatency{Name: l.Name, Cells: []htmlKV{{"count", strconv.FormatInt(l.Count, 10)}}}
		for _, c := range []struct {
			k string
			d time.Duration
		}{{"min", l.Min}, {"p50", l.P50}, {"p90", l.P90}, {"p99", l.P99}, {"p99.9", l.P999}, {"p99.99", l.P9999}, {"max", l.Max}, {"mean", l.Mean}} {
			v := "-"
			if l.Count > 0 {
				v = FormatDuration(c.d)
			}
			row.Cells = append(row.Cells, htmlKV{c.k, v})
		}
		rows = append(rows, row)
	}
	return rows
}

func htmlCounters(r *Results) []htmlCounter {
	var rows []htmlCounter
	secs := r.Duration().Seconds()
	groups, byGroup := groupCounters(r)
	for _, g := range groups {
		for i, c := range byGroup[g] {
			row := htmlCounter{Name: c.name, Total: strconv.FormatInt(c.value, 10), Rate: "-"}
			if i == 0 {
				row.Group = g
			}
			isBytes := c.name == CounterBytesSent || c.name == CounterBytesRecv
			if isBytes {
				row.Total = formatBytes(float64(c.value))
			}
			if secs > 0 {
				if isBytes {
					row.Rate = formatBytes(float64(c.value)/secs) + "/s"
				} else {
					row.Rate = formatRate(float64(c.value) / secs)
				}
			}
			rows = append(rows, row)
		}
	}
	for i, name := range sortedKeys(r.Gauges) {
		g := r.Gauges[name]
		row := htmlCounter{Name: name, Total: "max " + strconv.FormatInt(g.Max, 10), Rate: "last " + strconv.FormatInt(g.Last, 10)}
		if i == 0 {
			row.Group = "gauges"
		}
		rows = append(rows, row)
	}
	return rows
}

// schedShare is the share of a metric's p99 that wsbench.sched's p99 must
// reach for the report to warn that the load generator explains part of it.
const schedShare = 0.1

// schedWarnings returns the warning naming the metrics whose tail is of the
// same order as the load generator's own scheduling delay, and the note
// explaining wsbench.sched.
func schedWarnings(r *Results) (warnings, notes []string) {
	s, ok := r.Latency(SchedLatency)
	if !ok || s.Count == 0 {
		return nil, nil
	}
	notes = append(notes, fmt.Sprintf("%s is how long wsbench's own goroutines waited for a CPU (Go runtime, sampled); it is drawn dashed beside every latency chart.", SchedLatency))
	var hit []string
	for _, l := range r.Latencies {
		if l.Name == SchedLatency || l.Count == 0 {
			continue
		}
		if float64(s.P99) >= schedShare*float64(l.P99) {
			hit = append(hit, fmt.Sprintf("%s (p99 %s)", l.Name, FormatDuration(l.P99)))
		}
	}
	if len(hit) > 0 {
		warnings = append(warnings, fmt.Sprintf("The load generator's own scheduler delay (%s p99 %s) is at least %d%% of the p99 of %s: these latencies are partly wsbench's, not the server's. Use fewer VUs per process (--workers, --segment) or a bigger machine.",
			SchedLatency, FormatDuration(s.P99), int(schedShare*100), strings.Join(hit, ", ")))
	}
	return warnings, notes
}

// htmlSections builds the chart sections from the per-second series and
// the histograms.
func htmlSections(r *Results) []htmlSection {
	var secs []htmlSection
	var msgCharts, setupCharts []template.HTML
	var brief []string
	for _, l := range r.Latencies {
		if l.Count > 0 && l.Name != SchedLatency && secondsWith(r, l.Name) < minChartSeconds {
			brief = append(brief, l.Name)
			continue
		}
		switch l.Name {
		case SchedLatency:
		case LatencyConnect, LatencyHandshake:
			setupCharts = append(setupCharts, latencyOverTime(r, l.Name))
		default:
			msgCharts = append(msgCharts, latencyOverTime(r, l.Name))
		}
	}
	if len(msgCharts) > 0 || len(brief) > 0 {
		intro := "Percentiles of each second's samples. A metric ending in .raw is measured from the actual send; the one without, from the scheduled send (corrected for coordinated omission)."
		if len(brief) > 0 {
			intro += fmt.Sprintf(" Not charted over time, as their samples fall within fewer than %d seconds: %s (see the table and the spectrum).", minChartSeconds, strings.Join(brief, ", "))
		}
		secs = append(secs, htmlSection{Title: "Latency over time", Intro: intro, Charts: msgCharts})
	}
	if spec := spectrumChart(r); spec != "" {
		secs = append(secs, htmlSection{Title: "Percentile spectrum",
			Intro:  "Latency at each percentile of the whole run (from the HdrHistograms), with the percentile axis stretched logarithmically towards the tail as HdrHistogram's plotter does.",
			Charts: []template.HTML{spec}})
	}
	if c := fanoutChart(r); c != "" {
		secs = append(secs, htmlSection{Title: "Fan-out delivery", Charts: []template.HTML{c}})
	}
	var thr []template.HTML
	thr = appendChart(thr, counterChart(r, "Messages per second", unitCount, CounterMsgsSent, CounterMsgsRecv))
	thr = appendChart(thr, counterChart(r, "Bytes per second", unitBytes, CounterBytesSent, CounterBytesRecv))
	if len(thr) > 0 {
		secs = append(secs, htmlSection{Title: "Throughput", Charts: thr})
	}
	var conns []template.HTML
	conns = appendChart(conns, gaugeChart(r))
	conns = appendChart(conns, counterChart(r, "Connections opened and failed per second", unitCount, CounterConnOpened, AliasConnectFailed, CounterReconnects))
	conns = append(conns, setupCharts...)
	if len(conns) > 0 {
		secs = append(secs, htmlSection{Title: "Connections", Charts: conns})
	}
	secs = append(secs, htmlSection{Title: "Errors", Charts: []template.HTML{errorChart(r)}})
	if s, ok := r.Latency(SchedLatency); ok && s.Count > 0 {
		secs = append(secs, htmlSection{Title: "Load generator",
			Intro:  "How long wsbench's own goroutines waited for a CPU once runnable (Go runtime, sampled). Latencies of this size are partly the load generator's.",
			Charts: []template.HTML{latencyOverTime(r, SchedLatency)}})
	}
	return secs
}

// minChartSeconds is the number of seconds with samples a latency metric
// needs for a chart over time; a handful of points (a join at the start)
// says more in the table and the spectrum.
const minChartSeconds = 3

// secondsWith counts the seconds of the series in which metric name has
// samples.
func secondsWith(r *Results, name string) int {
	n := 0
	for _, p := range r.Series {
		if p.Latencies[name].Count > 0 {
			n++
		}
	}
	return n
}

func appendChart(cs []template.HTML, c template.HTML) []template.HTML {
	if c == "" {
		return cs
	}
	return append(cs, c)
}

// seriesLine collects one value per series point; f reports false for a
// gap.
func seriesLine(r *Results, name string, color int, f func(SeriesPoint) (float64, bool)) chartLine {
	l := chartLine{Name: name, Color: color}
	for _, p := range r.Series {
		v, ok := f(p)
		if !ok {
			v = math.NaN()
		}
		l.X = append(l.X, float64(p.T))
		l.Y = append(l.Y, v)
	}
	return l
}

// finish downsamples every line of c and says so in its note.
func (c *chart) finish(agg func([]float64) float64, what string) template.HTML {
	size := 1
	for i := range c.Lines {
		c.Lines[i].X, c.Lines[i].Y, size = downsample(c.Lines[i].X, c.Lines[i].Y, agg)
	}
	if size > 1 {
		note := fmt.Sprintf("Each point is the %s of %d seconds.", what, size)
		c.Note = strings.TrimSpace(c.Note + " " + note)
	}
	return c.HTML()
}

// latencyOverTime charts one latency metric's per-second p50, p90, p99 and
// max, with wsbench.sched's p99 dashed beside it.
func latencyOverTime(r *Results, name string) template.HTML {
	c := &chart{Title: name + " — latency per second", XUnit: unitSeconds, YUnit: unitNanos}
	stats := []struct {
		label string
		get   func(SeriesLatency) time.Duration
	}{
		{"p50", func(s SeriesLatency) time.Duration { return s.P50 }},
		{"p90", func(s SeriesLatency) time.Duration { return s.P90 }},
		{"p99", func(s SeriesLatency) time.Duration { return s.P99 }},
		{"max", func(s SeriesLatency) time.Duration { return s.Max }},
	}
	for i, st := range stats {
		seen := false
		l := seriesLine(r, st.label, i, func(p SeriesPoint) (float64, bool) {
			s, ok := p.Latencies[name]
			if !ok || s.Count == 0 {
				return 0, false
			}
			v := st.get(s)
			seen = seen || v > 0
			return float64(v), true
		})
		if seen || st.label == "p50" || st.label == "p99" { // files before p90/max have neither
			c.Lines = append(c.Lines, l)
		}
	}
	if name != SchedLatency {
		if s, ok := r.Latency(SchedLatency); ok && s.Count > 0 {
			c.Lines = append(c.Lines, seriesLine(r, SchedLatency+" p99", 7, func(p SeriesPoint) (float64, bool) {
				s, ok := p.Latencies[SchedLatency]
				return float64(s.P99), ok && s.Count > 0
			}))
			c.Lines[len(c.Lines)-1].Dash = true
		}
	}
	if l, ok := r.Latency(name); ok {
		c.Note = fmt.Sprintf("Whole run: %d samples, p50 %s, p99 %s, max %s.", l.Count, FormatDuration(l.P50), FormatDuration(l.P99), FormatDuration(l.Max))
	}
	return c.finish(aggMax, "highest")
}

// spectrumChart draws every latency metric's percentile spectrum.
func spectrumChart(r *Results) template.HTML {
	c := &chart{Title: "Latency by percentile", XUnit: unitSpectrum, YUnit: unitNanos, LogY: true, Wide: true}
	var count int64
	for _, l := range r.Latencies {
		count = max(count, l.Count)
	}
	xmax := spectrumRange(count)
	for i, l := range r.Latencies {
		h := r.Histogram(l.Name)
		if h == nil || l.Count == 0 {
			continue
		}
		if floor := float64(l.P50) / 4; c.YFloor == 0 || floor < c.YFloor {
			c.YFloor = floor
		}
		line := spectrumLine(l.Name, i, h, xmax)
		line.Dash = l.Name == SchedLatency
		c.Lines = append(c.Lines, line)
	}
	if len(c.Lines) == 0 {
		return ""
	}
	return c.HTML()
}

// counterChart charts the per-second deltas of the named counters present
// in the run; "" when none is.
func counterChart(r *Results, title string, unit chartUnit, names ...string) template.HTML {
	c := &chart{Title: title, XUnit: unitSeconds, YUnit: unit}
	for i, name := range names {
		if !seriesHasCounter(r, name) {
			continue
		}
		c.Lines = append(c.Lines, seriesLine(r, name, i, func(p SeriesPoint) (float64, bool) {
			return float64(p.Counters[name]), true
		}))
	}
	if len(c.Lines) == 0 {
		return ""
	}
	return c.finish(aggMean, "mean")
}

func seriesHasCounter(r *Results, name string) bool {
	if _, ok := r.Counters[name]; ok {
		return true
	}
	for _, p := range r.Series {
		if _, ok := p.Counters[name]; ok {
			return true
		}
	}
	return false
}

// fanoutChart charts lost, duplicate and reordered deliveries per second,
// for runs with listeners (fan-out) or any such delivery.
func fanoutChart(r *Results) template.HTML {
	if r.CounterPrefix(PrefixListener) == 0 && r.CounterPrefix(PrefixDelivery) == 0 && !hasPrefixKey(r.Counters, PrefixListener) {
		return ""
	}
	return counterChart(r, "Lost, duplicate and reordered deliveries per second", unitCount, CounterDeliveryLost, CounterDeliveryDuplicate, CounterDeliveryReordered)
}

func hasPrefixKey(m map[string]int64, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// gaugeChart charts open connections, VUs and any other gauge over time.
func gaugeChart(r *Results) template.HTML {
	names := map[string]bool{}
	for k := range r.Gauges {
		names[k] = true
	}
	for _, p := range r.Series {
		for k := range p.Gauges {
			if !IsSeries(k) {
				names[k] = true
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	c := &chart{Title: "Open connections and VUs", XUnit: unitSeconds, YUnit: unitCount}
	for i, name := range sortedKeys(names) {
		c.Lines = append(c.Lines, seriesLine(r, name, i, func(p SeriesPoint) (float64, bool) {
			v, ok := p.Gauges[name]
			return float64(v), ok
		}))
	}
	return c.finish(aggMax, "highest")
}

// errorChart charts errors by reason per second (errors.* and
// conn.failed.*; files from before reasons were kept show the total).
func errorChart(r *Results) template.HTML {
	var names []string
	for _, p := range r.Series {
		for k := range p.Counters {
			if (strings.HasPrefix(k, PrefixErrors) || strings.HasPrefix(k, PrefixConnFailed)) && !IsSeries(k) && !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	if len(names) == 0 && seriesHasAlias(r) {
		names = []string{AliasErrors, AliasConnectFailed}
	}
	total := r.CounterPrefix(PrefixErrors) + r.CounterPrefix(PrefixConnFailed)
	if len(names) == 0 {
		return template.HTML(fmt.Sprintf(`<p class="intro" id="no-errors">No errors (%d in total).</p>`, total))
	}
	c := &chart{Title: "Errors by reason per second", XUnit: unitSeconds, YUnit: unitCount,
		Note: fmt.Sprintf("%d errors and failed connects in total.", total)}
	for i, name := range names {
		c.Lines = append(c.Lines, seriesLine(r, name, i, func(p SeriesPoint) (float64, bool) {
			return float64(p.Counters[name]), true
		}))
	}
	return c.finish(aggMean, "mean")
}

func seriesHasAlias(r *Results) bool {
	for _, p := range r.Series {
		if p.Counters[AliasErrors] != 0 || p.Counters[AliasConnectFailed] != 0 {
			return true
		}
	}
	return false
}
