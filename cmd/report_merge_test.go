package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// echoScenario writes a small scenario against the embedded server's /echo
// with one threshold.
func echoScenario(t *testing.T, dir, name, threshold string) string {
	t.Helper()
	y := `target: builtin
connect:
  path: /echo
duration: 1s
graceful_stop: 1s
thresholds:
  - ` + threshold + `
scenarios:
  echoers:
    vus: 2
    steps:
      - connect
      - send: {text: "hi {{vu}}"}
      - expect: {name: rtt, regex: "^hi ", timeout: 2s}
      - close
`
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runTo runs file with extra flags into dir/out and checks the exit code.
func runTo(t *testing.T, file, out string, wantCode int, flags ...string) string {
	t.Helper()
	args := append([]string{"run", file, "--quiet", "--out", out}, flags...)
	stdout, err := execRoot(args...)
	if code(err) != wantCode {
		t.Fatalf("run %v: exit %d (%v), want %d\n%s", flags, code(err), err, wantCode, stdout)
	}
	return out
}

// TestReportRefusesBadMerges merges results files written by real runs:
// two halves of one run merge; a file with itself, a merged file with one
// of its parts, files of different scenarios and {} are refused with exit
// 2 unless --force; report exits with the threshold verdict.
func TestReportRefusesBadMerges(t *testing.T) {
	dir := t.TempDir()
	pass := echoScenario(t, dir, "pass.yaml", "msgs.sent count > 0")
	fail := echoScenario(t, dir, "fail.yaml", "rtt p99 < 1ns")
	a := runTo(t, pass, filepath.Join(dir, "a.json"), ExitOK, "--segment", "0:1/2")
	b := runTo(t, pass, filepath.Join(dir, "b.json"), ExitOK, "--segment", "1/2:1", "--run-id", "night-42")
	c := runTo(t, fail, filepath.Join(dir, "c.json"), ExitThreshold)
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}

	ra, rb := readResultsFile(t, a), readResultsFile(t, b)
	if ra.Meta.RunID == "" || rb.Meta.RunID != "night-42" || ra.Meta.Segment != "0:1/2" || rb.Meta.Segment != "1/2:1" {
		t.Fatalf("meta a %+v, b %+v", ra.Meta, rb.Meta)
	}
	if len(ra.Meta.ScenarioHash) != 64 || ra.Meta.ScenarioHash != rb.Meta.ScenarioHash {
		t.Fatalf("scenario hashes %q %q", ra.Meta.ScenarioHash, rb.Meta.ScenarioHash)
	}
	if rc := readResultsFile(t, c); rc.Meta.Segment != "0:1" || rc.Meta.ScenarioHash == ra.Meta.ScenarioHash {
		t.Fatalf("meta c %+v", rc.Meta)
	}

	merged := filepath.Join(dir, "ab.json")
	out, err := execRoot("report", a, b, "--out", merged)
	if code(err) != ExitOK || !strings.Contains(out, "merged:    2 results") {
		t.Fatalf("a+b: exit %d (%v)\n%s", code(err), err, out)
	}
	if m := readResultsFile(t, merged); m.Meta.Segment != "0:1/2,1/2:1" || !strings.Contains(m.Meta.RunID, "night-42") {
		t.Errorf("merged meta %+v", m.Meta)
	}

	for _, tc := range []struct {
		name  string
		files []string
		want  string // in the error
		force int    // exit status with --force
	}{
		{"itself", []string{a, a}, "segment 0:1/2 overlaps segment 0:1/2", ExitOK},
		{"merged with a part", []string{merged, b}, "overlaps", ExitOK},
		{"different scenarios", []string{a, c}, "different scenarios", ExitThreshold},
		{"empty", []string{empty}, "empty.json: not a results file", ExitOK},
		{"empty beside a real one", []string{a, empty}, "no meta.run_id", ExitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execRoot(append([]string{"report"}, tc.files...)...)
			if code(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("exit %d, error %v; want exit 2 with %q", code(err), err, tc.want)
			}
			out, err := execRoot(append([]string{"report", "--force"}, tc.files...)...)
			if code(err) != tc.force || !strings.Contains(out, "warning (--force)") {
				t.Fatalf("--force: exit %d (%v), want %d\n%s", code(err), err, tc.force, out)
			}
		})
	}

	// The verdict is the thresholds'.
	if _, err := execRoot("report", c); code(err) != ExitThreshold || !strings.Contains(err.Error(), "rtt p99 < 1ns") {
		t.Errorf("report of a failing run: exit %d (%v)", code(err), err)
	}
	if _, err := execRoot("report", a); code(err) != ExitOK {
		t.Errorf("report of a passing run: exit %d (%v)", code(err), err)
	}
}
