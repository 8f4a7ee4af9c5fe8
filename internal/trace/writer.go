package trace

// writer.go is the recording side: a dialer.Tap that appends records to an
// in-memory batch under a mutex, and a goroutine that writes full batches to
// the file, so no I/O goroutine of the load ever waits on the disk.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/wsbench/wsbench/dialer"
)

// Defaults of WriterOptions.
const (
	DefaultConns      = 4
	DefaultMaxBytes   = 64 << 20
	DefaultBatchBytes = 4 << 20
	flushEvery        = 50 * time.Millisecond
	flushAt           = 256 << 10 // batch size that wakes the flusher early
	// capReserve keeps room under MaxBytes for the closing records: a limit
	// record, the end record and the drop notes of a few connections.
	capReserve = 256
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	// Conns is how many connections are traced (the first ones to dial);
	// 0 traces all of them.
	Conns int
	// MaxBytes caps the file size; past it recording stops and the file
	// says so with a KindLimit record. 0 means no cap.
	MaxBytes int64
	// BatchBytes bounds the records waiting in memory for the file. A frame
	// that does not fit is dropped and counted (a KindDropped record), so a
	// slow disk never slows the load down. Two batches of this size are
	// allocated up front. 0 means DefaultBatchBytes.
	BatchBytes int
	// Now gives the recording's start time; nil means time.Now.
	Now func() time.Time
}

// Stats are a recording's totals.
type Stats struct {
	Conns   int    // connections traced
	Frames  uint64 // frames recorded
	Dropped uint64 // frames dropped because the writer was behind
	PastCap uint64 // frames not recorded because the size cap was reached
	Bytes   int64  // file size
	Limited bool   // the size cap was reached
}

// connState is a traced connection's numbering and stream offsets.
type connState struct {
	id         uint64
	off        [2]uint64 // next stream offset per direction
	dropFrames [2]uint64 // frames dropped since the last record, per direction
	dropBytes  [2]uint64
	dropAt     [2]uint64 // time of the last dropped frame
}

// Writer records traced connections to a trace file. It implements
// dialer.Tap and dialer.TapSampler and is safe for concurrent use.
type Writer struct {
	opts  WriterOptions
	start time.Time
	w     io.Writer
	close func() error // closes the file when the Writer opened it

	mu      sync.Mutex
	buf     []byte // records waiting for the flusher
	conns   map[uint64]*connState
	size    int64 // file size once buf is written
	stats   Stats
	limited bool
	closed  bool

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	errMu sync.Mutex
	err   error // first write error
}

var (
	_ dialer.Tap        = (*Writer)(nil)
	_ dialer.TapSampler = (*Writer)(nil)
)

// NewWriter starts a recording on w: it writes the header at once and
// starts the goroutine that writes records. Close ends the recording.
func NewWriter(w io.Writer, o WriterOptions) (*Writer, error) {
	if o.Conns < 0 {
		return nil, fmt.Errorf("trace: connections to trace: %d is negative", o.Conns)
	}
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("trace: size cap: %d is negative", o.MaxBytes)
	}
	if o.MaxBytes > 0 && o.MaxBytes < HeaderSize+capReserve {
		return nil, fmt.Errorf("trace: size cap %d bytes is too small: at least %d", o.MaxBytes, HeaderSize+capReserve)
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := o.Now()
	hdr := AppendHeader(make([]byte, 0, HeaderSize), start.UnixNano())
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("trace: write header: %w", err)
	}
	tw := &Writer{
		opts:  o,
		start: start,
		w:     w,
		// Both batches are allocated at full size up front, so appending
		// under the lock never reallocates and copies a growing batch.
		buf:   make([]byte, 0, o.BatchBytes),
		conns: make(map[uint64]*connState),
		size:  HeaderSize,
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	tw.wg.Add(1)
	go tw.flusher()
	return tw, nil
}

// Create creates (or truncates) the file at path and starts a recording on
// it; Close closes the file.
func Create(path string, o WriterOptions) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	w, err := NewWriter(f, o)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	w.close = f.Close
	return w, nil
}

// Sample implements dialer.TapSampler: it accepts the first Conns
// connections (all with Conns 0) while the recording is open and under its
// cap, and numbers them 1, 2, … in the trace.
func (w *Writer) Sample(conn uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sampleLocked(conn) != nil
}

func (w *Writer) sampleLocked(conn uint64) *connState {
	if cs := w.conns[conn]; cs != nil {
		return cs
	}
	if w.closed || w.limited || (w.opts.Conns > 0 && w.stats.Conns >= w.opts.Conns) {
		return nil
	}
	w.stats.Conns++
	cs := &connState{id: uint64(w.stats.Conns)}
	w.conns[conn] = cs
	return cs
}

// since is t as nanoseconds since the start of the recording.
func (w *Writer) since(t time.Time) uint64 {
	d := t.Sub(w.start)
	if d < 0 {
		return 0
	}
	return uint64(d)
}

// Handshake implements dialer.Tap.
func (w *Writer) Handshake(conn uint64, request, response []byte) {
	w.HandshakeAt(conn, time.Now(), request, response)
}

// HandshakeAt is Handshake with the time of the exchange given, for live
// sessions that render and record the same timestamps.
func (w *Writer) HandshakeAt(conn uint64, at time.Time, request, response []byte) {
	t := w.since(at)
	w.mu.Lock()
	defer w.mu.Unlock()
	cs := w.sampleLocked(conn)
	if cs == nil {
		return
	}
	n := 1 + 10 + 10 + 10 + 10 + len(request) + len(response)
	if !w.roomLocked(n, t) {
		return
	}
	w.buf = AppendHandshakeRecord(w.buf, cs.id, t, request, response)
	w.afterAppendLocked()
}

