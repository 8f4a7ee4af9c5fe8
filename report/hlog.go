package report

import (
	"fmt"
	"io"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// HLogWriter streams Intervals as a standard HdrHistogram interval log
// (format 1.3, as read by HdrHistogram's HistogramLogReader and
// HistogramLogAnalyzer): a header with the run's start as StartTime and
// BaseTime, then one line per latency metric per interval, tagged with the
// metric name (spaces and commas replaced by '_'), timestamps in seconds
// relative to the start, values in nanoseconds (the max column in ms).
type HLogWriter struct {
	lw      *hdr.HistogramLogWriter
	started bool
}

// NewHLogWriter returns a writer of an interval log to w. The header is
// written with the first interval.
func NewHLogWriter(w io.Writer) *HLogWriter {
	return &HLogWriter{lw: hdr.NewHistogramLogWriter(w)}
}

// Interval appends the lines of one interval. It sets the tag of each of
// iv's histograms to its metric's log tag.
func (h *HLogWriter) Interval(iv *Interval) error {
	if !h.started {
		startMs := iv.End.Add(-iv.Elapsed).UnixMilli()
		h.lw.SetBaseTime(startMs)
		for _, step := range []func() error{
			h.lw.OutputLogFormatVersion,
			func() error {
				return h.lw.OutputComment("[wsbench latency log: one histogram per metric per interval, Tag=metric, values in ns]")
			},
			func() error { return h.lw.OutputStartTime(startMs) },
			func() error { return h.lw.OutputBaseTime(startMs) },
			h.lw.OutputLegend,
		} {
			if err := step(); err != nil {
				return fmt.Errorf("write hlog header: %w", err)
			}
		}
		h.started = true
	}
	for _, name := range iv.LatencyNames() {
		hist := iv.Latencies[name]
		hist.SetTag(HLogTag(name))
		hist.SetStartTimeMs(iv.Start.UnixMilli())
		hist.SetEndTimeMs(iv.End.UnixMilli())
		if err := h.lw.OutputIntervalHistogram(hist); err != nil {
			return fmt.Errorf("write hlog interval of %q: %w", name, err)
		}
	}
	return nil
}

// Close does nothing: the log has no trailer, and its file is the
// caller's. It makes HLogWriter a Sink.
func (h *HLogWriter) Close() error { return nil }

// HLogTag is the interval-log tag of a metric: its name with the characters
// the log format forbids in tags (comma, whitespace) replaced by '_'.
func HLogTag(name string) string {
	if name == "" {
		return "unnamed"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ',', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, name)
}
