package inspect

// feeder.go decouples a relay's copying from rendering: the goroutines that
// copy bytes between client and server hand a copy to a Feeder, which
// queues it (bounded) for one rendering goroutine and returns at once. The
// relay never waits for the terminal. When the renderer falls behind and
// the queue is full, the bytes are not queued: they are counted and shown
// as a gap (Session.Gap), after which decoding resumes at the next frame
// boundary it can find.

import (
	"sync"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// DefaultFeedQueue is how many bytes a Feeder holds for the renderer.
const DefaultFeedQueue = 8 << 20

// feedBuf is the size of the buffers queued data is copied into; chunks
// that arrive while the renderer is busy are appended to the last one.
const feedBuf = 64 << 10

// FeedStats count what a Feeder could not queue.
type FeedStats struct {
	DroppedBytes  uint64 // bytes relayed but not decoded
	DroppedChunks uint64 // in that many chunks
	Gaps          uint64 // shown as that many gaps
}

type feedKind uint8

const (
	feedData feedKind = iota
	feedGap
	feedNote
	feedHandshake
	feedOpen
)

type feedItem struct {
	kind     feedKind
	conn     uint64
	dir      trace.Dir
	at       time.Time
	data     []byte // feedData: queued bytes; feedHandshake: request
	response []byte
	n        uint64 // feedGap: bytes passed over
	note     string
}

// Feeder queues work for a Session's renderer. Its methods never block on
// rendering and are safe for concurrent use; Close renders what is queued
// and stops the rendering goroutine.
type Feeder struct {
	s    *Session
	max  int
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	q      []feedItem
	spare  []feedItem
	queued int // data bytes in q
	free   [][]byte
	lost   map[streamKey]uint64 // dropped, not yet queued as a gap
	lostAt map[streamKey]time.Time
	stats  FeedStats
	closed bool
}

// NewFeeder starts a rendering goroutine for s that holds at most
// maxQueued bytes of data (DefaultFeedQueue when 0 or less).
func NewFeeder(s *Session, maxQueued int) *Feeder {
	if maxQueued <= 0 {
		maxQueued = DefaultFeedQueue
	}
	f := &Feeder{s: s, max: maxQueued, wake: make(chan struct{}, 1), done: make(chan struct{}),
		lost: map[streamKey]uint64{}, lostAt: map[streamKey]time.Time{}}
	go f.run()
	return f
}

func (f *Feeder) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Data queues a copy of p, bytes of conn's stream in direction dir, or
// counts it as dropped when the queue is full. p is not retained.
func (f *Feeder) Data(conn uint64, dir trace.Dir, at time.Time, p []byte) {
	if len(p) == 0 {
		return
	}
	k := streamKey{conn, dir}
	f.mu.Lock()
	if f.closed || f.queued+len(p) > f.max {
		if f.lost[k] == 0 {
			f.lostAt[k] = at
		}
		f.lost[k] += uint64(len(p))
		f.stats.DroppedBytes += uint64(len(p))
		f.stats.DroppedChunks++
		f.mu.Unlock()
		return
	}
	f.gapLocked(k)
	f.queued += len(p)
	if n := len(f.q); n > 0 {
		last := &f.q[n-1]
		if last.kind == feedData && last.conn == conn && last.dir == dir && cap(last.data)-len(last.data) >= len(p) {
			last.data = append(last.data, p...)
			last.at = at
			f.mu.Unlock()
			return
		}
	}
	var buf []byte
	if n := len(f.free); n > 0 && len(p) <= feedBuf {
		buf, f.free = f.free[n-1], f.free[:n-1]
	} else {
		buf = make([]byte, 0, max(feedBuf, len(p)))
	}
	f.q = append(f.q, feedItem{kind: feedData, conn: conn, dir: dir, at: at, data: append(buf, p...)})
	f.mu.Unlock()
	f.signal()
}

// gapLocked queues what was dropped from k as a gap, before anything else
// of that stream.
func (f *Feeder) gapLocked(k streamKey) {
	if n := f.lost[k]; n > 0 {
		f.q = append(f.q, feedItem{kind: feedGap, conn: k.conn, dir: k.dir, at: f.lostAt[k], n: n})
		delete(f.lost, k)
		delete(f.lostAt, k)
		f.stats.Gaps++
	}
}

// queue adds an item that is never dropped (they are few and small).
func (f *Feeder) queue(it feedItem) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.gapLocked(streamKey{it.conn, trace.ClientToServer})
	f.gapLocked(streamKey{it.conn, trace.ServerToClient})
	f.q = append(f.q, it)
	f.mu.Unlock()
	f.signal()
}

// Open queues Session.Open.
func (f *Feeder) Open(conn uint64) { f.queue(feedItem{kind: feedOpen, conn: conn}) }

// Handshake queues Session.Handshake; request and response are not retained.
func (f *Feeder) Handshake(conn uint64, at time.Time, request, response []byte) {
	f.queue(feedItem{kind: feedHandshake, conn: conn, at: at, data: append([]byte(nil), request...), response: append([]byte(nil), response...)})
}

// Note queues a remark about conn (after any gap of conn not yet shown).
func (f *Feeder) Note(conn uint64, note string) {
	f.queue(feedItem{kind: feedNote, conn: conn, note: note})
}

// Stats is what could not be queued so far.
func (f *Feeder) Stats() FeedStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Close renders what is queued (and the gaps not yet shown), then stops.
func (f *Feeder) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		<-f.done
		return
	}
	for k := range f.lost {
		f.gapLocked(k)
	}
	f.closed = true
	f.mu.Unlock()
	f.signal()
	<-f.done
}

// run renders batches: everything queued since the last batch, under one
// lock of the Session and with one flush of its output.
func (f *Feeder) run() {
	defer close(f.done)
	for {
		f.mu.Lock()
		for len(f.q) == 0 && !f.closed {
			f.mu.Unlock()
			<-f.wake
			f.mu.Lock()
		}
		if len(f.q) == 0 {
			f.mu.Unlock()
			return
		}
		batch := f.q
		f.q = f.spare[:0]
		f.mu.Unlock()

		s := f.s
		s.mu.Lock()
		var n int
		for i := range batch {
			it := &batch[i]
			switch it.kind {
			case feedData:
				s.dataLocked(it.conn, it.dir, it.at, it.data)
				n += len(it.data)
			case feedGap:
				s.gapLocked(it.conn, it.dir, it.at, it.n, "relayed but not decoded: the renderer fell behind")
			case feedNote:
				s.noteLocked(it.conn, it.note)
			case feedHandshake:
				s.handshakeLocked(it.conn, it.at, it.data, it.response)
			case feedOpen:
				if s.rec != nil {
					s.rec.Sample(it.conn)
				}
			}
		}
		s.flushLocked()
		s.mu.Unlock()

		f.mu.Lock()
		f.queued -= n
		for i := range batch {
			if it := &batch[i]; it.kind == feedData && cap(it.data) == feedBuf && len(f.free) < f.max/feedBuf {
				f.free = append(f.free, it.data[:0])
			}
			batch[i] = feedItem{}
		}
		f.spare = batch[:0]
		f.mu.Unlock()
	}
}