// Frame implements dialer.Tap. It copies raw into the pending batch under
// a short lock and never waits for the file; when the batch is full the
// frame is dropped and counted instead. In steady state it does not
// allocate (BenchmarkWriterFrame: 0 allocs/op).
func (w *Writer) Frame(conn uint64, dir dialer.Direction, at time.Time, raw []byte) {
	t := w.since(at)
	d := ClientToServer
	if dir != dialer.ClientToServer {
		d = ServerToClient
	}
	w.mu.Lock()
	cs := w.conns[conn]
	if cs == nil {
		if cs = w.sampleLocked(conn); cs == nil {
			w.mu.Unlock()
			return
		}
	}
	off := cs.off[d]
	cs.off[d] += uint64(len(raw))
	if w.closed {
		w.mu.Unlock()
		return
	}
	if w.limited {
		w.stats.PastCap++
		w.mu.Unlock()
		return
	}
	n := frameRecordSize(cs.id, t, off, len(raw))
	if len(w.buf) > 0 && len(w.buf)+n > w.opts.BatchBytes {
		cs.dropFrames[d]++
		cs.dropBytes[d] += uint64(len(raw))
		cs.dropAt[d] = t
		w.stats.Dropped++
		w.mu.Unlock()
		return
	}
	if cs.dropFrames[d] > 0 {
		n += 1 + 5 + 10*4
	}
	if !w.roomLocked(n, t) {
		w.stats.PastCap++
		w.mu.Unlock()
		return
	}
	if cs.dropFrames[d] > 0 {
		w.appendDropLocked(cs, d)
	}
	w.buf = AppendFrameRecord(w.buf, cs.id, d, t, off, raw)
	w.stats.Frames++
	w.afterAppendLocked()
	w.mu.Unlock()
}

// appendDropLocked writes the pending drop note of one connection direction.
func (w *Writer) appendDropLocked(cs *connState, d Dir) {
	w.buf = AppendUvarintsRecord(w.buf, KindDropped, int(d), cs.id, cs.dropAt[d], cs.dropFrames[d], cs.dropBytes[d])
	cs.dropFrames[d], cs.dropBytes[d] = 0, 0
}

// roomLocked reports whether a record of up to n bytes fits under the size
// cap; when it does not, it ends the recording with a KindLimit record.
func (w *Writer) roomLocked(n int, t uint64) bool {
	if w.limited || w.closed {
		return false
	}
	if w.opts.MaxBytes == 0 || w.size+int64(len(w.buf))+int64(n)+capReserve <= w.opts.MaxBytes {
		return true
	}
	w.limited = true
	w.stats.Limited = true
	w.buf = AppendUvarintsRecord(w.buf, KindLimit, -1, t, uint64(w.opts.MaxBytes))
	w.afterAppendLocked()
	return false
}

// afterAppendLocked wakes the flusher once the batch is worth a write.
func (w *Writer) afterAppendLocked() {
	if len(w.buf) >= flushAt {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// flusher writes the pending batch every flushEvery, or sooner when kicked,
// until Close.
func (w *Writer) flusher() {
	defer w.wg.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	spare := make([]byte, 0, w.opts.BatchBytes)
	for {
		select {
		case <-t.C:
		case <-w.kick:
		case <-w.done:
			w.mu.Lock()
			batch := w.buf
			w.buf = nil
			w.size += int64(len(batch))
			w.mu.Unlock()
			w.write(batch)
			return
		}
		w.mu.Lock()
		batch := w.buf
		w.buf = spare[:0]
		w.size += int64(len(batch))
		w.mu.Unlock()
		w.write(batch)
		spare = batch
		if cap(spare) > w.opts.BatchBytes {
			// A single frame bigger than a batch grew it: let that go.
			spare = make([]byte, 0, w.opts.BatchBytes)
		}
	}
}

func (w *Writer) write(batch []byte) {
	if len(batch) == 0 {
		return
	}
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.err != nil {
		return
	}
	if _, err := w.w.Write(batch); err != nil {
		w.err = fmt.Errorf("trace: write records: %w", err)
	}
}

// Close ends the recording: it writes the pending drop notes and the end
// record, waits for everything to reach the file and closes the file when
// Create opened it. Frames reported after Close are ignored. It returns the
// first write error.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.Err()
	}
	t := w.since(time.Now())
	// Pending drop notes go in while they fit under the cap with the end
	// record (at most endMax bytes); the end record has the totals anyway.
	const dropMax, endMax = 1 + 1 + 10 + 1 + 3*10, 1 + 1 + 5*10
	for _, cs := range w.conns {
		for d := range Dir(2) {
			room := w.opts.MaxBytes == 0 || w.size+int64(len(w.buf))+dropMax+endMax <= w.opts.MaxBytes
			if cs.dropFrames[d] > 0 && room {
				w.appendDropLocked(cs, d)
			}
		}
	}
	w.buf = AppendUvarintsRecord(w.buf, KindEnd, -1, t, w.stats.Frames, w.stats.Dropped, w.stats.PastCap, uint64(w.stats.Conns))
	w.closed = true
	w.mu.Unlock()
	close(w.done)
	w.wg.Wait()
	err := w.Err()
	if w.close != nil {
		if cerr := w.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("trace: close: %w", cerr))
		}
	}
	return err
}

// Err is the first error writing the file, if any.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Stats returns the recording's totals so far.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Bytes = w.size + int64(len(w.buf))
	return s
}
