package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress prints one status line per Interval: elapsed time, VUs, open
// connections, messages per second out and in, errors (total and in this
// interval) and the p99 of the main latency. On a terminal the line
// updates in place; otherwise each interval gets its own line. Writes are
// best effort: a progress line that cannot be written is dropped.
type Progress struct {
	W     io.Writer
	TTY   bool // rewrite one line with \r and clear-to-end-of-line
	Quiet bool // print nothing
	// Main lists the latency metrics whose p99 the line shows, in order of
	// preference (e.g. a listener's delivery metric, then the first expect);
	// the first one registered is used, else "handshake".
	Main []string

	wrote bool
}

// Update prints the line for iv.
func (p *Progress) Update(iv *Interval) {
	if p == nil || p.Quiet || p.W == nil || iv == nil {
		return
	}
	line := ProgressLine(iv, p.Main)
	if p.TTY {
		_, _ = io.WriteString(p.W, "\r\x1b[K"+line)
	} else {
		_, _ = io.WriteString(p.W, line+"\n")
	}
	p.wrote = true
}

// Done ends the updating line on a terminal so that what follows starts on
// a fresh line.
func (p *Progress) Done() {
	if p == nil || p.Quiet || p.W == nil || !p.TTY || !p.wrote {
		return
	}
	_, _ = io.WriteString(p.W, "\n")
	p.wrote = false
}

// ProgressLine formats the status line of one interval.
func ProgressLine(iv *Interval, main []string) string {
	secs := iv.End.Sub(iv.Start).Seconds()
	perSec := func(n int64) string {
		if secs <= 0 {
			return "-"
		}
		return formatSI(float64(n) / secs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%6s] vus %d  conns %d  out %s/s  in %s/s  errors %d (+%d)",
		formatElapsed(iv.Elapsed), iv.Gauges[GaugeVUs], iv.Gauges[GaugeConnsOpen],
		perSec(iv.Delta(CounterMsgsSent)), perSec(iv.Delta(CounterMsgsRecv)),
		iv.TotalPrefix(PrefixErrors), iv.DeltaPrefix(PrefixErrors))
	if name := mainLatency(iv, main); name != "" {
		h := iv.Latencies[name]
		p99 := "-"
		if h.TotalCount() > 0 {
			p99 = FormatDuration(time.Duration(h.ValueAtQuantile(99)))
		}
		fmt.Fprintf(&b, "  %s p99 %s", name, p99)
	}
	return b.String()
}

func mainLatency(iv *Interval, main []string) string {
	for _, n := range main {
		if _, ok := iv.Latencies[n]; ok {
			return n
		}
	}
	if _, ok := iv.Latencies[LatencyHandshake]; ok {
		return LatencyHandshake
	}
	return ""
}

func formatElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm%02ds", int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
}
