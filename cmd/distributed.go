package cmd

// distributed.go is what `wsbench run` needs to be one of many runners of a
// distributed run (a Kubernetes Indexed Job, or processes on several
// machines): --segment auto (scenario/segment_auto.go), --start-at so that
// every runner begins its load at the same instant, lateness and the host's
// clock error bound in the results meta, and thresholds left to the merge.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/wsbench/wsbench/internal/clock"
	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/scenario"
)

const (
	// EnvStartBase is the shared RFC 3339 instant that a relative
	// --start-at (+30s) counts from; the Helm chart sets it once per install.
	EnvStartBase = "WSBENCH_START_BASE"
	// EnvHost names the machine for the clock record (the chart passes the
	// pod's node name, since pods on one node share its clock); default
	// the hostname.
	EnvHost = "WSBENCH_HOST"
)

// distOptions are the flags of a runner in a distributed run.
type distOptions struct {
	StartAt         string // --start-at: RFC 3339, or +D after $WSBENCH_START_BASE
	DeferThresholds bool   // record verdicts but leave the exit status to the merge

	startAt time.Time     // parsed StartAt; zero = start at once
	late    time.Duration // how long after startAt this process was ready
}

func addDistributedFlags(f *pflag.FlagSet, d *distOptions) {
	f.StringVar(&d.StartAt, "start-at", "", "get ready, then begin the load at this instant: RFC 3339 (2026-12-06T18:40:00Z) or +D after $"+EnvStartBase+" (+30s)")
	f.BoolVar(&d.DeferThresholds, "defer-thresholds", false, "evaluate and record thresholds but exit 0 when one fails: for the runners of a distributed run, whose merge (`wsbench report`) gives the verdict")
}

// parseStartAt reads --start-at. A relative value needs the shared base
// instant from the environment, so that every runner, whenever its pod
// started, computes the same instant.
func parseStartAt(spec string, getenv func(string) string) (time.Time, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return time.Time{}, nil
	}
	if rel, ok := strings.CutPrefix(spec, "+"); ok {
		d, err := time.ParseDuration(rel)
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("--start-at %q: want +D with D a duration such as 30s or 2m", spec)
		}
		base := strings.TrimSpace(getenv(EnvStartBase))
		if base == "" {
			return time.Time{}, fmt.Errorf("--start-at %q: a relative start counts from $%s, which is not set: set it to one RFC 3339 instant shared by every runner (the Helm chart does), or give an absolute time", spec, EnvStartBase)
		}
		t, err := time.Parse(time.RFC3339Nano, base)
		if err != nil {
			return time.Time{}, fmt.Errorf("--start-at %q: $%s=%q is not RFC 3339 (2026-12-06T18:40:00Z)", spec, EnvStartBase, base)
		}
		return t.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, spec)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start-at %q: want RFC 3339 (2026-12-06T18:40:00Z) or +D after $%s", spec, EnvStartBase)
	}
	return t, nil
}

// awaitStart gets this runner ready for the agreed instant: it resolves the
// target and opens (and closes) TCP connections to it until one succeeds or
// the instant comes, so DNS, routes and the server's accept path are warm,
// then sleeps until the instant. Arriving after it, it says so on stderr
// and remembers by how much for the results meta.
func awaitStart(ctx context.Context, o *runOptions, baseURL string) error {
	d := &o.distOptions
	if d.startAt.IsZero() {
		return nil
	}
	warmUp(ctx, baseURL, d.startAt)
	ready := time.Now()
	if late := ready.Sub(d.startAt); late > 0 {
		d.late = late
		fmt.Fprintf(o.Stderr, "wsbench: --start-at %s: ready %s after it; starting late\n", d.startAt.UTC().Format(time.RFC3339Nano), report.FormatDuration(late))
		return nil
	}
	fmt.Fprintf(o.Stderr, "wsbench: ready; the load starts at %s (in %s)\n", d.startAt.UTC().Format(time.RFC3339Nano), report.FormatDuration(d.startAt.Sub(ready).Round(time.Millisecond)))
	t := time.NewTimer(time.Until(d.startAt))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("interrupted while waiting for --start-at %s", d.startAt.UTC().Format(time.RFC3339Nano))}
	}
}

// warmUp dials the target's TCP address until a connection succeeds, ctx
// ends or the deadline passes. Failures are not errors: the run itself
// reports what it cannot reach.
func warmUp(ctx context.Context, baseURL string, deadline time.Time) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" || u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var dl net.Dialer
	for ctx.Err() == nil {
		c, err := dl.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stampDistributed adds the agreed start, this process's lateness and its
// host's clock error bound to the results meta.
func stampDistributed(res *report.Results, o *runOptions, plan *scenario.Plan) {
	d := o.distOptions
	if !d.startAt.IsZero() {
		res.Meta.StartAt = &report.StartInfo{At: d.startAt, Late: d.late}
	}
	st := clock.Read()
	host := strings.TrimSpace(o.Env(EnvHost))
	if host == "" {
		host, _ = os.Hostname()
	}
	res.Meta.Clock = &report.ClockInfo{
		Hosts:        []report.HostClock{{Host: host, Source: st.Source, Synced: st.Synced, MaxError: st.MaxError, EstError: st.EstError}},
		CrossMetrics: deliveryLatencies(plan),
	}
}

// deliveryLatencies names the latencies that compare a sender's timestamp
// with the receiver's clock: those of listeners with a latency field.
func deliveryLatencies(p *scenario.Plan) []string {
	var names []string
	for _, sc := range p.Scenarios {
		for _, l := range sc.Listeners {
			if l.LatencyField != "" && !containsString(names, l.Name) {
				names = append(names, l.Name)
			}
		}
	}
	return names
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// deferredThresholds turns a threshold failure into a note when the merge
// gives the verdict.
func deferredThresholds(o *runOptions, err error) error {
	var ee *ExitError
	if err == nil || !o.DeferThresholds || !errors.As(err, &ee) || ee.Code != ExitThreshold {
		return err
	}
	fmt.Fprintf(o.Stderr, "wsbench: %v in this segment; --defer-thresholds leaves the verdict to the merge\n", err)
	return nil
}

// resolveDistributed reads --segment auto and --start-at from the flags
// and the environment.
func resolveDistributed(o *runOptions) error {
	var err error
	if o.Segment, err = scenario.ResolveSegment(o.Segment, o.Env); err != nil {
		return err
	}
	o.startAt, err = parseStartAt(o.StartAt, o.Env)
	return err
}
