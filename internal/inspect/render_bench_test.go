package inspect

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// BenchmarkSessionDataJSON is BenchmarkSessionData (live_test.go) with
// --json: 131-byte masked text frames in 32 KiB chunks.
func BenchmarkSessionDataJSON(b *testing.B) {
	frame := mkFrame(true, 0, OpText, []byte{1, 2, 3, 4}, bytes.Repeat([]byte("x"), 125), -1)
	chunk := bytes.Repeat(frame, (32<<10)/len(frame))
	s := NewSession(io.Discard, SessionOptions{Render: RenderOptions{MaxPayload: DefaultMaxPayload, JSON: true}})
	now := time.Now()
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		s.Data(1, trace.ClientToServer, now, chunk)
	}
}
