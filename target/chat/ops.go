package chat

import (
	"errors"
	"strconv"
	"time"

	"github.com/wsbench/wsbench/internal/wsproto"
	"github.com/wsbench/wsbench/target/history"
)

func (h *Hub) opNick(sc *scratch, c *conn, id []byte) {
	name, ok := h.nameField(sc, c, id, kName, "name", h.cfg.MaxNameLen, false)
	if !ok {
		return
	}
	if c.name != string(name) {
		h.nickMu.Lock()
		if h.nicks[string(name)] != nil || h.claims[string(name)] != nil {
			h.nickMu.Unlock()
			h.fail(sc, c, id, CodeNickTaken, "nickname "+string(name)+" is taken")
			return
		}
		if h.cfg.Broker != nil {
			// Cluster mode: the name must be free on every node. welcome
			// (or nick_taken) follows when the broker answers.
			nm := string(name)
			h.claims[nm] = c
			h.nickMu.Unlock()
			idCopy := append([]byte(nil), id...) // nil stays nil
			h.cfg.Broker.ClaimNick(nm, func(err error) { h.claimed(c, nm, idCopy, err) })
			return
		}
		h.setNick(c, string(name))
		h.nickMu.Unlock()
	}
	h.welcome(sc, c, id)
}

func (h *Hub) welcome(sc *scratch, c *conn, id []byte) {
	start := len(sc.buf)
	sc.buf = appendWelcome(sc.buf, c.name)
	h.deliver(c.one[:], sc.buf[start:], Reply)
	h.ack(sc, c, id)
}

// setNick names c; nickMu is held.
func (h *Hub) setNick(c *conn, name string) {
	if c.name != "" {
		delete(h.nicks, c.name)
		if h.cfg.Broker != nil {
			h.cfg.Broker.ReleaseNick(c.name)
		}
	} else {
		c.namedIdx = len(h.named)
		h.named = append(h.named, c.one[0])
		h.namedConns = append(h.namedConns, c)
		h.stats.users.Add(1)
	}
	c.name = name
	h.nicks[name] = c
}

// claimed finishes a cluster nickname claim; it runs on a broker goroutine.
func (h *Hub) claimed(c *conn, name string, id []byte, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.nickMu.Lock()
	if h.claims[name] == c {
		delete(h.claims, name)
	}
	if err != nil || c.closed {
		h.nickMu.Unlock()
		if err == nil {
			h.cfg.Broker.ReleaseNick(name) // the connection went away meanwhile
		}
		if c.closed {
			return
		}
		sc := h.getScratch()
		defer h.putScratch(sc)
		if errors.Is(err, ErrNickTaken) {
			h.fail(sc, c, id, CodeNickTaken, "nickname "+name+" is taken")
		} else {
			h.fail(sc, c, id, CodeInternal, "nickname registry: "+err.Error())
		}
		return
	}
	h.setNick(c, name)
	h.nickMu.Unlock()
	sc := h.getScratch()
	defer h.putScratch(sc)
	h.welcome(sc, c, id)
}

// dropNick frees c's nickname; nickMu is held.
func (h *Hub) dropNick(c *conn) {
	delete(h.nicks, c.name)
	if h.cfg.Broker != nil {
		h.cfg.Broker.ReleaseNick(c.name)
	}
	last := len(h.named) - 1
	if i := c.namedIdx; i >= 0 && i <= last {
		moved := h.namedConns[last]
		h.named[i], h.namedConns[i] = h.named[last], moved
		moved.namedIdx = i
		h.namedConns[last] = nil
		h.named, h.namedConns = h.named[:last], h.namedConns[:last]
	}
	c.namedIdx = -1
	c.name = ""
	h.stats.users.Add(-1)
}

// memberOf returns c's membership of the named room, or nil.
func (c *conn) memberOf(name []byte) *room {
	for _, r := range c.rooms {
		if r.name == string(name) {
			return r
		}
	}
	return nil
}

// lockRoom returns the room named name, locked and with its history
// loaded. A room not held in memory is created, which counts against c's
// RoomCreates: past that limit lockRoom returns nil.
func (h *Hub) lockRoom(c *conn, name []byte, now int64) *room {
	for {
		h.roomsMu.RLock()
		r := h.rooms[string(name)]
		h.roomsMu.RUnlock()
		if r == nil {
			h.roomsMu.Lock()
			if r = h.rooms[string(name)]; r == nil {
				if !h.mayCreate(c, now) {
					h.roomsMu.Unlock()
					return nil
				}
				r = h.newRoom(string(name))
				h.rooms[r.name] = r
				h.stats.held.Add(1)
			}
			h.roomsMu.Unlock()
		}
		r.mu.Lock()
		if r.dead {
			r.mu.Unlock()
			continue
		}
		if !r.loaded {
			r.loaded = true
			if h.cfg.Store != nil && h.cfg.HistorySize > 0 {
				msgs, err := h.cfg.Store.Load(r.name, h.cfg.HistorySize)
				if err != nil {
					h.log.Error("loading room history", "room", r.name, "err", err)
				}
				for _, m := range msgs {
					h.pushHistory(r, m)
				}
				h.fitBudget(r)
				r.dedupe = h.cfg.Broker != nil && len(msgs) > 0
			}
		}
		return r
	}
}

