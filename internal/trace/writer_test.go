package trace

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/wsbench/wsbench/dialer"
)

func readAll(t *testing.T, b []byte) (Header, []Record) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return r.Header(), recs
		}
		if err != nil {
			t.Fatalf("after %d records: %v", len(recs), err)
		}
		recs = append(recs, rec)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{Conns: 2, Now: func() time.Time { return testStart }})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Sample(100) || !w.Sample(200) || w.Sample(300) {
		t.Fatal("Sample: want the first 2 connections only")
	}
	if !w.Sample(100) {
		t.Fatal("Sample: a sampled connection asked again must stay sampled")
	}
	w.Handshake(100, []byte(testRequest), []byte(testResponse))
	raw := maskedFrame(opText, []byte("hello"))
	w.Frame(100, dialer.ClientToServer, testStart.Add(time.Millisecond), raw)
	raw[0] = 0 // the Writer must have copied it
	w.Frame(200, dialer.ServerToClient, testStart.Add(2*time.Millisecond), []byte{0x81, 0x01, 'x'})
	w.Frame(100, dialer.ClientToServer, testStart.Add(3*time.Millisecond), []byte{0x89, 0x80, 1, 2, 3, 4})
	w.Frame(300, dialer.ClientToServer, testStart, []byte{0x81, 0x00})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	w.Frame(100, dialer.ClientToServer, testStart, []byte{0x81, 0x00}) // after Close: ignored

	hdr, recs := readAll(t, buf.Bytes())
	if !hdr.Start.Equal(testStart) || hdr.Version != Version {
		t.Errorf("header %+v", hdr)
	}
	if len(recs) != 5 {
		t.Fatalf("%d records, want handshake, 3 frames, end: %+v", len(recs), recs)
	}
	if r := recs[0]; r.Kind != KindHandshake || r.Conn != 1 || string(r.Request) != testRequest || string(r.Response) != testResponse {
		t.Errorf("handshake record %+v", r)
	}
	want := []struct {
		conn uint64
		dir  Dir
		t    time.Duration
		off  uint64
		raw  []byte
	}{
		{1, ClientToServer, time.Millisecond, 0, maskedFrame(opText, []byte("hello"))},
		{2, ServerToClient, 2 * time.Millisecond, 0, []byte{0x81, 0x01, 'x'}},
		{1, ClientToServer, 3 * time.Millisecond, 11, []byte{0x89, 0x80, 1, 2, 3, 4}},
	}
	for i, wf := range want {
		r := recs[i+1]
		if r.Kind != KindFrame || r.Conn != wf.conn || r.Dir != wf.dir || r.Time != wf.t || r.StreamOffset != wf.off || !bytes.Equal(r.Raw, wf.raw) {
			t.Errorf("frame %d: %+v, want %+v", i, r, wf)
		}
	}
	if e := recs[4]; e.Kind != KindEnd || e.Frames != 3 || e.Conns != 2 || e.Dropped != 0 || e.PastCap != 0 {
		t.Errorf("end record %+v", e)
	}
	if st := w.Stats(); st.Frames != 3 || st.Conns != 2 || st.Bytes != int64(buf.Len()) {
		t.Errorf("stats %+v, file %d bytes", st, buf.Len())
	}
}

