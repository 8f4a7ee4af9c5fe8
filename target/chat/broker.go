package chat

import (
	"bytes"
	"errors"
)

// Broker links the hubs of several server nodes into one chat server
// (`wsbench serve --cluster`). The hub calls it; the implementation (package
// target/cluster) talks to the message broker and calls the Hub's Remote*
// methods for what other nodes send. A nil Broker (the default) is a single
// node: the hub then makes no broker calls at all.
//
// Every method returns without waiting for the network; results come back
// through the done callbacks, on a broker goroutine.
type Broker interface {
	// RoomActive is called when the first local member joins a room and
	// RoomIdle when the last one leaves (both with the room's lock held, so
	// the calls for one room are in order): the node hears a room's
	// messages only while it has members in it.
	RoomActive(room string)
	RoomIdle(room string)
	// The node hears a room at the latest once RoomActive returns; a
	// history.Store of the cluster may subscribe earlier, when it loads
	// the room (RoomActive must then be a no-op). RemoteRoom skips
	// messages repeating the newest loaded ones.
	//
	// Members is called after every join and leave with the room's member
	// count on this node (room lock held); it returns the count over every
	// node, the other nodes' share as last heard (eventually consistent).
	Members(room string, local int) int
	// PublishRoom sends a room's live frame (`said`) to the other nodes
	// once; PublishShout sends a `shouted` frame. frame is not retained.
	PublishRoom(room string, frame []byte)
	PublishShout(frame []byte)
	// SendDM delivers a `dm` frame to the node where user to is connected;
	// done(nil) once it was delivered, ErrUnknownUser if no node has that
	// user, another error if the broker failed. frame is not retained.
	SendDM(to string, frame []byte, done func(error))
	// ClaimNick reserves name cluster-wide: done(nil) if this node now owns
	// it, ErrNickTaken if another node does, another error if the broker
	// failed. ReleaseNick gives up a name this node owns.
	ClaimNick(name string, done func(error))
	ReleaseNick(name string)
}

// Errors a Broker reports through its callbacks.
var (
	ErrNickTaken   = errors.New("nickname taken on another node")
	ErrUnknownUser = errors.New("no such user on any node")
)

// RemoteRoom delivers a room frame published by another node to this node's
// members of room.
func (h *Hub) RemoteRoom(room string, frame []byte) {
	h.roomsMu.RLock()
	r := h.rooms[room]
	h.roomsMu.RUnlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	if !r.dead && len(r.members) > 0 {
		if r.ring.Cap() > 0 {
			// Late joiners on this node see it too (the node's ring mirrors
			// the cluster's history while it has members in the room).
			hist := HistoryForm(frame)
			if r.dedupe && h.inRing(r, hist) {
				r.mu.Unlock()
				return // loaded from the store already, and sent as history
			}
			r.dedupe = false
			h.pushHistory(r, hist)
			h.fitBudget(r)
		}
		h.stats.broadcasts.Add(1)
		h.deliver(r.members, frame, Chatter)
	}
	r.mu.Unlock()
}

// inRing reports whether r's history holds msg; r.mu is held.
func (h *Hub) inRing(r *room, msg []byte) bool {
	for k := r.ring.Len() - 1; k >= 0; k-- {
		if bytes.Equal(r.ring.At(k), msg) {
			return true
		}
	}
	return false
}

// HistoryForm returns the history form of a live `said` frame (a new
// slice): what a Store keeps and a joiner receives.
func HistoryForm(live []byte) []byte {
	if len(live) == 0 || live[len(live)-1] != '}' {
		return append([]byte(nil), live...)
	}
	b := make([]byte, 0, len(live)-1+len(historySuffix))
	b = append(b, live[:len(live)-1]...)
	return append(b, historySuffix...)
}

// LiveForm reverses HistoryForm (a new slice); hist must be a history form.
func LiveForm(hist []byte) []byte {
	body, ok := bytes.CutSuffix(hist, []byte(historySuffix))
	if !ok {
		return append([]byte(nil), hist...)
	}
	b := make([]byte, 0, len(body)+1)
	b = append(b, body...)
	return append(b, '}')
}

// RemoteShout delivers a shout published by another node to every local
// user.
func (h *Hub) RemoteShout(frame []byte) {
	h.nickMu.RLock()
	h.stats.broadcasts.Add(1)
	h.deliver(h.named, frame, Chatter)
	h.nickMu.RUnlock()
}

// RemoteDM delivers a dm sent from another node to the local user to and
// reports whether that user is connected here.
func (h *Hub) RemoteDM(to string, frame []byte) bool {
	h.nickMu.RLock()
	c := h.nicks[to]
	var id ConnID
	if c != nil {
		id = c.one[0]
	}
	h.nickMu.RUnlock()
	if c == nil {
		return false
	}
	h.deliver([]ConnID{id}, frame, Reply)
	return true
}
