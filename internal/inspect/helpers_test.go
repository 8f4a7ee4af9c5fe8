package inspect

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// testStart is the start time of hand-built traces, so renderings are stable.
var testStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testRequest  = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	testResponse = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)

// builder writes a trace by hand, keeping the stream offsets itself.
type builder struct {
	b      []byte
	off    map[streamKey]uint64
	frames uint64
}

func newBuilder() *builder {
	return &builder{b: trace.AppendHeader(nil, testStart.UnixNano()), off: map[streamKey]uint64{}}
}

func (t *builder) handshake(conn uint64, at time.Duration, req, rsp string) *builder {
	t.b = trace.AppendHandshakeRecord(t.b, conn, uint64(at), []byte(req), []byte(rsp))
	return t
}

func (t *builder) frame(conn uint64, dir trace.Dir, at time.Duration, raw []byte) *builder {
	k := streamKey{conn, dir}
	t.b = trace.AppendFrameRecord(t.b, conn, dir, uint64(at), t.off[k], raw)
	t.off[k] += uint64(len(raw))
	t.frames++
	return t
}

func (t *builder) end(at time.Duration, conns uint64) []byte {
	return trace.AppendUvarintsRecord(t.b, trace.KindEnd, -1, uint64(at), t.frames, 0, 0, conns)
}

// mkFrame builds a frame as a peer might send it, right or wrong. key nil
// means unmasked; form -1 picks the minimal length form.
func mkFrame(fin bool, rsv, op uint8, key []byte, payload []byte, form int) []byte {
	b0 := op & 0xf
	if fin {
		b0 |= 0x80
	}
	b0 |= (rsv & 7) << 4
	var mask byte
	if key != nil {
		mask = 0x80
	}
	n := len(payload)
	if form < 0 {
		switch {
		case n < 126:
			form = int(Len7)
		case n < 1<<16:
			form = int(Len16)
		default:
			form = int(Len64)
		}
	}
	b := []byte{b0}
	switch LengthForm(form) {
	case Len7:
		b = append(b, mask|byte(n))
	case Len16:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	case Len64:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if key == nil {
		return append(b, payload...)
	}
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

var testKey = []byte{0x37, 0xfa, 0x21, 0x3d}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// Render renders (a test shorthand) the trace in r on w: Run with a TraceReader.
func Render(w io.Writer, r io.Reader, o RenderOptions) (RenderStats, error) {
	return Run(context.Background(), w, TraceReader{R: r}, Options{Render: o})
}

// RenderCapture renders (a test shorthand) the capture in r on w: Run with a Capture.
func RenderCapture(w io.Writer, r io.Reader, o RenderOptions) (CaptureStats, error) {
	c := &Capture{R: r}
	_, err := Run(context.Background(), w, c, Options{Render: o})
	return c.Stats, err
}