func (h *Hub) newRoom(name string) *room {
	r := &room{name: name, index: make(map[ConnID]int), ring: history.NewRingBytes(h.cfg.HistorySize, h.cfg.HistoryRoomBytes)}
	if h.cfg.Store != nil {
		r.doneFn = func(err error) {
			r.pending.Add(-1)
			h.countStoreError(err)
		}
	}
	return r
}

// mayCreate counts a room creation against c's RoomCreates per minute and
// reports whether it is allowed. c.mu is held.
func (h *Hub) mayCreate(c *conn, now int64) bool {
	sec := uint32(now / int64(time.Second))
	if sec-c.createWin >= roomCreateWindow {
		c.createWin, c.creates = sec, 0
	}
	if int(c.creates) >= h.cfg.RoomCreates {
		return false
	}
	c.creates++
	return true
}

func (h *Hub) opJoin(sc *scratch, c *conn, id []byte, now int64) {
	name, ok := h.nameField(sc, c, id, kRoom, "room", h.cfg.MaxRoomLen, true)
	if !ok {
		return
	}
	if r := c.memberOf(name); r != nil {
		r.mu.Lock()
		n := len(r.members)
		if h.cfg.Broker != nil {
			n = h.cfg.Broker.Members(r.name, n)
		}
		r.mu.Unlock()
		start := len(sc.buf)
		sc.buf = appendRoomCount(sc.buf, "joined", r.name, n)
		h.deliver(c.one[:], sc.buf[start:], Reply)
		h.ack(sc, c, id)
		return
	}
	if len(c.rooms) >= h.cfg.MaxRoomsPerConn {
		h.fail(sc, c, id, CodeTooManyRooms, "already in "+itoa(len(c.rooms))+" rooms (the limit)")
		return
	}
	self := c.one[0]
	r := h.lockRoom(c, name, now)
	if r == nil {
		h.stats.createLimited.Add(1)
		h.fail(sc, c, id, CodeRoomCreates, "this connection created "+itoa(h.cfg.RoomCreates)+
			" rooms within the last minute (the limit): join an existing room or try again later")
		return
	}
	r.index[self] = len(r.members)
	r.members = append(r.members, self)
	n := len(r.members)
	total := n
	h.stats.members.Add(1)
	if h.cfg.Broker != nil {
		total = h.cfg.Broker.Members(r.name, n)
	}
	if n == 1 {
		h.stats.rooms.Add(1)
		if h.cfg.Broker != nil {
			h.cfg.Broker.RoomActive(r.name)
		}
		if r.idleAt != nil {
			h.roomsMu.Lock()
			h.idle.Remove(r.idleAt)
			r.idleAt = nil
			h.roomsMu.Unlock()
		}
	}

	start := len(sc.buf)
	sc.buf = appendRoomCount(sc.buf, "joined", r.name, total)
	h.deliver(c.one[:], sc.buf[start:], Reply)
	for k := 0; k < r.ring.Len(); k++ {
		h.deliver(c.one[:], r.ring.At(k), Reply)
	}
	if n > 1 && h.announces(n) {
		start = len(sc.buf)
		sc.buf = appendPresence(sc.buf, r.name, c.name, "join", total)
		h.stats.broadcasts.Add(1)
		h.deliver(r.members[:n-1], sc.buf[start:], Chatter) // self was appended last
	}
	r.mu.Unlock()
	c.rooms = append(c.rooms, r)
	h.ack(sc, c, id)
}

func (h *Hub) opLeave(sc *scratch, c *conn, id []byte) {
	name, ok := h.nameField(sc, c, id, kRoom, "room", h.cfg.MaxRoomLen, true)
	if !ok {
		return
	}
	r := c.memberOf(name)
	if r == nil {
		h.fail(sc, c, id, CodeNotInRoom, "not in room "+string(name))
		return
	}
	h.removeMember(sc, c, r, true)
	for i, o := range c.rooms {
		if o == r {
			last := len(c.rooms) - 1
			c.rooms[i] = c.rooms[last]
			c.rooms[last] = nil
			c.rooms = c.rooms[:last]
			break
		}
	}
	h.ack(sc, c, id)
}

