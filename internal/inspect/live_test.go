package inspect

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

type splitFrame struct {
	off uint64
	raw string
}

// liveStream is a client stream with every length form, a fragmented
// message around a ping, and a close.
func liveStream() []byte {
	key := []byte{1, 2, 3, 4}
	var b []byte
	b = append(b, mkFrame(true, 0, OpText, key, []byte("hello"), -1)...)
	b = append(b, mkFrame(true, 0, OpBinary, key, bytes.Repeat([]byte{7}, 300), -1)...)
	b = append(b, mkFrame(true, 0, OpBinary, nil, bytes.Repeat([]byte{9}, 70000), -1)...)
	b = append(b, mkFrame(false, 0, OpText, key, []byte("frag-"), -1)...)
	b = append(b, mkFrame(true, 0, OpPing, key, []byte("p"), -1)...)
	b = append(b, mkFrame(true, 0, OpContinuation, key, []byte("ment"), -1)...)
	return append(b, mkFrame(true, 0, OpClose, key, closePayload(1000, "done"), -1)...)
}

func split(t *testing.T, stream []byte, chunk, maxFrame int) (frames []splitFrame, over []uint64, broken []string) {
	t.Helper()
	var sp splitter
	ev := splitEvents{
		frame:     func(off uint64, raw []byte) { frames = append(frames, splitFrame{off, string(raw)}) },
		oversized: func(off uint64, _ []byte, size uint64) { over = append(over, off, size) },
		broken:    func(err error) { broken = append(broken, err.Error()) },
	}
	for i := 0; i < len(stream); i += chunk {
		sp.feed(stream[i:min(i+chunk, len(stream))], maxFrame, ev)
	}
	return frames, over, broken
}

// TestSplitterChunking: whatever the read sizes, the same frames at the
// same offsets come out.
func TestSplitterChunking(t *testing.T) {
	stream := liveStream()
	want, _, _ := split(t, stream, len(stream), DefaultMaxLiveFrame)
	if len(want) != 7 {
		t.Fatalf("%d frames from the whole stream, want 7", len(want))
	}
	var joined []byte
	for i, f := range want {
		if f.off != uint64(len(joined)) {
			t.Errorf("frame %d at offset %d, want %d", i, f.off, len(joined))
		}
		if _, n, err := ParseFrame([]byte(f.raw)); err != nil || n != len(f.raw) {
			t.Errorf("frame %d is not one whole frame: %d of %d bytes, %v", i, n, len(f.raw), err)
		}
		joined = append(joined, f.raw...)
	}
	if !bytes.Equal(joined, stream) {
		t.Fatal("frames do not add up to the stream")
	}
	for _, chunk := range []int{1, 2, 3, 7, 13, 100, 4096} {
		got, over, broken := split(t, stream, chunk, DefaultMaxLiveFrame)
		if len(over)+len(broken) > 0 || len(got) != len(want) {
			t.Fatalf("chunk %d: %d frames, oversized %v, broken %v", chunk, len(got), over, broken)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("chunk %d: frame %d differs", chunk, i)
			}
		}
	}
}

func TestSplitterOversizedAndBroken(t *testing.T) {
	stream := liveStream()
	for _, chunk := range []int{1, 5, 1000, len(stream)} {
		frames, over, broken := split(t, stream, chunk, 1000)
		// The 70000-byte binary frame is passed over; the others come out.
		if len(frames) != 6 || len(broken) != 0 || len(over) != 2 || over[1] != 70010 {
			t.Fatalf("chunk %d: %d frames, oversized %v, broken %v", chunk, len(frames), over, broken)
		}
		if frames[2].off != over[0]+over[1] {
			t.Errorf("chunk %d: frame after the skipped one at %d, want %d", chunk, frames[2].off, over[0]+over[1])
		}
	}
	bad := append(mkFrame(true, 0, OpText, nil, []byte("ok"), -1), 0x82, 127)
	bad = binary.BigEndian.AppendUint64(bad, 1<<63)
	bad = append(bad, mkFrame(true, 0, OpText, nil, []byte("never"), -1)...)
	for _, chunk := range []int{1, len(bad)} {
		frames, _, broken := split(t, bad, chunk, 1000)
		if len(frames) != 1 || len(broken) != 1 || !strings.Contains(broken[0], "at stream byte 4") || !strings.Contains(broken[0], "most significant bit") {
			t.Errorf("chunk %d: frames %v, broken %v", chunk, frames, broken)
		}
	}
}

// TestSessionMatchesRecording: a live session's rendering of frames fed in
// odd chunks equals the rendering of what it recorded.
func TestSessionMatchesRecording(t *testing.T) {
	var file bytes.Buffer
	rec, err := trace.NewWriter(&file, trace.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var live bytes.Buffer
	s := NewSession(&live, SessionOptions{Render: RenderOptions{MaxPayload: 64}, Record: rec, MaxFrame: 1000})
	s.Open(1)
	at := rec.Start()
	s.Handshake(1, at.Add(time.Millisecond), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
	stream := liveStream()
	srv := append(mkFrame(true, 0, OpText, nil, []byte("hi"), -1), mkFrame(true, 0, OpClose, nil, closePayload(1000, ""), -1)...)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < len(stream); i += 333 {
			s.Data(1, trace.ClientToServer, at.Add(time.Duration(i)*time.Microsecond), stream[i:min(i+333, len(stream))])
		}
	}()
	go func() {
		defer wg.Done()
		for i := range srv {
			s.Data(1, trace.ServerToClient, at.Add(2*time.Millisecond), srv[i:i+1])
		}
	}()
	wg.Wait()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	var back bytes.Buffer
	if _, err := Render(&back, &file, RenderOptions{MaxPayload: 64}); err != nil {
		t.Fatal(err)
	}
	keep := func(out string) (lines []string) {
		for l := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "   ") || strings.HasPrefix(l, "==") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	a, b := keep(live.String()), keep(back.String())
	if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) < 20 {
		t.Errorf("live rendering differs from the recording's:\n--- live\n%s\n--- recorded\n%s", live.String(), back.String())
	}
	if !strings.Contains(live.String(), "frame of 70010 bytes") || !strings.Contains(back.String(), "1 frame(s), 70010 byte(s) not recorded") {
		t.Errorf("the oversized frame is not accounted for:\n%s\n%s", live.String(), back.String())
	}
	// 6 client frames (the 70000-byte one passed over) and 2 server frames,
	// all conforming.
	if st := s.Stats(); st.Frames != 8 || st.Shown != 8 || st.Violations != 0 {
		t.Errorf("stats %+v, want 8 frames shown, no violation", st)
	}
}

// BenchmarkSessionData measures what the relay pays per chunk it decodes
// and renders: 32 KiB reads of 125-byte masked text frames, rendered as
// text to io.Discard.
func BenchmarkSessionData(b *testing.B) {
	frame := mkFrame(true, 0, OpText, []byte{1, 2, 3, 4}, bytes.Repeat([]byte("x"), 125), -1)
	chunk := bytes.Repeat(frame, (32<<10)/len(frame))
	s := NewSession(io.Discard, SessionOptions{Render: RenderOptions{MaxPayload: DefaultMaxPayload}})
	now := time.Now()
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		s.Data(1, trace.ClientToServer, now, chunk)
	}
}
