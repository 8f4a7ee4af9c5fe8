package chat

// History memory budget: each room's Ring bounds itself (HistorySize
// messages, HistoryRoomBytes); the hub keeps the sum of all rings under
// HistoryTotalBytes by evicting rooms held only for their history, then by
// trimming the room being written.

// pushHistory appends msg to r's ring and accounts for it. r.mu is held.
func (h *Hub) pushHistory(r *room, msg []byte) {
	n, b := r.ring.Len(), r.ring.Bytes()
	r.ring.Push(msg)
	h.stats.history.Add(int64(r.ring.Len() - n))
	h.stats.historyBytes.Add(int64(r.ring.Bytes() - b))
}

// fitBudget brings the history of all rooms under HistoryTotalBytes: first
// by evicting idle rooms (no members; oldest idle first), then by dropping
// the oldest messages of cur. cur.mu is held.
func (h *Hub) fitBudget(cur *room) {
	for h.stats.historyBytes.Load() > h.cfg.HistoryTotalBytes {
		if !h.evictIdle(cur) {
			break
		}
	}
	for h.stats.historyBytes.Load() > h.cfg.HistoryTotalBytes && cur.ring.Len() > 0 {
		b := cur.ring.Bytes()
		cur.ring.DropOldest()
		h.stats.history.Add(-1)
		h.stats.historyBytes.Add(int64(cur.ring.Bytes() - b))
		h.stats.trimmed.Add(1)
	}
}

// evictIdle drops the oldest idle room other than cur from memory and
// reports whether it found one. With a Store the room's history reloads on
// its next join; rooms with appends still being committed are skipped, so
// the reload never misses one. Another room's lock is only tried (never
// waited for) because cur's is held.
func (h *Hub) evictIdle(cur *room) bool {
	h.roomsMu.Lock()
	defer h.roomsMu.Unlock()
	for e := h.idle.Front(); e != nil; e = e.Next() {
		v := e.Value.(*room)
		if v == cur || v.pending.Load() > 0 || !v.mu.TryLock() {
			continue
		}
		h.idle.Remove(e)
		v.idleAt = nil
		v.dead = true
		delete(h.rooms, v.name)
		h.stats.held.Add(-1)
		h.stats.history.Add(-int64(v.ring.Len()))
		h.stats.historyBytes.Add(-int64(v.ring.Bytes()))
		v.ring.Reset()
		v.mu.Unlock()
		h.stats.evicted.Add(1)
		return true
	}
	return false
}
