package chat

import (
	"cmp"
	"slices"
	"strconv"
)

// MaxListedRooms is how many rooms a `rooms` reply lists at most (the
// largest first); its `total` counts them all.
const MaxListedRooms = 100

// roomCount is one entry of a `rooms` reply.
type roomCount struct {
	name    string
	members int
}

// opRooms answers `rooms`: the rooms that have members, the largest first,
// with their member counts. It costs O(rooms held) and allocates, so it is
// for people and dashboards (the chat page polls it), not for a load
// generator's hot path; the rate limit applies to it like to every op.
func (h *Hub) opRooms(sc *scratch, c *conn, id []byte) {
	// Lock order: roomsMu is never held while taking a room lock, so copy
	// the room pointers first.
	h.roomsMu.RLock()
	held := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		held = append(held, r)
	}
	h.roomsMu.RUnlock()
	counts := make([]roomCount, 0, min(len(held), 4*MaxListedRooms))
	for _, r := range held {
		r.mu.Lock()
		n, dead := len(r.members), r.dead
		r.mu.Unlock()
		if n > 0 && !dead {
			counts = append(counts, roomCount{r.name, n})
		}
	}
	slices.SortFunc(counts, func(a, b roomCount) int {
		if a.members != b.members {
			return cmp.Compare(b.members, a.members)
		}
		return cmp.Compare(a.name, b.name)
	})
	start := len(sc.buf)
	sc.buf = appendRooms(sc.buf, counts[:min(len(counts), MaxListedRooms)], len(counts))
	h.deliver(c.one[:], sc.buf[start:], Reply)
	h.ack(sc, c, id)
}

func appendRooms(dst []byte, rooms []roomCount, total int) []byte {
	dst = append(dst, `{"op":"rooms","rooms":[`...)
	for i, r := range rooms {
		if i > 0 {
			dst = append(dst, ',')
		}
		// Room names are validated (A-Z a-z 0-9 _ . - #): nothing to escape.
		dst = append(dst, `{"room":"`...)
		dst = append(dst, r.name...)
		dst = append(dst, `","members":`...)
		dst = strconv.AppendInt(dst, int64(r.members), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"total":`...)
	dst = strconv.AppendInt(dst, int64(total), 10)
	return append(dst, '}')
}
