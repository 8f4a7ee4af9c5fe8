package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsbench/wsbench/scenario"
)

// TestCheckRejectsUnrecordableThreshold: --check (and so run) rejects a
// threshold on a metric the scenario never records, with a did-you-mean,
// and prints what --vus makes of the file's mix.
func TestCheckRejectsUnrecordableThreshold(t *testing.T) {
	dir := t.TempDir()
	write := func(name, thresholds string) string {
		f := filepath.Join(dir, name)
		src := "duration: 1s\nthresholds: [" + thresholds + "]\nscenarios:\n" +
			"  a: {vus: 3, steps: [connect, {send: {text: hi}}, {expect: {name: rtt}}]}\n" +
			"  b: {vus: 9, steps: [connect]}\n"
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{File: write("typo.yaml", `"rttt p99 < 50ms"`), Check: true, Format: "table", Stdout: &stdout, Stderr: &stderr})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), `metric "rttt" is never recorded`) || !strings.Contains(err.Error(), "did you mean `rtt`?") {
		t.Fatalf("--check with a typo: %v, want exit %d with a did-you-mean", err, ExitUsage)
	}
	stdout.Reset()
	err = runRun(context.Background(), &runOptions{File: write("ok.yaml", `"rtt p99 < 50ms", "errors count == 0"`), Check: true, VUs: 8, Format: "table", Stdout: &stdout, Stderr: &stderr})
	if err != nil || !strings.Contains(stdout.String(), "ok (2 scenario(s), 2 threshold(s))") {
		t.Fatalf("--check of a good file: %v\n%s", err, stdout.String())
	}
	if !strings.Contains(stderr.String(), "scaling --vus by the file's mix: a 2, b 6 VUs (file: 3, 9)") {
		t.Errorf("stderr lacks the scaling line:\n%s", stderr.String())
	}
}

// TestCheckWarnsAboutOneSourceAddress: a plan that holds more connections
// from one address than half of the local port range gets a warning that
// names --source; spreading them with --source silences it.
func TestCheckWarnsAboutOneSourceAddress(t *testing.T) {
	f := filepath.Join(t.TempDir(), "hold.yaml")
	if err := os.WriteFile(f, []byte("duration: 1s\nscenarios:\n  a: {vus: 10, steps: [connect]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	vus := scenario.LocalPortRange()/2 + 1000
	if err := runRun(context.Background(), &runOptions{File: f, Check: true, VUs: vus, Format: "table", Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "warning: up to") || !strings.Contains(stderr.String(), "--source 127.0.0.1-127.0.0.") {
		t.Fatalf("--vus %d from one address: no warning naming --source:\n%s", vus, stderr.String())
	}
	stderr.Reset()
	if err := runRun(context.Background(), &runOptions{File: f, Check: true, VUs: vus, Source: "127.0.0.1-127.0.0.8", Format: "table", Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "warning") {
		t.Fatalf("spread over 8 addresses, still warned:\n%s", stderr.String())
	}
}
