package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
)

// deflateScenario chats on the embedded server with compression: true:
// every message either way is compressed (the dialer's offer, serve's
// answer), and the run must see every reply.
const deflateScenario = `target: builtin
connect: {path: /chat, compression: true}
duration: 20s
thresholds:
  - errors count == 0
scenarios:
  chat:
    vus: 3
    iterations: 1
    steps:
      - connect
      - send: {json: {op: nick, name: "z{{vu}}"}}
      - expect: {name: nick, json: {op: welcome}, timeout: 5s}
      - send: {json: {op: join, room: deflate}}
      - expect: {name: join, json: {op: joined}, timeout: 5s}
      - repeat:
          count: 3
          steps:
            - send: {json: {op: echo, id: "{{seq}}", text: "compress me, compress me again, vu {{vu}} message {{seq}}"}}
            - expect: {name: echo, json: {op: echo}, timeout: 5s}
      - close
`

// TestRunDeflateAgainstServe runs a compression: true scenario against
// `serve` (the embedded server) with --trace, then inspects the recording:
// the handshake shows the negotiated permessage-deflate, frames both ways
// carry RSV1, and inspect shows every one of them inflated, with no
// violation.
func TestRunDeflateAgainstServe(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "deflate.yaml")
	if err := os.WriteFile(file, []byte(deflateScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	tfile := filepath.Join(dir, "run.trace")
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{
		File: file, Format: "table", Quiet: true, LogLevel: "error",
		Trace: tfile, TraceConns: 3, TraceMaxBytes: trace.DefaultMaxBytes,
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var text bytes.Buffer
	if err := runInspect(context.Background(), &inspectOptions{File: tfile, MaxPayload: inspect.DefaultMaxPayload, Stdout: &text}); err != nil {
		t.Fatalf("inspect: %v\n%s", err, text.String())
	}
	out := text.String()
	wantAll(t, out,
		"   < Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"   ~  permessage-deflate: client no context takeover, 15-bit window; server no context takeover",
		`=>   text "{\"op\":\"echo\"`, "(inflated ")
	// The dialer compresses all 5 messages of each VU; serve compresses
	// the 3 echoes and sends the short replies (welcome, joined, ack:
	// under --compression-min-size) plain.
	if n := frameLines(out, " C>S ", "RSV=100 OP=0x1(text)"); n != 3*5 {
		t.Errorf("%d compressed text frames C>S, want 15:\n%s", n, out)
	}
	if n := frameLines(out, " S>C ", "RSV=100 OP=0x1(text)"); n != 3*3 {
		t.Errorf("%d compressed text frames S>C, want 9 (the echoes):\n%s", n, out)
	}
	if n := frameLines(out, " S>C ", "RSV=000 OP=0x1(text)"); n < 3*3 {
		t.Errorf("%d plain text frames S>C, want at least 9 (welcome, joined, acks):\n%s", n, out)
	}
	if strings.Contains(out, "   !    ") || strings.Contains(out, "compressed (permessage-deflate)") {
		t.Errorf("violations, or messages inspect could not inflate:\n%s", out)
	}
}