// removeMember takes c out of r, tells the others and, if reply, c itself.
// An empty room without history is dropped from the hub; one with history
// is listed as idle (evictable when history is over its total budget).
func (h *Hub) removeMember(sc *scratch, c *conn, r *room, reply bool) {
	self := c.one[0]
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.index[self]
	if !ok {
		return
	}
	last := len(r.members) - 1
	moved := r.members[last]
	r.members[i] = moved
	r.index[moved] = i
	r.members = r.members[:last]
	delete(r.index, self)
	n := len(r.members)
	total := n
	h.stats.members.Add(-1)
	if h.cfg.Broker != nil {
		total = h.cfg.Broker.Members(r.name, n)
	}
	if reply {
		start := len(sc.buf)
		sc.buf = appendRoomCount(sc.buf, "left", r.name, total)
		h.deliver(c.one[:], sc.buf[start:], Reply)
	}
	if n > 0 {
		if h.announces(n + 1) { // the room's size before the leave
			start := len(sc.buf)
			sc.buf = appendPresence(sc.buf, r.name, c.name, "leave", total)
			h.stats.broadcasts.Add(1)
			h.deliver(r.members, sc.buf[start:], Chatter)
		}
		return
	}
	h.stats.rooms.Add(-1)
	if h.cfg.Broker != nil {
		h.cfg.Broker.RoomIdle(r.name)
		// The node stops hearing the room, so its ring would go stale:
		// forget it, and reload the cluster's history on the next join.
		h.stats.history.Add(-int64(r.ring.Len()))
		h.stats.historyBytes.Add(-int64(r.ring.Bytes()))
		r.ring.Reset()
		r.loaded = false
	}
	h.roomsMu.Lock()
	if r.ring.Len() == 0 && r.pending.Load() == 0 {
		r.dead = true
		delete(h.rooms, r.name)
		h.stats.held.Add(-1)
	} else {
		r.idleAt = h.idle.PushBack(r)
	}
	h.roomsMu.Unlock()
}

// announces reports whether a room of size members announces joins and leaves.
func (h *Hub) announces(members int) bool {
	return h.cfg.PresenceLimit <= 0 || members <= h.cfg.PresenceLimit
}

// others returns members without self, in sc's reusable id slice.
func (sc *scratch) others(members []ConnID, self ConnID) []ConnID {
	ids := sc.ids[:0]
	for _, m := range members {
		if m != self {
			ids = append(ids, m)
		}
	}
	sc.ids = ids
	return ids
}

func (h *Hub) opSay(sc *scratch, c *conn, id []byte, now int64) {
	req := &sc.req
	name, ok := h.nameField(sc, c, id, kRoom, "room", h.cfg.MaxRoomLen, true)
	if !ok {
		return
	}
	r := c.memberOf(name)
	if r == nil {
		h.fail(sc, c, id, CodeNotInRoom, "not in room "+string(name))
		return
	}
	text, ok := h.textField(sc, c, id)
	if !ok {
		return
	}
	// Encode the live frame once, then its history form right after it.
	start := len(sc.buf)
	b := append(sc.buf, `{"op":"said","room":`...)
	b = wsproto.AppendJSONString(b, r.name)
	b = append(b, `,"from":`...)
	b = wsproto.AppendJSONString(b, c.name)
	b = append(b, `,"text":`...)
	b = append(b, text...)
	b = append(b, `,"srv_ts":`...)
	b = strconv.AppendInt(b, now, 10)
	b = appendPassThrough(b, req, saidReserved)
	b = append(b, '}')
	mid := len(b)
	b = append(b, b[start:mid-1]...)
	b = append(b, historySuffix...)
	sc.buf = b
	live, hist := b[start:mid], b[mid:]

	store := h.cfg.Store
	r.mu.Lock()
	if r.ring.Cap() > 0 {
		h.pushHistory(r, hist)
		h.fitBudget(r)
	}
	to := r.members
	if req.boolean(kExcludeSelf) {
		to = sc.others(to, c.one[0])
	}
	h.stats.broadcasts.Add(1)
	h.deliver(to, live, Chatter)
	if h.cfg.Broker != nil {
		h.cfg.Broker.PublishRoom(r.name, live) // under r.mu: one order per room per node
	}
	persisted := store != nil && r.ring.Cap() > 0
	if persisted {
		r.pending.Add(1)
		store.Append(r.name, hist, h.afterCommit(r, c.one[0], id))
	}
	r.mu.Unlock()
	if !persisted {
		h.ack(sc, c, id)
	}
}

