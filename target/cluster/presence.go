package cluster

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Presence: every node tells the others how many members each room has on
// it, so `joined`, `left` and `presence` carry cluster-wide counts.
//
//	wsbench.<c>.members.<node>  lines "<room token> <count>"; every node subscribes
//	wsbench.<c>.members-hello   a node that just (re)connected asks for everyone's counts
//
// A node publishes the rooms whose count changed at most every
// membersFlush (one message for all of them), every room it has members in
// every NodeTTL/3 (a refresh), all of them when another node says hello,
// and an empty snapshot marked "bye" when it leaves. Each (node, room)
// count it hears is kept until NodeTTL after it was last heard: so another
// node's joins and leaves show here within membersFlush plus a broker hop,
// and a dead node's members are no longer counted NodeTTL after its last
// refresh at most.

// membersFlush is how often a node publishes changed room counts.
const membersFlush = 100 * time.Millisecond

// snapshotChunk bounds one members message (NATS's default max_payload is 1 MiB).
const snapshotChunk = 64 << 10

type remoteCount struct {
	n    int
	seen time.Time
}

// Members implements chat.Broker.
func (n *Node) Members(room string, local int) int {
	now := time.Now()
	n.pmu.Lock()
	defer n.pmu.Unlock()
	if local > 0 {
		n.local[room] = local
	} else {
		delete(n.local, room)
	}
	n.dirty[room] = struct{}{}
	total := local
	for _, rooms := range n.remote {
		if c, ok := rooms[room]; ok && now.Sub(c.seen) < n.cfg.NodeTTL {
			total += c.n
		}
	}
	return total
}

// RemoteMembers is the room's member count on the other nodes, as last heard.
func (n *Node) RemoteMembers(room string) int {
	now := time.Now()
	n.pmu.Lock()
	defer n.pmu.Unlock()
	total := 0
	for _, rooms := range n.remote {
		if c, ok := rooms[room]; ok && now.Sub(c.seen) < n.cfg.NodeTTL {
			total += c.n
		}
	}
	return total
}

// flushMembers publishes the counts of the rooms changed since the last
// flush, or of every room when all is set.
func (n *Node) flushMembers(all bool) {
	n.pmu.Lock()
	var rooms []string
	if all {
		clear(n.dirty)
		rooms = make([]string, 0, len(n.local))
		for r := range n.local {
			rooms = append(rooms, r)
		}
	} else {
		if len(n.dirty) == 0 {
			n.pmu.Unlock()
			return
		}
		rooms = make([]string, 0, len(n.dirty))
		for r := range n.dirty {
			rooms = append(rooms, r)
		}
		clear(n.dirty)
	}
	var b []byte
	subject := n.prefix + "members." + n.id
	send := func() {
		if len(b) > 0 || all {
			_ = n.nc.Publish(subject, b)
			n.stats.published.Add(1)
		}
		b = b[:0]
	}
	for _, r := range rooms {
		b = append(b, Token(r)...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(n.local[r]), 10)
		b = append(b, '\n')
		if len(b) > snapshotChunk {
			send()
			all = false // the empty message only says "still here, no rooms"
		}
	}
	n.pmu.Unlock()
	if len(b) > 0 || all {
		send()
	}
}

// heardMembers records another node's counts.
func (n *Node) heardMembers(node string, data []byte) {
	now := time.Now()
	n.pmu.Lock()
	defer n.pmu.Unlock()
	if string(data) == "bye" {
		delete(n.remote, node)
		return
	}
	rooms := n.remote[node]
	if rooms == nil {
		rooms = make(map[string]remoteCount)
		n.remote[node] = rooms
	}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		tok, num, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			continue
		}
		room, ok := Untoken(string(tok))
		c, err := strconv.Atoi(string(num))
		if !ok || err != nil || c < 0 {
			continue
		}
		if c == 0 {
			delete(rooms, room)
		} else {
			rooms[room] = remoteCount{n: c, seen: now}
		}
	}
}

// sweepMembers forgets counts not refreshed within NodeTTL.
func (n *Node) sweepMembers(now time.Time) {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	for node, rooms := range n.remote {
		for r, c := range rooms {
			if now.Sub(c.seen) >= n.cfg.NodeTTL {
				delete(rooms, r)
			}
		}
		if len(rooms) == 0 {
			delete(n.remote, node)
		}
	}
}

// handleMembers dispatches the presence subjects; it reports whether m was one.
func (n *Node) handleMembers(rest string, m *nats.Msg) bool {
	switch {
	case rest == "members-hello":
		if string(m.Data) != n.id {
			n.flushMembers(true)
		}
	case strings.HasPrefix(rest, "members."):
		if node := rest[len("members."):]; node != n.id {
			n.heardMembers(node, m.Data)
		}
	default:
		return false
	}
	return true
}

// hello asks every other node for its counts.
func (n *Node) hello() {
	_ = n.nc.Publish(n.prefix+"members-hello", []byte(n.id))
}

// bye tells the other nodes to stop counting this node's members.
func (n *Node) bye() {
	_ = n.nc.Publish(n.prefix+"members."+n.id, []byte("bye"))
}
