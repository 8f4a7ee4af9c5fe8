package cmd

// live.go holds, in one place, what `wsbench run` shows and sends while
// the load runs: every per-interval output is a report.Sink (the progress
// line, the --hlog interval log, the --push outputs, a worker's stream to
// its parent), flagged in addLiveFlags, attached in attachSinks and fed by
// report.Feed (run.go, workers.go). Adding one is its Sink under report/
// plus its flag and its line here (a --push kind: its case in pushSink).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/report/promrw"
	"github.com/wsbench/wsbench/scenario"
)

// pushOptions are the --push flags of `wsbench run`.
type pushOptions struct {
	Push      []string // KIND=URL
	PushRunID string   // label run_id; "" = random
}

// addLiveFlags registers the flags of the per-interval outputs.
func addLiveFlags(c *cobra.Command, o *runOptions) {
	f := c.Flags()
	f.StringVar(&o.HLog, "hlog", "", "write an HdrHistogram interval log to this file")
	f.StringArrayVar(&o.Push, "push", nil, "stream per-interval metrics while the run goes: prometheus-rw=URL (Prometheus remote write, e.g. http://127.0.0.1:9090/api/v1/write)")
	f.StringVar(&o.PushRunID, "push-run-id", "", "the run_id label of pushed series (default: random)")
	f.DurationVar(&o.LogEvery, "log-every", 10*time.Second, "when stderr is not a terminal, write the progress as a logfmt line this often (rounded to whole intervals; e.g. 1s for a line per interval in kubectl logs)")
}

// progressEvery turns --log-every into whole intervals (at least one; 0 =
// report.DefaultProgressEvery when the flag was not parsed).
func (o *runOptions) progressEvery() int {
	if o.LogEvery <= 0 {
		return 0
	}
	if o.Interval <= 0 || o.LogEvery <= o.Interval {
		return 1
	}
	return int((o.LogEvery + o.Interval/2) / o.Interval)
}

// attachSinks creates the per-interval outputs of a run, before the load
// starts so that a bad flag fails fast. A worker of --workers streams to
// its parent and nothing else (the parent shows, logs and pushes the
// combined intervals). notes receives the lines to print after the
// summary (the push account).
func (o *runOptions) attachSinks(plan *scenario.Plan, notes io.Writer) (*report.Sinks, error) {
	sinks := &report.Sinks{}
	if o.workerStream != nil {
		sinks.Add("worker stream", o.workerStream)
		return sinks, nil
	}
	push, err := o.pushSink(notes)
	if err != nil {
		return nil, usageError(err)
	}
	if push != nil {
		sinks.Add("--push", push)
	}
	sinks.Add("progress", &report.Progress{
		W: o.Stderr, TTY: o.StderrTTY, Quiet: o.Quiet,
		Main: mainLatencies(plan), Total: plannedLength(plan), MinSpan: o.Interval / 2,
		Every: o.progressEvery(),
	})
	if o.HLog != "" {
		f, err := os.Create(o.HLog)
		if err != nil {
			sinks.Close()
			return nil, usageError(fmt.Errorf("--hlog: %w", err))
		}
		sinks.Add("--hlog "+o.HLog, fileSink{report.NewHLogWriter(f), f})
	}
	return sinks, nil
}

// fileSink is a sink that writes to a file of its own, closed with it.
type fileSink struct {
	report.Sink
	f *os.File
}

func (s fileSink) Close() error { return errors.Join(s.Sink.Close(), s.f.Close()) }

// pushSink checks the --push flags and starts the pusher; nil without
// --push.
func (o *runOptions) pushSink(account io.Writer) (report.Sink, error) {
	if len(o.Push) == 0 {
		return nil, nil
	}
	if len(o.Push) > 1 {
		return nil, fmt.Errorf("--push: one output per run (got %d)", len(o.Push))
	}
	kind, url, ok := strings.Cut(o.Push[0], "=")
	if !ok || kind != promrw.Kind {
		return nil, fmt.Errorf("--push %q: want %s=URL (the only output so far)", o.Push[0], promrw.Kind)
	}
	if err := promrw.CheckURL(url); err != nil {
		return nil, fmt.Errorf("--push: %w", err)
	}
	runID := o.PushRunID
	if runID == "" {
		runID = promrw.NewRunID()
	}
	p, err := promrw.New(promrw.Config{
		URL: url, RunID: runID, File: fileLabel(o.File), Segment: o.Segment,
		Account: account, // Grace: promrw.DefaultGrace
	})
	if err != nil {
		return nil, fmt.Errorf("--push: %w", err)
	}
	if !o.Quiet {
		fmt.Fprintf(o.Stderr, "wsbench: pushing to %s as run_id=%s\n", url, runID)
	}
	return p, nil
}

// fileLabel is the file label of pushed series: the file's name
// without directory and extension.
func fileLabel(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// plannedLength is how long the load of p runs before its graceful stop:
// the longest scenario, capped by the run's duration; 0 when a scenario
// is bounded by iterations only.
func plannedLength(p *scenario.Plan) time.Duration {
	var longest time.Duration
	for _, sc := range p.Scenarios {
		l := sc.Load.Length()
		if p.Duration > 0 && (l <= 0 || p.Duration < l) {
			l = p.Duration
		}
		if l <= 0 {
			return 0
		}
		longest = max(longest, l)
	}
	return longest
}

// mainLatencies picks the metrics whose p99 the progress line shows:
// delivery listeners first, then expects.
func mainLatencies(p *scenario.Plan) []string {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, sc := range p.Scenarios {
		for _, l := range sc.Listeners {
			if l.LatencyField != "" {
				add(l.Name)
			}
		}
	}
	for _, sc := range p.Scenarios {
		scenario.WalkSteps(sc.Steps, func(st *scenario.Step) {
			if st.Kind == scenario.StepExpect {
				add(st.Expect.Name) // the parser names unnamed expects "expect"
			}
		})
	}
	return names
}
