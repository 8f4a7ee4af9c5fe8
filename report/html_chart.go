package report

// html_chart.go draws the HTML report's charts as inline SVG, in Go: line
// charts over the run's seconds and the HdrHistogram percentile spectrum on
// a log axis. No script runs in the page, so the report opens offline and
// under a Content-Security-Policy that forbids every request.

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// chartUnit says how a chart's values are labelled.
type chartUnit int

const (
	unitCount    chartUnit = iota // plain numbers
	unitNanos                     // durations in nanoseconds
	unitBytes                     // bytes
	unitSpectrum                  // x axis only: percentile as log10(1/(1−q))
	unitSeconds                   // x axis only: seconds into the run
)

// Chart geometry in SVG user units; the SVG scales to the page width.
const (
	chartW, chartH = 760, 240
	wideW          = 1180 // Wide charts: the same text size across the page
	padL, padR     = 70, 24
	padT, padB     = 10, 26

	// maxChartPoints caps the points of one line; longer series are
	// reduced to buckets of whole seconds (see downsample).
	maxChartPoints = 1200
)

// chartLine is one polyline; NaN values leave gaps.
type chartLine struct {
	Name  string
	Color int  // palette index (CSS class c0…c7)
	Dash  bool // drawn dashed (reference lines such as wsbench.sched)
	X, Y  []float64
}

// chart is one SVG line chart.
type chart struct {
	Title string
	Note  string // shown under the chart
	XUnit chartUnit
	YUnit chartUnit
	LogY  bool
	// YFloor, when set on a log axis, is the lowest value shown; smaller
	// values are drawn on the bottom edge, so that one metric's tiny
	// minimum does not squash every other line into the top of the chart.
	YFloor float64
	Wide   bool // spans the page width
	Lines  []chartLine
}

// HTML renders the chart as a <figure> holding the SVG and its legend.
func (c *chart) HTML() template.HTML {
	c.Lines = slices.DeleteFunc(c.Lines, func(l chartLine) bool { // nothing to draw, nothing to name
		return !slices.ContainsFunc(l.Y, func(y float64) bool { return !math.IsNaN(y) })
	})
	var b strings.Builder
	xmin, xmax, ymin, ymax, any := c.bounds()
	cls := "chart"
	if c.Wide {
		cls += " wide"
	}
	fmt.Fprintf(&b, `<figure class="%s"><figcaption>%s</figcaption>`, cls, html.EscapeString(c.Title))
	if !any {
		b.WriteString(`<p class="empty">no data</p></figure>`)
		return template.HTML(b.String())
	}
	if c.LogY {
		ymin = math.Pow(10, math.Floor(math.Log10(math.Max(ymin, math.Max(c.YFloor, 1)))))
		ymax = math.Pow(10, math.Ceil(math.Log10(math.Max(ymax, ymin*10))))
	} else {
		ymin = 0
		ymax = niceCeil(ymax)
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	chartW := chartW
	if c.Wide {
		chartW = wideW
	}
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, html.EscapeString(c.Title))
	px := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*float64(chartW-padL-padR) }
	py := func(y float64) float64 {
		f := 0.0
		if c.LogY {
			f = (math.Log10(math.Max(y, ymin)) - math.Log10(ymin)) / (math.Log10(ymax) - math.Log10(ymin))
		} else {
			f = (y - ymin) / (ymax - ymin)
		}
		return chartH - padB - f*(chartH-padT-padB)
	}
	// Grid and y labels.
	for _, t := range c.yTicks(ymin, ymax) {
		y := py(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(&b, `<text class="yl" x="%d" y="%.1f">%s</text>`, padL-4, y+3, html.EscapeString(formatAxis(c.YUnit, t)))
	}
	for _, t := range xTicks(c.XUnit, xmin, xmax) {
		x := px(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x, x, padT, chartH-padB)
		fmt.Fprintf(&b, `<text class="xl" x="%.1f" y="%d">%s</text>`, x, chartH-padB+16, html.EscapeString(formatAxis(c.XUnit, t)))
	}
	fmt.Fprintf(&b, `<rect class="frame" x="%d" y="%d" width="%d" height="%d"/>`, padL, padT, chartW-padL-padR, chartH-padT-padB)
	for _, l := range c.Lines {
		cls := "c" + strconv.Itoa(l.Color%8)
		if l.Dash {
			cls += " dash"
		}
		fmt.Fprintf(&b, `<path class="%s" d="`, cls)
		pen := false
		for i := range l.X {
			if math.IsNaN(l.Y[i]) {
				pen = false
				continue
			}
			cmd := 'L'
			if !pen {
				cmd = 'M'
			}
			fmt.Fprintf(&b, "%c%.1f %.1f", cmd, px(l.X[i]), py(l.Y[i]))
			if !pen && (i+1 == len(l.X) || math.IsNaN(l.Y[i+1])) {
				b.WriteString("h0.1") // a lone point still shows, as a dot
			}
			pen = true
		}
		fmt.Fprintf(&b, `"><title>%s</title></path>`, html.EscapeString(l.Name))
	}
	b.WriteString(`</svg><ul class="legend">`)
	for _, l := range c.Lines {
		cls := "c" + strconv.Itoa(l.Color%8)
		if l.Dash {
			cls += " dash"
		}
		fmt.Fprintf(&b, `<li><svg viewBox="0 0 20 8" class="key"><path class="%s" d="M0 4H20"/></svg>%s</li>`, cls, html.EscapeString(l.Name))
	}
	b.WriteString(`</ul>`)
	if c.Note != "" {
		fmt.Fprintf(&b, `<p class="note">%s</p>`, html.EscapeString(c.Note))
	}
	b.WriteString(`</figure>`)
	return template.HTML(b.String())
}

