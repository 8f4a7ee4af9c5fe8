package trace

// writer_live.go holds what live sessions (Session) need of a Writer
// beyond the dialer.Tap methods: its start time, so the rendering and the
// file agree to the nanosecond, and a way to account for frames that were
// relayed but too large to buffer and record.

import "time"

// Start is the time the recording started; record times count from it.
func (w *Writer) Start() time.Time { return w.start }

// Skip accounts for a frame of n bytes of conn in direction dir that went
// by without being recorded: the stream offsets of later frames still count
// it, and the trace gets a KindDropped record for it.
func (w *Writer) Skip(conn uint64, dir Dir, at time.Time, n uint64) {
	t := w.since(at)
	w.mu.Lock()
	defer w.mu.Unlock()
	cs := w.sampleLocked(conn)
	if cs == nil {
		return
	}
	cs.off[dir] += n
	if w.closed || w.limited {
		return
	}
	cs.dropFrames[dir]++
	cs.dropBytes[dir] += n
	cs.dropAt[dir] = t
	w.stats.Dropped++
}