func TestWriterSizeCap(t *testing.T) {
	var buf bytes.Buffer
	max := int64(HeaderSize + capReserve + 500)
	w, err := NewWriter(&buf, WriterOptions{MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	w.Sample(1)
	raw := maskedFrame(opBinary, make([]byte, 40))
	for range 50 {
		w.Frame(1, dialer.ClientToServer, time.Now(), raw)
	}
	if w.Sample(2) {
		t.Error("Sample after the cap: want false")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) > max {
		t.Errorf("file is %d bytes, over the %d cap", buf.Len(), max)
	}
	st := w.Stats()
	if !st.Limited || st.PastCap == 0 || st.Frames+st.PastCap != 50 || st.Frames == 0 {
		t.Errorf("stats %+v", st)
	}
	_, recs := readAll(t, buf.Bytes())
	n := len(recs)
	if n < 2 || recs[n-2].Kind != KindLimit || recs[n-2].Cap != uint64(max) || recs[n-1].Kind != KindEnd || recs[n-1].PastCap != st.PastCap {
		t.Errorf("want …, limit, end; got the last two %+v %+v", recs[n-2], recs[n-1])
	}
}

// gatedWriter passes the first write (the header) and blocks the others
// until open is closed.
type gatedWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	open   chan struct{}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	first := g.writes == 0
	g.writes++
	g.mu.Unlock()
	if !first {
		<-g.open
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// TestWriterDropsWhenBehind: a stalled file makes the Writer drop and count
// frames instead of blocking, and the stream offsets still count them.
func TestWriterDropsWhenBehind(t *testing.T) {
	g := &gatedWriter{open: make(chan struct{})}
	w, err := NewWriter(g, WriterOptions{BatchBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	w.Sample(7)
	raw := maskedFrame(opBinary, make([]byte, 94)) // 100 bytes
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			w.Frame(7, dialer.ClientToServer, time.Now(), raw)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Frame blocked on a stalled file")
	}
	close(g.open)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Dropped == 0 || st.Frames+st.Dropped != 100 {
		t.Fatalf("stats %+v: want drops, frames+dropped = 100", st)
	}
	_, recs := readAll(t, g.buf.Bytes())
	var frames, dropped uint64
	next := uint64(0) // next expected stream offset
	for _, r := range recs {
		switch r.Kind {
		case KindDropped:
			dropped += r.Frames
			if r.Bytes != r.Frames*100 {
				t.Errorf("dropped record %+v: bytes do not match frames", r)
			}
			next += r.Bytes
		case KindFrame:
			frames++
			if r.StreamOffset != next {
				t.Errorf("frame at offset %d, want %d", r.StreamOffset, next)
			}
			next = r.StreamOffset + uint64(len(r.Raw))
		}
	}
	if frames != st.Frames || dropped != st.Dropped {
		t.Errorf("file has %d frames, %d dropped; stats %+v", frames, dropped, st)
	}
}

func TestWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{Conns: 0})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for c := range uint64(8) {
		w.Sample(1000 + c)
		for _, dir := range []dialer.Direction{dialer.ClientToServer, dialer.ServerToClient} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				raw := []byte{0x82, 0x03, byte(c), byte(dir), 0}
				for i := range 300 {
					raw[4] = byte(i)
					w.Frame(1000+c, dir, time.Now(), raw)
				}
			}()
		}
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, recs := readAll(t, buf.Bytes())
	seen := map[[2]uint64]int{}
	for _, r := range recs {
		if r.Kind != KindFrame {
			continue
		}
		k := [2]uint64{r.Conn, uint64(r.Dir)}
		i := seen[k]
		if r.StreamOffset != uint64(i*5) || r.Raw[4] != byte(i) {
			t.Fatalf("conn %d %s frame %d: offset %d, payload %v", r.Conn, r.Dir, i, r.StreamOffset, r.Raw)
		}
		seen[k]++
	}
	if len(seen) != 16 {
		t.Errorf("%d streams, want 16", len(seen))
	}
	for k, n := range seen {
		if n != 300 {
			t.Errorf("stream %v: %d frames, want 300", k, n)
		}
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	if f.n > 1 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	for _, o := range []WriterOptions{{Conns: -1}, {MaxBytes: -5}, {MaxBytes: 100}} {
		if _, err := NewWriter(io.Discard, o); err == nil {
			t.Errorf("NewWriter(%+v): want an error", o)
		}
	}
	w, err := NewWriter(&failWriter{}, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Sample(1)
	w.Frame(1, dialer.ClientToServer, time.Now(), []byte{0x81, 0x80, 1, 2, 3, 4})
	if err := w.Close(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("disk full")) {
		t.Errorf("Close: %v, want the write error", err)
	}
	if _, err := Create(t.TempDir()+"/no/such/dir/x.trace", WriterOptions{}); err == nil {
		t.Error("Create in a missing directory: want an error")
	}
}
