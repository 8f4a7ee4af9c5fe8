package history

// Ring holds the last N messages of one room, and at most a byte budget of
// them, reusing its slot buffers so a steady stream of pushes does not
// allocate once every slot has grown to the usual message size. It is not
// safe for concurrent use: the hub guards each room's Ring with the room's
// lock.
//
// Bytes counts the capacity of every buffer the ring holds (what it really
// pins in memory, not just the message lengths); a slot whose buffer is much
// larger than the message it receives is reallocated, so one big message
// does not keep its buffer alive behind small ones.
type Ring struct {
	slots    [][]byte
	start    int // index of the oldest message
	n        int // messages held
	bytes    int // sum of cap(slots[i]) over held messages; free slots are nil
	maxBytes int // 0 = no byte budget
}

// NewRing returns a Ring keeping the last size messages (size < 1 keeps none).
func NewRing(size int) *Ring { return NewRingBytes(size, 0) }

// NewRingBytes returns a Ring keeping the last size messages whose buffers
// fit in maxBytes (0 = no byte budget): older messages are evicted first.
func NewRingBytes(size, maxBytes int) *Ring {
	if size < 0 {
		size = 0
	}
	return &Ring{slots: make([][]byte, size), maxBytes: max(maxBytes, 0)}
}

// slack is how much larger than a message a reused slot buffer may be.
const slack = 256

// Push copies msg in as the newest message, evicting the oldest when the
// ring is full or over its byte budget, and returns the ring's copy (valid
// until that slot is reused). A message larger than the whole budget is not
// kept (nil is returned). 0 allocs once the slot's buffer fits the message.
func (r *Ring) Push(msg []byte) []byte {
	if len(r.slots) == 0 || (r.maxBytes > 0 && len(msg) > r.maxBytes) {
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
	buf := r.slots[i]
	r.bytes -= cap(buf)
	if cap(buf) < len(msg) || cap(buf) > 2*len(msg)+slack || (r.maxBytes > 0 && cap(buf) > r.maxBytes) {
		buf = make([]byte, 0, len(msg))
	}
	buf = append(buf[:0], msg...)
	r.slots[i] = buf
	r.bytes += cap(buf)
	for r.maxBytes > 0 && r.bytes > r.maxBytes && r.n > 1 {
		r.DropOldest()
	}
	return buf
}

// DropOldest forgets the oldest message and releases its buffer; it reports
// whether there was one.
func (r *Ring) DropOldest() bool {
	if r.n == 0 {
		return false
	}
	r.bytes -= cap(r.slots[r.start])
	r.slots[r.start] = nil
	r.start = (r.start + 1) % len(r.slots)
	r.n--
	return true
}

// Reset forgets every message and releases every buffer.
func (r *Ring) Reset() {
	clear(r.slots)
	r.start, r.n, r.bytes = 0, 0, 0
}

// Len is the number of messages held.
func (r *Ring) Len() int { return r.n }

// Cap is the number of messages the ring keeps.
func (r *Ring) Cap() int { return len(r.slots) }

// Bytes is the memory the held messages pin: the capacity of their buffers.
func (r *Ring) Bytes() int { return r.bytes }

// Each calls fn for every message, oldest first. fn must not retain msg.
func (r *Ring) Each(fn func(msg []byte)) {
	for k := 0; k < r.n; k++ {
		fn(r.slots[(r.start+k)%len(r.slots)])
	}
}

// At returns the k-th message, 0 = oldest; k must be below Len.
func (r *Ring) At(k int) []byte { return r.slots[(r.start+k)%len(r.slots)] }
