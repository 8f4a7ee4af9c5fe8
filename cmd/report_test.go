package cmd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/report"
)

func writeResults(t *testing.T, dir, name string, samples int, th string) string {
	t.Helper()
	reg := report.NewRegistry()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg.StartAt(start)
	for i := 1; i <= samples; i++ {
		reg.Latency("echo").Record(time.Duration(i) * time.Millisecond)
		reg.Counter("msgs.sent").Inc()
	}
	reg.Tick(start.Add(time.Second))
	seg := map[string]string{"a": "0:1/2", "b": "1/2:1"}[name]
	res := reg.Results(report.Meta{Scenario: "echo.yaml", Start: start, End: start.Add(time.Second), Segment: seg, RunID: "run-" + name, ScenarioHash: "0123456789abcdef"})
	if th != "" {
		p, err := report.ParseThreshold(th)
		if err != nil {
			t.Fatal(err)
		}
		res.Thresholds = report.Evaluate(res, []report.Threshold{p})
	}
	path := filepath.Join(dir, name+".json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := report.WriteJSON(f, res); err != nil {
		t.Fatal(err)
	}
	return path
}

func execRoot(args ...string) (string, error) {
	root := NewRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func code(err error) int {
	var ee *ExitError
	if err == nil {
		return 0
	}
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}

func TestReportCmd(t *testing.T) {
	dir := t.TempDir()
	a := writeResults(t, dir, "a", 100, "echo p99 < 150ms")
	b := writeResults(t, dir, "b", 200, "echo p99 < 150ms")

	out, err := execRoot("report", a)
	if code(err) != 0 || !strings.Contains(out, "echo") || !strings.Contains(out, "✓ pass") {
		t.Fatalf("single: err %v\n%s", err, out)
	}
	merged := filepath.Join(dir, "m.json")
	out, err = execRoot("report", a, b, "--out", merged)
	if code(err) != ExitThreshold || !strings.Contains(out, "merged:    2 results") || !strings.Contains(out, "✗ FAIL") {
		t.Fatalf("merged: err %v\n%s", err, out)
	}
	f, err := os.Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	res, err := report.ReadJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := res.Latency("echo"); l.Count != 300 || res.Counters["msgs.sent"] != 300 {
		t.Fatalf("merged file: %+v %v", l, res.Counters)
	}
	out, err = execRoot("report", a, "--format", "json")
	if code(err) != 0 || !strings.HasPrefix(out, "{") || !strings.Contains(out, `"histogram"`) {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if _, err = execRoot("report", a, "--format", "xml"); code(err) != ExitUsage {
		t.Fatalf("bad format: %v", err)
	}
	if _, err = execRoot("report", filepath.Join(dir, "missing.json")); code(err) != ExitUsage || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if _, err = execRoot("report", bad); code(err) != ExitUsage || !strings.Contains(err.Error(), "bad.json: read results") {
		t.Fatalf("bad file: %v", err)
	}
	if _, err = execRoot("report", a, "--out", filepath.Join(dir, "nodir", "x.json")); code(err) != ExitFailure {
		t.Fatalf("bad out: %v", err)
	}
}
