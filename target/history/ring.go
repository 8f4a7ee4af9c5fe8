package history

// Ring holds the last N messages of one room, reusing its slot buffers so a
// steady stream of pushes does not allocate once every slot has grown to the
// usual message size. It is not safe for concurrent use: the hub guards each
// room's Ring with the room's lock.
type Ring struct {
	slots [][]byte
	start int // index of the oldest message
	n     int // messages held
}

// NewRing returns a Ring keeping the last size messages (size < 1 keeps none).
func NewRing(size int) *Ring {
	if size < 0 {
		size = 0
	}
	return &Ring{slots: make([][]byte, size)}
}

// Push copies msg in as the newest message, evicting the oldest when full,
// and returns the ring's copy (valid until that slot is reused). 0 allocs once
// the slot's buffer is large enough.
func (r *Ring) Push(msg []byte) []byte {
	if len(r.slots) == 0 {
		return nil
	}
	var i int
	if r.n < len(r.slots) {
		i = (r.start + r.n) % len(r.slots)
		r.n++
	} else {
		i = r.start
		r.start = (r.start + 1) % len(r.slots)
	}
	r.slots[i] = append(r.slots[i][:0], msg...)
	return r.slots[i]
}

// Len is the number of messages held.
func (r *Ring) Len() int { return r.n }

// Cap is the number of messages the ring keeps.
func (r *Ring) Cap() int { return len(r.slots) }

// Each calls fn for every message, oldest first. fn must not retain msg.
func (r *Ring) Each(fn func(msg []byte)) {
	for k := 0; k < r.n; k++ {
		fn(r.slots[(r.start+k)%len(r.slots)])
	}
}

// At returns the k-th message, 0 = oldest; k must be below Len.
func (r *Ring) At(k int) []byte { return r.slots[(r.start+k)%len(r.slots)] }
