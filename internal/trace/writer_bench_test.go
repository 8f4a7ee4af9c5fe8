package trace

import (
	"bufio"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsbench/wsbench/dialer"
)

// The Writer's design (append under a mutex into a batch that a goroutine
// writes out) is compared here with the two obvious alternatives: a
// bufio.Writer on the file under a mutex (the caller pays for the write
// syscall whenever the buffer fills) and a buffered channel of copied
// frames (an allocation per frame). Run:
//
//	go test -run='^$' -bench='Frame' -benchmem ./internal/trace/

func benchFile(b *testing.B) *os.File {
	f, err := os.Create(filepath.Join(b.TempDir(), "bench.trace"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func benchRaw() []byte { return maskedFrame(opText, make([]byte, 64)) }

// BenchmarkWriterFrame: one connection, one goroutine; 0 allocs/op. At
// this synthetic rate the file falls behind and most frames are dropped
// (the %dropped metric); BenchmarkWriterFrameNoDrop measures the copy path
// alone with a batch large enough to hold everything.
func BenchmarkWriterFrame(b *testing.B) { benchWriterFrame(b, 0) }

func BenchmarkWriterFrameNoDrop(b *testing.B) { benchWriterFrame(b, 64<<20) }

func benchWriterFrame(b *testing.B, batch int) {
	w, err := NewWriter(benchFile(b), WriterOptions{BatchBytes: batch})
	if err != nil {
		b.Fatal(err)
	}
	w.Sample(1)
	raw := benchRaw()
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		w.Frame(1, dialer.ClientToServer, now, raw)
	}
	b.StopTimer()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	st := w.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(st.Frames+st.Dropped)*100, "%dropped")
}

// BenchmarkWriterFrameParallel: a connection per goroutine.
func BenchmarkWriterFrameParallel(b *testing.B) {
	w, err := NewWriter(benchFile(b), WriterOptions{Conns: 0})
	if err != nil {
		b.Fatal(err)
	}
	raw := benchRaw()
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	var worst maxDuration
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn := next.Add(1)
		w.Sample(conn)
		var m time.Duration
		for pb.Next() {
			t0 := time.Now()
			w.Frame(conn, dialer.ClientToServer, now, raw)
			m = max(m, time.Since(t0))
		}
		worst.add(m)
	})
	b.StopTimer()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	st := w.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(st.Frames+st.Dropped)*100, "%dropped")
	b.ReportMetric(float64(worst.get().Microseconds()), "max-µs")
}

// maxDuration keeps the slowest single call seen by parallel benchmarks:
// the stall a traced connection's I/O goroutine can suffer.
type maxDuration struct {
	mu sync.Mutex
	d  time.Duration
}

func (m *maxDuration) add(d time.Duration) {
	m.mu.Lock()
	m.d = max(m.d, d)
	m.mu.Unlock()
}

func (m *maxDuration) get() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.d
}

// mutexBufioTap is the first alternative: encode straight into a bufio.Writer
// on the file under a mutex.
type mutexBufioTap struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	off uint64
	rec []byte
}

func (m *mutexBufioTap) Frame(conn uint64, at uint64, raw []byte) {
	m.mu.Lock()
	m.rec = AppendFrameRecord(m.rec[:0], conn, ClientToServer, at, m.off, raw)
	m.off += uint64(len(raw))
	m.bw.Write(m.rec)
	m.mu.Unlock()
}

func BenchmarkAltMutexBufioFrameParallel(b *testing.B) {
	m := &mutexBufioTap{bw: bufio.NewWriterSize(benchFile(b), 256<<10)}
	raw := benchRaw()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	var worst maxDuration
	b.RunParallel(func(pb *testing.PB) {
		var d time.Duration
		for pb.Next() {
			t0 := time.Now()
			m.Frame(1, 1, raw)
			d = max(d, time.Since(t0))
		}
		worst.add(d)
	})
	b.StopTimer()
	m.bw.Flush()
	b.ReportMetric(float64(worst.get().Microseconds()), "max-µs")
}

// chanTap is the second alternative: copy each frame into a fresh record
// and hand it to a writer goroutine over a buffered channel, dropping when
// the channel is full.
type chanTap struct {
	ch      chan []byte
	dropped atomic.Uint64
}

func (c *chanTap) Frame(conn uint64, at uint64, raw []byte) {
	rec := AppendFrameRecord(make([]byte, 0, frameRecordSize(conn, at, 0, len(raw))), conn, ClientToServer, at, 0, raw)
	select {
	case c.ch <- rec:
	default:
		c.dropped.Add(1)
	}
}

func BenchmarkAltChannelFrameParallel(b *testing.B) {
	c := &chanTap{ch: make(chan []byte, 4096)}
	bw := bufio.NewWriterSize(benchFile(b), 256<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rec := range c.ch {
			bw.Write(rec)
		}
		bw.Flush()
	}()
	raw := benchRaw()
	var n atomic.Uint64
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	var worst maxDuration
	b.RunParallel(func(pb *testing.PB) {
		var d time.Duration
		for pb.Next() {
			t0 := time.Now()
			c.Frame(1, 1, raw)
			d = max(d, time.Since(t0))
			n.Add(1)
		}
		worst.add(d)
	})
	b.StopTimer()
	close(c.ch)
	<-done
	b.ReportMetric(float64(c.dropped.Load())/float64(n.Load())*100, "%dropped")
	b.ReportMetric(float64(worst.get().Microseconds()), "max-µs")
}
