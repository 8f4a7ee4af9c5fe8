package cmd

// live.go holds what `wsbench run` shows and sends while the load runs,
// besides the per-interval ticker in run.go: the --push outputs (Prometheus
// remote write today) and the planned length behind the progress line's
// percentage.

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/report/promrw"
	"github.com/wsbench/wsbench/scenario"
)

// pushKindPromRW names the Prometheus remote-write output of --push.
const pushKindPromRW = "prometheus-rw"

// pushGrace is how long the end of a run waits for queued pushes.
const pushGrace = 2 * time.Second

// pushOptions are the --push flags of `wsbench run`.
type pushOptions struct {
	Push      []string // KIND=URL
	PushRunID string   // label run_id; "" = random

	pusher    *promrw.Pusher
	pushURL   string
	pushRunID string
}

func addPushFlags(c *cobra.Command, o *pushOptions) {
	f := c.Flags()
	f.StringArrayVar(&o.Push, "push", nil, "stream per-interval metrics while the run goes: prometheus-rw=URL (Prometheus remote write, e.g. http://127.0.0.1:9090/api/v1/write)")
	f.StringVar(&o.PushRunID, "push-run-id", "", "the run_id label of pushed series (default: random)")
}

// startPush checks the --push flags and starts the pusher; a worker of
// --workers never pushes (its parent does, with the combined intervals).
func (o *runOptions) startPush() error {
	if len(o.Push) == 0 || o.WorkerStream {
		return nil
	}
	if len(o.Push) > 1 {
		return fmt.Errorf("--push: one output per run (got %d)", len(o.Push))
	}
	kind, url, ok := strings.Cut(o.Push[0], "=")
	if !ok || kind != pushKindPromRW {
		return fmt.Errorf("--push %q: want %s=URL (the only output so far)", o.Push[0], pushKindPromRW)
	}
	if err := promrw.CheckURL(url); err != nil {
		return fmt.Errorf("--push: %w", err)
	}
	o.pushRunID = o.PushRunID
	if o.pushRunID == "" {
		o.pushRunID = promrw.NewRunID()
	}
	p, err := promrw.New(promrw.Config{
		URL: url, RunID: o.pushRunID, Scenario: scenarioLabel(o.File), Segment: o.Segment,
	})
	if err != nil {
		return fmt.Errorf("--push: %w", err)
	}
	o.pusher, o.pushURL = p, url
	if !o.Quiet {
		fmt.Fprintf(o.Stderr, "wsbench: pushing to %s as run_id=%s\n", url, o.pushRunID)
	}
	return nil
}

// finishPush drains the pusher (waiting at most pushGrace) and writes its
// account to w. A push that failed does not fail the run: the results and
// thresholds are whole either way, and the line says what was dropped.
func (o *runOptions) finishPush(w io.Writer) {
	if o.pusher == nil {
		return
	}
	st := o.pusher.Close(pushGrace)
	o.pusher = nil
	fmt.Fprintf(w, "push:      %s %s run_id=%s: %s\n", pushKindPromRW, o.pushURL, o.pushRunID, st)
}

// scenarioLabel is the scenario label of pushed series: the file's name
// without directory and extension.
func scenarioLabel(file string) string {
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
