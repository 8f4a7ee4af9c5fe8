package inspect

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// scripted is a Source as a new kind would be written: it hands the
// Session a handshake and bytes cut anywhere, then ends with err.
type scripted struct {
	frames []byte // client frames, fed a byte at a time
	err    error
}

func (sc scripted) Inspect(_ context.Context, s *Session) error {
	s.Open(1)
	at := time.Now()
	s.Handshake(1, at, []byte(testRequest), []byte(testResponse))
	for i := range sc.frames {
		s.Data(1, trace.ClientToServer, at, sc.frames[i:i+1])
	}
	s.Note(1, "scripted source done")
	return sc.err
}

func scriptedFrames() []byte {
	return append(mkFrame(true, 0, OpText, testKey, []byte("hello"), -1), mkFrame(false, 0, OpText, nil, []byte("unmasked"), -1)...)
}

// TestRunSource: whatever the source, Run renders what it feeds, records
// it when asked, and the recording renders the same frames.
func TestRunSource(t *testing.T) {
	var file bytes.Buffer
	rec, err := trace.NewWriter(&file, trace.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st, err := Run(context.Background(), &out, scripted{frames: scriptedFrames()}, Options{Render: RenderOptions{MaxPayload: 64}, Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	// Two frames, the second unmasked from the client: one violation.
	if st.Frames != 2 || st.Shown != 2 || st.Violations != 1 {
		t.Errorf("stats %+v, want 2 frames shown, 1 violation", st)
	}
	for _, want := range []string{"GET /echo HTTP/1.1", `text "hello"`, "unmasked-client-frame", "-- scripted source done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rendering lacks %q:\n%s", want, out.String())
		}
	}
	var back bytes.Buffer
	if _, err := Run(context.Background(), &back, TraceReader{R: &file}, Options{Render: RenderOptions{MaxPayload: 64}}); err != nil {
		t.Fatal(err)
	}
	if a, b := frameLines(out.String()), frameLines(back.String()); a != b {
		t.Errorf("live rendering differs from the recording's:\n--- live\n%s\n--- recorded\n%s", a, b)
	}
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

// TestRunErrors: the source's own error wins; without one, an error
// writing the output is Run's error.
func TestRunErrors(t *testing.T) {
	stop := errors.New("the source broke")
	if _, err := Run(context.Background(), &bytes.Buffer{}, scripted{err: stop}, Options{}); !errors.Is(err, stop) {
		t.Errorf("source error: got %v", err)
	}
	if _, err := Run(context.Background(), &failAfter{}, scripted{err: stop}, Options{}); !errors.Is(err, stop) {
		t.Errorf("source error with a failing output: got %v", err)
	}
	_, err := Run(context.Background(), &failAfter{}, scripted{frames: scriptedFrames()}, Options{})
	if err == nil || !strings.Contains(err.Error(), "write output: disk full") {
		t.Errorf("output error: got %v", err)
	}
}
