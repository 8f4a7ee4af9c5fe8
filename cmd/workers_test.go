package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/report"
)

// workerOpts returns options for a run whose workers are this test binary
// acting as wsbench.
func workerOpts(t *testing.T, file string, workers int) (*runOptions, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	t.Setenv(envAsMain, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	return &runOptions{
		File: file, Workers: workers, WorkerExe: exe,
		Format: "json", Quiet: true, LogLevel: "error",
		Stdout: &stdout, Stderr: &stderr, Interval: 250 * time.Millisecond,
	}, &stdout, &stderr
}

// TestRunWorkers splits a chat scenario over two worker processes against
// the parent's embedded server: every VU runs exactly once across the
// workers (nick names are unique on the server, so an overlap would fail
// a nick), fan-out deliveries are measured, and the results are merged.
func TestRunWorkers(t *testing.T) {
	opts, stdout, stderr := workerOpts(t, "../examples/chat-room.yaml", 2)
	opts.VUs = 20
	opts.Duration = 3 * time.Second
	err := runRun(context.Background(), opts)
	var ee *ExitError
	if err != nil && (!errors.As(err, &ee) || ee.Code != ExitThreshold) {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	res, rerr := report.ReadJSON(bytes.NewReader(stdout.Bytes()))
	if rerr != nil {
		t.Fatalf("read results: %v\n%s", rerr, stdout.String())
	}
	if res.Sources != 2 {
		t.Errorf("sources = %d, want 2", res.Sources)
	}
	nick, _ := res.Latency("nick")
	if nick.Count != 20 {
		t.Errorf("nick count = %d, want 20 (each of the 20 VUs once, across both workers)\nstderr:\n%s", nick.Count, stderr.String())
	}
	if res.Counters["listener.delivery"] == 0 {
		t.Errorf("no deliveries counted: %v", res.Counters)
	}
	if got := res.CounterPrefix("errors."); got != 0 {
		t.Errorf("errors = %d: %v\nstderr:\n%s", got, res.Counters, stderr.String())
	}
	if len(res.Thresholds) == 0 {
		t.Error("the file's thresholds were not evaluated on the merged results")
	}
}

func TestRunWorkersFailure(t *testing.T) {
	opts, _, stderr := workerOpts(t, "../examples/echo.yaml", 2)
	opts.WorkerExe = "/bin/false"
	opts.Duration = time.Second
	err := runRun(context.Background(), opts)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure {
		t.Fatalf("err = %v, want exit %d", err, ExitFailure)
	}
	if !strings.Contains(err.Error(), "worker 1/2 (segment 0:1/2)") || !strings.Contains(err.Error(), "without reporting results") {
		t.Errorf("error does not say which worker failed and how: %v (stderr %q)", err, stderr.String())
	}
}

func TestRunWorkersUsage(t *testing.T) {
	for _, c := range []struct {
		mod  func(*runOptions)
		want string
	}{
		{func(o *runOptions) { o.Workers = -1 }, "--workers -1"},
		{func(o *runOptions) { o.Trace = "x.wsbt" }, "--trace records the frames of one process"},
		{func(o *runOptions) { o.WorkerStream = true }, "a worker cannot start workers"},
	} {
		opts, _, _ := workerOpts(t, "../examples/echo.yaml", 2)
		c.mod(opts)
		err := runRun(context.Background(), opts)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want usage error containing %q", err, c.want)
		}
	}
}

// TestWorkerEnv: workers share the parent's CPUs (GOMAXPROCS = procs /
// workers, at least 1), unless the user set GOMAXPROCS.
func TestWorkerEnv(t *testing.T) {
	last := func(env []string) string { return env[len(env)-1] }
	for _, c := range []struct {
		procs, workers int
		want           string
	}{{2, 2, "GOMAXPROCS=1"}, {16, 2, "GOMAXPROCS=8"}, {2, 4, "GOMAXPROCS=1"}, {8, 3, "GOMAXPROCS=2"}} {
		if got := last(workerEnv([]string{"A=b"}, c.procs, c.workers)); got != c.want {
			t.Errorf("%d procs, %d workers: %s, want %s", c.procs, c.workers, got, c.want)
		}
	}
	env := []string{"GOMAXPROCS=3", "A=b"}
	if got := workerEnv(env, 2, 2); len(got) != 2 {
		t.Errorf("a GOMAXPROCS the user set was overridden: %v", got)
	}
}
