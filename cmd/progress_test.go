package cmd

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProgressOpenModel is the regression for the progress line of an
// open-model run showing `vus 0 conns 0` while sessions send hundreds of
// messages a second: each session lasts about a millisecond, so the gauges
// read when an interval closes are nearly always 0. Every line with
// traffic must show the VUs and connections that carried it.
func TestProgressOpenModel(t *testing.T) {
	var stdout, stderr bytes.Buffer
	opts := &runOptions{
		File: "../examples/arrival-rate.yaml", Duration: 2 * time.Second, Rate: 100,
		Format: "json", LogLevel: "error", Interval: 250 * time.Millisecond,
		Stdout: &stdout, Stderr: &stderr, StderrTTY: true,
	}
	err := runRun(context.Background(), opts)
	var ee *ExitError
	if err != nil && !(errors.As(err, &ee) && ee.Code == ExitThreshold) {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	re := regexp.MustCompile(`^\[(\S+)/2s +(\d+)%\] vus (\d+)(?: \(peak (\d+)\))?  conns (\d+)(?: \(peak (\d+)\))?  out (\S+)/s`)
	busy := 0
	for _, line := range strings.Split(stderr.String(), "\r\x1b[K") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "wsbench: scaling ") { // the mix printed at start
			continue
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("progress line %q does not show elapsed/total, VUs, connections and rates", line)
		}
		if m[7] == "0" || m[7] == "-" {
			continue
		}
		busy++
		if !shown(m[3], m[4]) || !shown(m[5], m[6]) {
			t.Errorf("line with traffic shows no VU or connection: %q", line)
		}
	}
	if busy < 3 {
		t.Fatalf("only %d progress lines with traffic:\n%s", busy, stderr.String())
	}
}

// shown says whether a gauge's value or its peak is above zero.
func shown(value, peak string) bool { return value != "0" || peak != "" && peak != "0" }

// --log-every sets how often the logfmt progress line is written when
// stderr is not a terminal: every interval for kubectl logs, every ten by
// default.
func TestLogEvery(t *testing.T) {
	for _, tc := range []struct {
		every, interval time.Duration
		want            int
	}{{0, time.Second, 0}, {time.Second, time.Second, 1}, {10 * time.Second, time.Second, 10}, {1400 * time.Millisecond, time.Second, 1}, {time.Second, 250 * time.Millisecond, 4}} {
		o := &runOptions{LogEvery: tc.every, Interval: tc.interval}
		if got := o.progressEvery(); got != tc.want {
			t.Errorf("--log-every %s with %s intervals: every %d intervals, want %d", tc.every, tc.interval, got, tc.want)
		}
	}
	var stdout, stderr bytes.Buffer
	opts := &runOptions{
		File: "../examples/echo.yaml", Duration: 2 * time.Second, VUs: 2,
		Format: "json", LogLevel: "error", Interval: 250 * time.Millisecond, LogEvery: 250 * time.Millisecond,
		Stdout: &stdout, Stderr: &stderr,
	}
	if err := runRun(context.Background(), opts); err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitThreshold {
			t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
		}
	}
	lines := strings.Count(stderr.String(), "msg=progress ")
	if lines < 6 {
		t.Errorf("%d logfmt progress lines in a 2s run at --log-every 250ms, want one per interval (≥ 6):\n%s", lines, stderr.String())
	}
}
