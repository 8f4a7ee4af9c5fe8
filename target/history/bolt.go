package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltOptions tunes a Bolt store. Zero values pick the defaults.
type BoltOptions struct {
	Retain      int  // messages kept per room (older keys pruned in the same transaction); default 50
	RetainBytes int  // message bytes kept per room, newest first (0 = no byte bound)
	MaxBatch    int  // appends committed per transaction at most; default 1000
	MaxPending  int  // queued message bytes before Append waits for the writer; default 64 MiB
	NoSync      bool // skip fsync on commit: faster, not crash-safe
}

// Bolt is a Store on a bbolt file. Appends go to an in-memory queue; one
// writer goroutine takes everything queued so far and commits it in one
// transaction (up to MaxBatch appends), then runs the done callbacks. While a
// commit (and its fsync) runs, new appends pile up for the next one, so the
// batch size adapts to the load: one message per commit when idle, MaxBatch
// per commit under pressure, and no added latency waiting for a batch to fill.
//
// Layout: bucket "rooms" → one bucket per room → key = 8-byte big-endian
// sequence number, value = the message.
type Bolt struct {
	db       *bolt.DB
	opts     BoltOptions
	mu       sync.Mutex
	space    *sync.Cond // signalled when the writer takes the queue or the store closes
	queue    *batch     // appends waiting for the writer
	spare    *batch     // the writer's drained batch, handed back for reuse
	closed   bool
	wake     chan struct{}
	finished chan struct{}
}

type batch struct {
	arena []byte // all queued message bytes, back to back
	ents  []entry
	keys  []byte
}

type entry struct {
	room     string
	off, end int
	done     func(error)
}

var roomsBucket = []byte("rooms")

// keepArena is the largest batch buffer kept for reuse between commits.
const keepArena = 1 << 20

// OpenBolt opens (creating if needed) the bbolt file at path and starts the
// writer goroutine.
func OpenBolt(path string, o BoltOptions) (*Bolt, error) {
	if o.Retain <= 0 {
		o.Retain = 50
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 64 << 20
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        2 * time.Second, // another process holding the file lock
		NoSync:         o.NoSync,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err // "open PATH: reason" already
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(roomsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("init history db %s: %w", path, err)
	}
	s := &Bolt{
		db:       db,
		opts:     o,
		queue:    &batch{},
		spare:    &batch{},
		wake:     make(chan struct{}, 1),
		finished: make(chan struct{}),
	}
	s.space = sync.NewCond(&s.mu)
	go s.writer()
	return s, nil
}

// Append implements Store. It copies msg into the queue and returns at once,
// unless MaxPending bytes are already queued: then it waits for the writer
// (back-pressure instead of unbounded memory).
func (s *Bolt) Append(room string, msg []byte, done func(error)) {
	s.mu.Lock()
	for !s.closed && len(s.queue.arena) >= s.opts.MaxPending {
		s.space.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	q := s.queue
	off := len(q.arena)
	q.arena = append(q.arena, msg...)
	q.ents = append(q.ents, entry{room: room, off: off, end: len(q.arena), done: done})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Bolt) writer() {
	defer close(s.finished)
	for range s.wake {
		s.mu.Lock()
		b := s.queue
		s.queue, s.spare = s.spare, nil
		closed := s.closed
		s.space.Broadcast()
		s.mu.Unlock()

		for i := 0; i < len(b.ents); i += s.opts.MaxBatch {
			s.commit(b, b.ents[i:min(i+s.opts.MaxBatch, len(b.ents))])
		}
		clear(b.ents) // drop done callbacks for the GC
		b.ents, b.arena = b.ents[:0], b.arena[:0]
		if cap(b.arena) > keepArena {
			// A burst grew the batch; do not hold its memory (up to
			// MaxPending per batch, two batches) once it is committed.
			b.arena, b.ents, b.keys = nil, nil, nil
		}

		s.mu.Lock()
		s.spare = b
		s.mu.Unlock()
		if closed {
			return
		}
	}
}

// commit writes ents in one transaction and then reports the outcome to each.
func (s *Bolt) commit(b *batch, ents []entry) {
	if need := 8 * len(ents); cap(b.keys) < need {
		b.keys = make([]byte, need)
	}
	keys := b.keys[:8*len(ents)]
	err := s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(roomsBucket)
		var cur *bolt.Bucket
		curRoom := ""
		touched := make(map[string]*bolt.Bucket, 4)
		for i, e := range ents {
			if cur == nil || e.room != curRoom {
				if bk, ok := touched[e.room]; ok {
					cur = bk
				} else {
					bk, err := root.CreateBucketIfNotExists([]byte(e.room))
					if err != nil {
						return fmt.Errorf("room %q: %w", e.room, err)
					}
					touched[e.room] = bk
					cur = bk
				}
				curRoom = e.room
			}
			seq, err := cur.NextSequence()
			if err != nil {
				return fmt.Errorf("room %q: %w", e.room, err)
			}
			k := keys[8*i : 8*i+8]
			binary.BigEndian.PutUint64(k, seq)
			if err := cur.Put(k, b.arena[e.off:e.end]); err != nil {
				return fmt.Errorf("room %q: %w", e.room, err)
			}
		}
		for room, bk := range touched {
			if err := prune(bk, uint64(s.opts.Retain), s.opts.RetainBytes); err != nil {
				return fmt.Errorf("prune room %q: %w", room, err)
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("history commit of %d messages: %w", len(ents), err)
	}
	for _, e := range ents {
		if e.done != nil {
			e.done(err)
		}
	}
}

// prune deletes the oldest keys of bk until at most retain remain and, with
// retainBytes > 0, until the values kept add up to at most retainBytes (the
// newest message is kept even when it alone is larger). Keys are consecutive
// sequence numbers, so the count bound is last-first+1.
func prune(bk *bolt.Bucket, retain uint64, retainBytes int) error {
	last := bk.Sequence()
	c := bk.Cursor()
	if retainBytes > 0 {
		// Walk from the newest back to the first message that no longer
		// fits, then delete it and everything older.
		var cut []byte
		kept, n := 0, uint64(0)
		for k, v := c.Last(); k != nil && n < retain; k, v = c.Prev() {
			if n > 0 && kept+len(v) > retainBytes {
				cut = append([]byte(nil), k...)
				break
			}
			kept += len(v)
			n++
		}
		if cut != nil {
			for k, _ := c.First(); k != nil && string(k) <= string(cut); k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
	}
	for k, _ := c.First(); len(k) == 8 && binary.BigEndian.Uint64(k)+retain <= last; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Load implements Store.
func (s *Bolt) Load(room string, n int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	var out [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(roomsBucket).Bucket([]byte(room))
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			out = append(out, append([]byte(nil), v...)) // v is only valid inside the transaction
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load history of room %q: %w", room, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Close implements Store: it stops accepting appends, commits everything
// queued, runs the done callbacks and closes the file. A second Close is a
// no-op.
func (s *Bolt) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil // already closed
	}
	s.closed = true
	s.space.Broadcast()
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.finished
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close history db %s: %w", s.db.Path(), err)
	}
	return nil
}

// Path is the file the store writes.
func (s *Bolt) Path() string { return s.db.Path() }

var _ Store = (*Bolt)(nil)
