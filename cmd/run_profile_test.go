package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRunCPUProfile: the hidden --cpuprofile flag writes a Go CPU profile
// (gzip-compressed protobuf) of the run.
func TestRunCPUProfile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "echo.yaml")
	src := `target: builtin
connect: {path: /echo}
scenarios:
  s:
    vus: 1
    iterations: 1
    steps:
      - connect
      - send: {text: hi}
      - expect: {regex: "^hi$", timeout: 2s}
      - close
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "cpu.pprof")
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{
		File: file, Format: "table", Quiet: true, LogLevel: "error", CPUProfile: prof,
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("%s is not a gzip-compressed profile (%d bytes)", prof, len(b))
	}
	if c := newRunCmd(); c.Flags().Lookup("cpuprofile") == nil || !c.Flags().Lookup("cpuprofile").Hidden {
		t.Error("--cpuprofile is missing or not hidden")
	}
}
