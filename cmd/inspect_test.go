package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
)

// traceScenario sends three numbered texts per VU to /echo, pings and
// closes with a code: every kind of frame a run produces.
const traceScenario = `target: builtin
connect: {path: /echo}
duration: 20s
scenarios:
  tracer:
    vus: 3
    iterations: 1
    steps:
      - connect
      - repeat:
          count: 3
          steps:
            - send: {text: "trace-me vu={{vu}} n={{seq}}"}
            - expect: {name: rtt, regex: "^trace-me", timeout: 5s}
      - ping: {name: pingrtt, timeout: 5s, payload: "are-you-there"}
      - close: {code: 4000, reason: bye}
`

// TestRunTraceInspect records a run against the embedded server with
// --trace, then inspects the file: the handshake and every frame the
// scenario sent must be there, for the sampled connections only.
func TestRunTraceInspect(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "trace.yaml")
	if err := os.WriteFile(file, []byte(traceScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	tfile := filepath.Join(dir, "run.trace")
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{
		File: file, Format: "table", Quiet: true, LogLevel: "error",
		Trace: tfile, TraceConns: 2, TraceMaxBytes: trace.DefaultMaxBytes,
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}

	var text bytes.Buffer
	if err := runInspect(context.Background(), &inspectOptions{File: tfile, MaxPayload: inspect.DefaultMaxPayload, Stdout: &text}); err != nil {
		t.Fatalf("inspect: %v\n%s", err, text.String())
	}
	out := text.String()
	for _, want := range []string{
		"== ", " c1 handshake", " c2 handshake", "   > GET /echo HTTP/1.1", "   < HTTP/1.1 101 Switching Protocols",
		"OP=0x9(ping) MASK=1", `=>   ping payload="are-you-there"`,
		"OP=0xa(pong) MASK=0", "OP=0x8(close) MASK=1", `=>   close code=4000(Private Use) reason="bye"`,
		"end: ", " 2 connection(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`(?m)^(#\d+|==) \S+ c3 `).MatchString(out) || strings.Contains(out, "   !    ") {
		t.Errorf("a third connection or a violation in a 2-connection trace of a clean run:\n%s", out)
	}
	// Each traced VU sent its three texts, masked, and got them back.
	for _, dirName := range []string{"C>S", "S>C"} {
		n := 0
		for line := range strings.SplitSeq(out, "\n") {
			if strings.Contains(line, " "+dirName+" ") && strings.Contains(line, "OP=0x1(text)") {
				n++
			}
		}
		if n != 6 {
			t.Errorf("%d text frames %s, want 6 (3 per traced connection):\n%s", n, dirName, out)
		}
	}
	if strings.Count(out, `=>   text "trace-me vu=`) != 12 {
		t.Errorf("want 12 trace-me texts:\n%s", out)
	}

	// JSON Lines, filtered: client texts of connection 1.
	var js bytes.Buffer
	if err := runInspect(context.Background(), &inspectOptions{File: tfile, JSON: true, Conns: []string{"c1"}, Dirs: []string{"c2s"}, Opcodes: []string{"text"}, Stdout: &js}); err != nil {
		t.Fatal(err)
	}
	frames := 0
	for line := range strings.SplitSeq(strings.TrimSpace(js.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if m["type"] == "frame" {
			frames++
			if m["conn"] != 1.0 || m["dir"] != "C>S" || m["op"] != "text" || m["masked"] != true || !strings.HasPrefix(m["text"].(string), "trace-me vu=") {
				t.Errorf("filtered frame %v", m)
			}
		}
	}
	if frames != 3 {
		t.Errorf("%d frames after filters, want 3:\n%s", frames, js.String())
	}

	// A truncated copy renders up to the cut and fails with the offset.
	raw, err := os.ReadFile(tfile)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.trace")
	if err := os.WriteFile(cut, raw[:len(raw)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	text.Reset()
	err = runInspect(context.Background(), &inspectOptions{File: cut, Stdout: &text})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "at byte ") {
		t.Errorf("truncated trace: %v, want exit %d naming the byte offset", err, ExitFailure)
	}
	if !strings.Contains(text.String(), " handshake\n") || !strings.Contains(text.String(), "\n#1 ") || !strings.Contains(text.String(), "!! trace: at byte ") {
		t.Errorf("truncated trace: want the records before the cut and the error line:\n%s", text.String())
	}
}

func TestInspectUsage(t *testing.T) {
	for _, o := range []inspectOptions{
		{File: "x", Conns: []string{"zero"}},
		{File: "x", Dirs: []string{"up"}},
		{File: "x", Opcodes: []string{"0x10"}},
		{File: "x", Grep: "("},
		{File: "x", MaxPayload: -1},
		{File: "ws://127.0.0.1:1/", Headers: []string{"no colon"}},
		{File: "ws://127.0.0.1:1/", Listen: "127.0.0.1:0"},
		{Listen: "127.0.0.1:0"},
		{Listen: "127.0.0.1:0", Upstream: "http://x/"},
		{Listen: "127.0.0.1:0", Upstream: "ws://127.0.0.1:1/", Binary: true},
		{File: "ws://127.0.0.1:1/", Record: filepath.Join(t.TempDir(), "missing", "x.trace")},
		{File: filepath.Join(t.TempDir(), "missing.trace")},
	} {
		o.Stdout = &bytes.Buffer{}
		err := runInspect(context.Background(), &o)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage {
			t.Errorf("%+v: %v, want a usage error", o, err)
		}
	}
}

func TestRunTraceFlagErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "trace.yaml")
	if err := os.WriteFile(file, []byte(traceScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runRun(context.Background(), &runOptions{
		File: file, Format: "table", Quiet: true, Duration: time.Second,
		Trace: filepath.Join(dir, "missing", "x.trace"), TraceMaxBytes: trace.DefaultMaxBytes,
		Stdout: &out, Stderr: &out,
	})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), "--trace") {
		t.Errorf("--trace into a missing directory: %v, want a usage error", err)
	}
}

// TestTraceFlagsWired drives the commands through cobra, as a user would.
func TestTraceFlagsWired(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "trace.yaml")
	if err := os.WriteFile(file, []byte(traceScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	tfile := filepath.Join(dir, "flags.trace")
	root := NewRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"run", file, "-q", "--trace", tfile, "--trace-conns", "1", "--trace-max-bytes", "100000"})
	if err := root.Execute(); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	root = NewRootCmd()
	out.Reset()
	root.SetOut(&out)
	root.SetArgs([]string{"inspect", tfile, "--opcode", "close", "--dir", "s2c"})
	if err := root.Execute(); err != nil {
		t.Fatalf("inspect: %v\n%s", err, out.String())
	}
	s := out.String()
	if strings.Count(s, "\n#") != 1 || !strings.Contains(s, "S>C") || !strings.Contains(s, "OP=0x8(close)") || !strings.Contains(s, " 1 connection(s)") {
		t.Errorf("want the one server close frame of one traced connection:\n%s", s)
	}
	if strings.Contains(s, "\x1b[") {
		t.Errorf("colour on a non-terminal:\n%q", s)
	}
}
