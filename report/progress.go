package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress reports a run while it goes: on a terminal, one status line
// updated in place every Interval (elapsed / planned length with a
// percentage, VUs, open connections, messages per second out and in,
// errors, the p99 of the main latency); elsewhere (a log file, CI) one
// logfmt line every Every intervals, so logs stay short and parseable.
// Writes are best effort: a progress line that cannot be written is
// dropped. Progress is a Sink.
type Progress struct {
	W     io.Writer
	TTY   bool // rewrite one line with \r and clear-to-end-of-line
	Quiet bool // print nothing
	// Main lists the latency metrics whose p99 the line shows, in order of
	// preference (e.g. a listener's delivery metric, then the first expect);
	// the first one registered is used, else "handshake".
	Main []string
	// Total is the planned length of the load (0: unknown, e.g. a closed
	// model bounded by iterations only): the line then shows elapsed time
	// against it with a percentage.
	Total time.Duration
	// Every is how many intervals pass between two logfmt lines when not
	// on a terminal; 0 means DefaultProgressEvery.
	Every int
	// MinSpan: intervals shorter than this are not shown (the sliver at
	// the end of a run would show inflated rates); 0 shows every one.
	MinSpan time.Duration

	n     int
	wrote bool
}

// DefaultProgressEvery is Progress.Every's default: with one-second
// intervals, a logfmt line every ten seconds.
const DefaultProgressEvery = 10

// Interval prints the line for iv.
func (p *Progress) Interval(iv *Interval) error {
	if p == nil || p.Quiet || p.W == nil || iv == nil || iv.End.Sub(iv.Start) < p.MinSpan {
		return nil
	}
	p.n++
	if p.TTY {
		_, _ = io.WriteString(p.W, "\r\x1b[K"+ProgressLine(iv, p.Main, p.Total))
		p.wrote = true
		return nil
	}
	every := p.Every
	if every <= 0 {
		every = DefaultProgressEvery
	}
	if p.n%every == 0 {
		_, _ = io.WriteString(p.W, ProgressLogfmt(iv, p.Main, p.Total)+"\n")
	}
	return nil
}

// Close ends the updating line on a terminal so that what follows starts on
// a fresh line.
func (p *Progress) Close() error {
	if p == nil || p.Quiet || p.W == nil || !p.TTY || !p.wrote {
		return nil
	}
	_, _ = io.WriteString(p.W, "\n")
	p.wrote = false
	return nil
}

// progressFigures are the numbers of one progress line.
type progressFigures struct {
	elapsed, total    time.Duration
	pct               int // -1: no planned length
	vus, vusPeak      int64
	conns, connsPeak  int64
	outRate, inRate   float64 // messages per second; < 0: no time passed
	errors, errorsNew int64
	main              string
	p99               time.Duration
	hasP99            bool
}

func figures(iv *Interval, main []string, total time.Duration) progressFigures {
	f := progressFigures{
		elapsed: iv.Elapsed, total: total, pct: -1,
		vus: iv.Gauges[GaugeVUs], conns: iv.Gauges[GaugeConnsOpen],
		errors: iv.TotalPrefix(PrefixErrors), errorsNew: iv.DeltaPrefix(PrefixErrors),
		outRate: -1, inRate: -1,
	}
	// Short open-model sessions come and go between two ticks: the value
	// at the end of the interval is often 0, the peak shows they ran.
	f.vusPeak = max(f.vus, iv.Peaks[GaugeVUs])
	f.connsPeak = max(f.conns, iv.Peaks[GaugeConnsOpen])
	if total > 0 {
		f.pct = int(min(100, 100*iv.Elapsed/total))
	}
	if secs := iv.End.Sub(iv.Start).Seconds(); secs > 0 {
		f.outRate = float64(iv.Delta(CounterMsgsSent)) / secs
		f.inRate = float64(iv.Delta(CounterMsgsRecv)) / secs
	}
	if f.main = mainLatency(iv, main); f.main != "" {
		if h := iv.Latencies[f.main]; h.TotalCount() > 0 {
			f.p99, f.hasP99 = time.Duration(h.ValueAtQuantile(99)), true
		}
	}
	return f
}

// ProgressLine formats the terminal status line of one interval; total is
// the planned length of the load (0: unknown).
func ProgressLine(iv *Interval, main []string, total time.Duration) string {
	f := figures(iv, main, total)
	var b strings.Builder
	if f.pct >= 0 {
		fmt.Fprintf(&b, "[%s/%s %3d%%]", formatElapsed(f.elapsed), formatElapsed(f.total), f.pct)
	} else {
		fmt.Fprintf(&b, "[%6s]", formatElapsed(f.elapsed))
	}
	gauge := func(name string, v, peak int64) {
		fmt.Fprintf(&b, " %s %d", name, v)
		if peak > v {
			fmt.Fprintf(&b, " (peak %d)", peak)
		}
		b.WriteByte(' ')
	}
	gauge("vus", f.vus, f.vusPeak)
	gauge("conns", f.conns, f.connsPeak)
	rate := func(r float64) string {
		if r < 0 {
			return "-"
		}
		return formatSI(r)
	}
	fmt.Fprintf(&b, " out %s/s  in %s/s  errors %d (+%d)", rate(f.outRate), rate(f.inRate), f.errors, f.errorsNew)
	if f.main != "" {
		p99 := "-"
		if f.hasP99 {
			p99 = FormatDuration(f.p99)
		}
		fmt.Fprintf(&b, "  %s p99 %s", f.main, p99)
	}
	return b.String()
}

// ProgressLogfmt formats the figures of ProgressLine as one logfmt line
// (key=value pairs, durations in Go syntax, rates per second), for logs.
func ProgressLogfmt(iv *Interval, main []string, total time.Duration) string {
	f := figures(iv, main, total)
	var b strings.Builder
	fmt.Fprintf(&b, "msg=progress elapsed=%s", f.elapsed.Round(time.Second))
	if f.pct >= 0 {
		fmt.Fprintf(&b, " total=%s pct=%d", f.total.Round(time.Second), f.pct)
	}
	fmt.Fprintf(&b, " vus=%d vus_peak=%d conns=%d conns_peak=%d", f.vus, f.vusPeak, f.conns, f.connsPeak)
	if f.outRate >= 0 {
		fmt.Fprintf(&b, " out_per_s=%.1f in_per_s=%.1f", f.outRate, f.inRate)
	}
	fmt.Fprintf(&b, " errors=%d errors_new=%d", f.errors, f.errorsNew)
	if f.main != "" {
		fmt.Fprintf(&b, " main=%s", f.main)
		if f.hasP99 {
			fmt.Fprintf(&b, " p99=%s", f.p99.Round(time.Microsecond))
		}
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
