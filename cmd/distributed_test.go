package cmd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/report"
)

func TestParseStartAt(t *testing.T) {
	base := map[string]string{EnvStartBase: "2026-12-06T18:40:00Z"}
	for _, tc := range []struct {
		spec string
		env  map[string]string
		want string
		err  string
	}{
		{"", nil, "0001-01-01T00:00:00Z", ""},
		{"2026-12-06T18:40:00Z", nil, "2026-12-06T18:40:00Z", ""},
		{"2026-12-06T19:40:00.5+01:00", nil, "2026-12-06T18:40:00.5Z", ""},
		{"+30s", base, "2026-12-06T18:40:30Z", ""},
		{"+0s", base, "2026-12-06T18:40:00Z", ""},
		{"+2m", base, "2026-12-06T18:42:00Z", ""},
		{"+30s", nil, "", "WSBENCH_START_BASE, which is not set"},
		{"+30s", map[string]string{EnvStartBase: "18:40"}, "", `WSBENCH_START_BASE="18:40" is not RFC 3339`},
		{"+soon", base, "", "want +D with D a duration"},
		{"+-5s", base, "", "want +D with D a duration"},
		{"18:40", nil, "", "want RFC 3339"},
	} {
		got, err := parseStartAt(tc.spec, func(k string) string { return tc.env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseStartAt(%q) = %v, %v; want error %q", tc.spec, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339Nano) != tc.want {
			t.Errorf("parseStartAt(%q) = %v, %v; want %s", tc.spec, got, err, tc.want)
		}
	}
}

func distRun(t *testing.T, env map[string]string, mutate func(*runOptions)) (*report.Results, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o := &runOptions{
		File: "../examples/echo.yaml", Duration: 500 * time.Millisecond, VUs: 4,
		Format: "json", LogLevel: "error", Segment: "auto",
		Stdout: &stdout, Stderr: &stderr, Interval: 200 * time.Millisecond,
		Env: func(k string) string { return env[k] },
	}
	mutate(o)
	err := runRun(context.Background(), o)
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitThreshold {
			return nil, stderr.String(), err
		}
	}
	res, rerr := report.ReadJSON(&stdout)
	if rerr != nil {
		t.Fatalf("read results: %v\nstderr:\n%s", rerr, stderr.String())
	}
	return res, stderr.String(), nil // a failed threshold is not what these tests are about
}

// TestRunDistributedRunner runs one runner as a pod of an Indexed Job
// would: segment from the environment, a start instant in the near
// future.
func TestRunDistributedRunner(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "1", "WSBENCH_SEGMENTS": "2", EnvHost: "node-7"}
	at := time.Now().Add(2 * time.Second).UTC()
	res, stderr, err := distRun(t, env, func(o *runOptions) { o.StartAt = at.Format(time.RFC3339Nano) })
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	if res.Meta.Segment != "1/2:1" {
		t.Errorf("segment %q, want 1/2:1 (index 1 of 2)", res.Meta.Segment)
	}
	if s := res.Meta.StartAt; s == nil || !s.At.Equal(at) || s.Late != 0 {
		t.Errorf("start_at %+v, want at %v and on time", s, at)
	}
	if res.Meta.Start.Before(at) {
		t.Errorf("the load began at %v, before --start-at %v", res.Meta.Start, at)
	}
	if c := res.Meta.Clock; c == nil || len(c.Hosts) != 1 || c.Hosts[0].Host != "node-7" || c.Hosts[0].Source == "" {
		t.Errorf("clock %+v, want one host node-7 with a source", c)
	}
	if !strings.Contains(stderr, "ready; the load starts at") {
		t.Errorf("stderr does not announce the wait:\n%s", stderr)
	}
	if rtt, _ := res.Latency("rtt"); rtt.Count == 0 {
		t.Error("no round trips measured")
	}
}

func TestRunDistributedLate(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "0", "WSBENCH_SEGMENTS": "2", EnvStartBase: time.Now().Add(-3 * time.Second).UTC().Format(time.RFC3339Nano)}
	res, stderr, err := distRun(t, env, func(o *runOptions) { o.StartAt = "+1s"; o.Quiet = true })
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	s := res.Meta.StartAt
	if s == nil || s.Late < 2*time.Second {
		t.Fatalf("start_at %+v: a runner ready 2 s after the instant must record ≥ 2 s late", s)
	}
	if !strings.Contains(stderr, "starting late") {
		t.Errorf("stderr does not say it is late:\n%s", stderr)
	}
	var sum bytes.Buffer
	if err := report.WriteSummary(&sum, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.String(), "LATE by 2.") {
		t.Errorf("summary does not say how late:\n%s", sum.String())
	}
}

func TestRunDistributedErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		opts func(*runOptions)
		want string
	}{
		{map[string]string{"WSBENCH_SEGMENTS": "3"}, func(*runOptions) {}, "JOB_COMPLETION_INDEX is not set"},
		{map[string]string{"JOB_COMPLETION_INDEX": "3", "WSBENCH_SEGMENTS": "3"}, func(*runOptions) {}, "want an index 0…2"},
		{map[string]string{"JOB_COMPLETION_INDEX": "0", "WSBENCH_SEGMENTS": "3"}, func(o *runOptions) { o.StartAt = "+5s" }, "WSBENCH_START_BASE, which is not set"},
	} {
		_, _, err := distRun(t, tc.env, tc.opts)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: error %v, want usage error %q", tc.env, err, tc.want)
		}
	}
}

// TestRunDeferThresholds: a runner whose segment fails a threshold records
// the verdict but exits 0, so that its pod succeeds and the merge judges.
func TestRunDeferThresholds(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "0", "WSBENCH_SEGMENTS": "1"}
	var stdout, stderr bytes.Buffer
	for _, deferred := range []bool{false, true} {
		stdout.Reset()
		stderr.Reset()
		err := runRun(context.Background(), &runOptions{
			File: "testdata/fail-threshold.yaml", Format: "json", LogLevel: "error", Segment: "auto", Quiet: true,
			Stdout: &stdout, Stderr: &stderr, Env: func(k string) string { return env[k] },
			distOptions: distOptions{DeferThresholds: deferred},
		})
		var ee *ExitError
		switch {
		case !deferred && (!errors.As(err, &ee) || ee.Code != ExitThreshold):
			t.Errorf("without --defer-thresholds: %v, want exit 1\n%s", err, stderr.String())
		case deferred && err != nil:
			t.Errorf("with --defer-thresholds: %v, want exit 0\n%s", err, stderr.String())
		case deferred && !strings.Contains(stderr.String(), "leaves the verdict to the merge"):
			t.Errorf("with --defer-thresholds, stderr does not say so:\n%s", stderr.String())
		}
		res, rerr := report.ReadJSON(&stdout)
		if rerr != nil || len(res.Thresholds) != 1 || res.Thresholds[0].Pass {
			t.Errorf("deferred=%v: the failed verdict is not recorded: %v %+v", deferred, rerr, res)
		}
	}
}
