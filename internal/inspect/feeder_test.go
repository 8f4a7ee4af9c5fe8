package inspect

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// gateWriter blocks every Write until the gate is opened.
type gateWriter struct {
	gate chan struct{}
	mu   sync.Mutex
	b    bytes.Buffer
}

func (w *gateWriter) Write(p []byte) (int, error) {
	<-w.gate
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestFeederNeverBlocks: with the output stuck, feeding never waits; what
// does not fit the queue is shown as gaps, and decoding resumes on real
// frame boundaries.
func TestFeederNeverBlocks(t *testing.T) {
	frame := mkFrame(true, 0, OpBinary, testKey, bytes.Repeat([]byte{0xab}, 200), -1)
	w := &gateWriter{gate: make(chan struct{})}
	s := NewSession(w, SessionOptions{Render: RenderOptions{MaxPayload: 8}})
	f := NewFeeder(s, 16<<10)
	f.Open(1)
	f.Handshake(1, time.Now(), []byte(testRequest), []byte(testResponse))
	const total = 2000
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := 0; i < total; i += 10 {
			f.Data(1, trace.ClientToServer, time.Now(), bytes.Repeat(frame, 10))
		}
		f.Note(1, "c1 closed")
	}()
	select {
	case <-fed:
	case <-time.After(10 * time.Second):
		t.Fatal("Data blocked while the output was stuck")
	}
	st := f.Stats()
	if st.DroppedBytes == 0 || st.DroppedChunks == 0 {
		t.Fatalf("stats %+v: nothing dropped with the output stuck", st)
	}
	close(w.gate)
	f.Close()
	st = f.Stats()
	out := w.b.String()
	if uint64(strings.Count(out, "gap of ")) != st.Gaps || st.Gaps == 0 {
		t.Errorf("%d gap notes, stats %+v", strings.Count(out, "gap of "), st)
	}
	if !strings.Contains(out, "(relayed but not decoded: the renderer fell behind)") || !strings.HasSuffix(out, "-- c1 closed\n") {
		t.Errorf("no gap reason or the last note is not last:\n%s", out[max(0, len(out)-2000):])
	}
	offs := regexp.MustCompile(`(?m)^#\d+ \S+ c1 C>S @(\d+) `).FindAllStringSubmatch(out, -1)
	if len(offs) == 0 || len(offs) >= total {
		t.Fatalf("%d of %d frames rendered", len(offs), total)
	}
	for _, m := range offs {
		off, _ := strconv.Atoi(m[1])
		if off%len(frame) != 0 {
			t.Fatalf("frame at stream offset %d: not a real frame boundary", off)
		}
	}
	if strings.Contains(out, "   !    ") {
		t.Errorf("violations after resyncs")
	}
	// Every byte is either rendered as a frame or counted as dropped, but
	// for the frames cut by gaps and passed over while resyncing.
	if got := uint64(len(offs)*len(frame)) + st.DroppedBytes; got > total*uint64(len(frame)) {
		t.Errorf("%d bytes rendered or dropped, of %d", got, total*len(frame))
	}
}
