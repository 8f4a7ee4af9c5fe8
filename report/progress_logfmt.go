package report

// progress_logfmt.go is the progress of a run whose stderr is not a
// terminal (a Kubernetes pod, CI, a pipe): one logfmt line per interval, so
// `kubectl logs` of any runner pod reads well and log pipelines (Loki,
// Elasticsearch, jq-less grep) can parse it. The terminal line stays in
// progress.go.

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// LogfmtProgress writes one logfmt record per interval:
//
//	time=2026-12-06T18:40:03.000Z level=INFO msg=progress segment=1/4:2/4 elapsed=3s vus=250 conns=250 out_per_s=1200 in_per_s=30000 errors=0 errors_delta=0 latency=delivery p99=4.1ms
type LogfmtProgress struct {
	W       io.Writer
	Quiet   bool
	Main    []string // as in Progress
	Segment string   // this process's execution segment, "" for the whole load

	log *slog.Logger // a TextHandler: logfmt, values quoted only when needed
}

// Update writes the record for iv.
func (p *LogfmtProgress) Update(iv *Interval) {
	if p == nil || p.Quiet || p.W == nil || iv == nil {
		return
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(p.W, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					a.Value = slog.StringValue(a.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z"))
				}
				return a
			},
		}))
	}
	secs := iv.End.Sub(iv.Start).Seconds()
	perSec := func(n int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(int64(float64(n)/secs*10+0.5)) / 10
	}
	attrs := make([]slog.Attr, 0, 12)
	if p.Segment != "" {
		attrs = append(attrs, slog.String("segment", p.Segment))
	}
	attrs = append(attrs,
		slog.String("elapsed", iv.Elapsed.Round(time.Second).String()),
		slog.Int64("vus", iv.Gauges["vus"]),
		slog.Int64("conns", iv.Gauges["conns.open"]),
		slog.Float64("out_per_s", perSec(iv.Delta("msgs.sent"))),
		slog.Float64("in_per_s", perSec(iv.Delta("msgs.recv"))),
		slog.Int64("errors", iv.TotalPrefix("errors.")),
		slog.Int64("errors_delta", iv.DeltaPrefix("errors.")),
	)
	if name := mainLatency(iv, p.Main); name != "" {
		attrs = append(attrs, slog.String("latency", name))
		if h := iv.Latencies[name]; h.TotalCount() > 0 {
			attrs = append(attrs, slog.Duration("p99", time.Duration(h.ValueAtQuantile(99)).Round(time.Microsecond)))
		}
	}
	rec := slog.NewRecord(iv.End, slog.LevelInfo, "progress", 0)
	rec.AddAttrs(attrs...)
	_ = p.log.Handler().Handle(context.Background(), rec)
}

// Done is a no-op: every record ends its own line.
func (p *LogfmtProgress) Done() {}