// bounds returns the range of the finite points; any is false when there
// are none.
func (c *chart) bounds() (xmin, xmax, ymin, ymax float64, any bool) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, l := range c.Lines {
		for i, y := range l.Y {
			if math.IsNaN(y) || (c.LogY && y <= 0) {
				continue
			}
			any = true
			xmin, xmax = math.Min(xmin, l.X[i]), math.Max(xmax, l.X[i])
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	return xmin, xmax, ymin, ymax, any
}

func (c *chart) yTicks(lo, hi float64) []float64 {
	if c.LogY {
		var ts []float64
		for v := lo; v <= hi*1.0001; v *= 10 {
			ts = append(ts, v)
		}
		return ts
	}
	return linearTicks(lo, hi, 5)
}

func xTicks(u chartUnit, lo, hi float64) []float64 {
	if u == unitSpectrum {
		var ts []float64
		for v := math.Ceil(lo); v <= hi; v++ {
			ts = append(ts, v)
		}
		return ts
	}
	return linearTicks(lo, hi, 8)
}

// linearTicks returns round values from lo to hi, about n of them.
func linearTicks(lo, hi float64, n int) []float64 {
	step := niceStep((hi - lo) / float64(n))
	var ts []float64
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9; i++ {
		ts = append(ts, i*step)
	}
	return ts
}

// niceStep rounds a step up to 1, 2 or 5 times a power of ten.
func niceStep(s float64) float64 {
	if s <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(s)))
	for _, m := range []float64{1, 2, 5, 10} {
		if s <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceCeil rounds v up to the next tick of a 5-tick scale.
func niceCeil(v float64) float64 {
	step := niceStep(v / 5)
	return math.Ceil(v/step) * step
}

func formatAxis(u chartUnit, v float64) string {
	switch u {
	case unitNanos:
		return FormatDuration(time.Duration(v))
	case unitBytes:
		return formatBytes(v)
	case unitSpectrum:
		return spectrumLabel(v)
	case unitSeconds:
		return (time.Duration(v) * time.Second).String()
	}
	if math.Abs(v) >= 1e4 {
		return formatSI(v)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// spectrumLabel names the percentile at x = log10(1/(1−q)): 0 → "0%",
// 1 → "90%", 2 → "99%", 3 → "99.9%".
func spectrumLabel(x float64) string {
	if x <= 0 {
		return "0%"
	}
	q := 100 * (1 - math.Pow(10, -x))
	return strconv.FormatFloat(q, 'f', max(0, int(math.Round(x))-2), 64) + "%"
}

// spectrumLine samples h's percentile spectrum: values at quantiles spaced
// evenly on the log10(1/(1−q)) axis up to xmax, ending with the maximum.
func spectrumLine(name string, color int, h interface {
	ValueAtQuantile(float64) int64
	Max() int64
}, xmax float64) chartLine {
	l := chartLine{Name: name, Color: color}
	const step = 0.02
	for x := 0.0; x < xmax; x += step {
		q := 100 * (1 - math.Pow(10, -x))
		l.X = append(l.X, x)
		l.Y = append(l.Y, float64(h.ValueAtQuantile(q)))
	}
	l.X = append(l.X, xmax)
	l.Y = append(l.Y, float64(h.Max()))
	return l
}

// spectrumRange is the x extent of a spectrum over count samples: the
// percentiles a count can tell apart, from 99% (2) to 99.9999% (6).
func spectrumRange(count int64) float64 {
	return math.Min(6, math.Max(2, math.Ceil(math.Log10(float64(max(count, 1))))))
}

// downsample reduces parallel x/y slices to at most maxChartPoints points
// by buckets of consecutive points, keeping each bucket's first x and the
// value agg picks (max for latencies and gauges, mean for rates). NaNs are
// skipped; an all-NaN bucket stays a gap. It returns the bucket size.
func downsample(x, y []float64, agg func([]float64) float64) ([]float64, []float64, int) {
	if len(x) <= maxChartPoints {
		return x, y, 1
	}
	size := (len(x) + maxChartPoints - 1) / maxChartPoints
	var ox, oy []float64
	vals := make([]float64, 0, size)
	for i := 0; i < len(x); i += size {
		vals = vals[:0]
		for j := i; j < min(i+size, len(x)); j++ {
			if !math.IsNaN(y[j]) {
				vals = append(vals, y[j])
			}
		}
		ox = append(ox, x[i])
		if len(vals) == 0 {
			oy = append(oy, math.NaN())
		} else {
			oy = append(oy, agg(vals))
		}
	}
	return ox, oy, size
}

func aggMax(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Max(m, x)
	}
	return m
}

func aggMean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