// afterCommit returns the store callback that acks (or reports the failure
// of) a persisted say. It runs on the store's writer goroutine, so it sends
// with a fresh buffer through Outbox.Deliver only.
func (h *Hub) afterCommit(r *room, to ConnID, id []byte) func(error) {
	if id == nil {
		return r.doneFn
	}
	idCopy := append([]byte(nil), id...)
	return func(err error) {
		r.pending.Add(-1)
		var b []byte
		if err != nil {
			h.countStoreError(err)
			h.stats.errors.Add(1)
			b = appendError(make([]byte, 0, 64), idCopy, CodeInternal, "history store failed: "+err.Error())
		} else {
			h.stats.acks.Add(1)
			b = appendAck(make([]byte, 0, 16+len(idCopy)), idCopy)
		}
		h.deliver([]ConnID{to}, b, Reply)
	}
}

func (h *Hub) countStoreError(err error) {
	if err != nil {
		h.stats.storeErr.Add(1)
		h.log.Error("persisting chat history", "err", err)
	}
}

func (h *Hub) opShout(sc *scratch, c *conn, id []byte, now int64) {
	text, ok := h.textField(sc, c, id)
	if !ok {
		return
	}
	start := len(sc.buf)
	b := append(sc.buf, `{"op":"shouted","from":`...)
	b = wsproto.AppendJSONString(b, c.name)
	b = append(b, `,"text":`...)
	b = append(b, text...)
	b = append(b, `,"srv_ts":`...)
	b = strconv.AppendInt(b, now, 10)
	b = appendPassThrough(b, &sc.req, shoutedReserved)
	b = append(b, '}')
	sc.buf = b
	h.nickMu.RLock()
	to := h.named
	if sc.req.boolean(kExcludeSelf) {
		to = sc.others(to, c.one[0])
	}
	h.stats.broadcasts.Add(1)
	h.deliver(to, b[start:], Chatter)
	h.nickMu.RUnlock()
	if h.cfg.Broker != nil {
		h.cfg.Broker.PublishShout(b[start:])
	}
	h.ack(sc, c, id)
}

func (h *Hub) opDM(sc *scratch, c *conn, id []byte, now int64) {
	to, ok := sc.req.str(kTo)
	if !ok {
		if sc.req.has(kTo) {
			h.fail(sc, c, id, CodeUnknownUser, "to must be a string")
		} else {
			h.fail(sc, c, id, CodeMissingField, "missing field to")
		}
		return
	}
	text, ok := h.textField(sc, c, id)
	if !ok {
		return
	}
	h.nickMu.RLock()
	target := h.nicks[string(to)]
	var tid ConnID
	if target != nil {
		tid = target.one[0]
	}
	h.nickMu.RUnlock()
	if target == nil && (h.cfg.Broker == nil || !validName(to, h.cfg.MaxNameLen, false)) {
		h.failUnknownUser(sc, c, id, to)
		return
	}
	start := len(sc.buf)
	b := append(sc.buf, `{"op":"dm","from":`...)
	b = wsproto.AppendJSONString(b, c.name)
	b = append(b, `,"to":`...)
	b = wsproto.AppendJSONString(b, to)
	b = append(b, `,"text":`...)
	b = append(b, text...)
	b = append(b, `,"srv_ts":`...)
	b = strconv.AppendInt(b, now, 10)
	b = appendPassThrough(b, &sc.req, dmReserved)
	b = append(b, '}')
	sc.buf = b
	if target == nil {
		h.remoteDM(c, id, string(to), b[start:])
		return
	}
	sc.ids = append(sc.ids[:0], tid)
	h.deliver(sc.ids, b[start:], Reply)
	h.ack(sc, c, id)
}

func (h *Hub) failUnknownUser(sc *scratch, c *conn, id, to []byte) {
	if len(to) > 64 {
		to = to[:64]
	}
	h.fail(sc, c, id, CodeUnknownUser, "no user named "+string(to))
}

// remoteDM sends a dm through the broker to a user not connected here; the
// ack (or unknown_user) follows when the other node answers.
func (h *Hub) remoteDM(c *conn, id []byte, to string, frame []byte) {
	self := c.one[0]
	var idCopy []byte
	if id != nil {
		idCopy = append([]byte(nil), id...)
	}
	h.cfg.Broker.SendDM(to, frame, func(err error) {
		var b []byte
		switch {
		case err == nil:
			if idCopy == nil {
				return
			}
			h.stats.acks.Add(1)
			b = appendAck(make([]byte, 0, 16+len(idCopy)), idCopy)
		case errors.Is(err, ErrUnknownUser):
			h.stats.errors.Add(1)
			t := to
			if len(t) > 64 {
				t = t[:64]
			}
			b = appendError(nil, idCopy, CodeUnknownUser, "no user named "+t)
		default:
			h.stats.errors.Add(1)
			b = appendError(nil, idCopy, CodeInternal, "broker: "+err.Error())
		}
		h.deliver([]ConnID{self}, b, Reply)
	})
}
