package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/report"
)

func writeSegmentFile(t *testing.T, path, segment string, sent int64) {
	t.Helper()
	reg := report.NewRegistry()
	reg.Counter("msgs.sent").Add(sent)
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, reg.Results(report.Meta{RunID: "run-1", ScenarioHash: "5ca1ab1e", Segment: segment})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReportWait: the merge waits while a runner's file is missing or still
// empty (run --out creates it at the start), then merges exactly the
// complete ones, never its own output.
func TestReportWait(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "merged.json")
	writeSegmentFile(t, filepath.Join(dir, "segment-0.json"), "0:1/3", 10)
	writeSegmentFile(t, out, "0:1", 1000) // a previous merge's output in the same folder
	if err := os.WriteFile(filepath.Join(dir, "segment-1.json"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, log bytes.Buffer
	o := &reportOptions{
		Files: []string{dir}, Out: out, Format: "json", Stdout: &stdout,
		waitOptions: waitOptions{Wait: 3, WaitTimeout: time.Minute, WaitPoll: 20 * time.Millisecond, Log: &log},
	}
	done := make(chan error, 1)
	go func() { done <- waitForResults(context.Background(), o) }()
	time.Sleep(150 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned with 1 of 3 complete: %v, files %v", err, o.Files)
	default:
	}
	writeSegmentFile(t, filepath.Join(dir, "segment-1.json"), "1/3:2/3", 20)
	writeSegmentFile(t, filepath.Join(dir, "segment-2.json"), "2/3:1", 30)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := runReport(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	res, err := report.ReadJSON(&stdout)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sources != 3 || res.Counters["msgs.sent"] != 60 {
		t.Errorf("merged %d sources, %d sent; want the 3 segments, 60", res.Sources, res.Counters["msgs.sent"])
	}
	if !strings.Contains(log.String(), "waiting for results files: 1 of 3 complete") || !strings.Contains(log.String(), "3 of 3 results files are complete") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestReportWaitTimeout(t *testing.T) {
	dir := t.TempDir()
	writeSegmentFile(t, filepath.Join(dir, "segment-0.json"), "0:1/2", 1)
	o := &reportOptions{
		Files:       []string{filepath.Join(dir, "segment-*.json")},
		waitOptions: waitOptions{Wait: 2, WaitTimeout: 100 * time.Millisecond, WaitPoll: 20 * time.Millisecond},
	}
	err := waitForResults(context.Background(), o)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "only 1 complete results file(s)") {
		t.Fatalf("error %v, want exit 3 naming what is there", err)
	}
	o.Wait, o.Files = 1, []string{"["}
	if err := waitForResults(context.Background(), o); !errors.As(err, &ee) || ee.Code != ExitUsage {
		t.Fatalf("bad pattern: %v, want a usage error", err)
	}
}
