package target

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startNATS runs an embedded NATS server with JetStream on a random
// loopback port, stopped after every node of the test (cleanups run last
// registered first).
func startNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// startNodes starts n serve nodes of one cluster.
func startNodes(t *testing.T, ns *natsserver.Server, n int, mod func(*Config)) []*Server {
	t.Helper()
	nodes := make([]*Server, n)
	for i := range nodes {
		nodes[i] = startTest(t, func(c *Config) {
			c.Cluster = ns.ClientURL()
			c.ClusterName = "test"
			if mod != nil {
				mod(c)
			}
		})
	}
	return nodes
}

// waitInterest waits until want client connections subscribe to subject
// exactly (the history stream's internal subscription to every room subject
// is not one of them).
func waitInterest(t *testing.T, ns *natsserver.Server, subject string, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d subscribers of %s", want, subject), func() bool {
		cz, err := ns.Connz(&natsserver.ConnzOptions{Subscriptions: true, Limit: 1000})
		if err != nil {
			t.Fatalf("connz: %v", err)
		}
		n := 0
		for _, c := range cz.Conns {
			if slices.Contains(c.Subs, subject) {
				n++
			}
		}
		return n == want
	})
}

// peer is a WebSocket chat client for the cluster tests.
type peer struct {
	t    *testing.T
	name string
	c    *websocket.Conn
}

func dialPeer(t *testing.T, s *Server, nick string) *peer {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(s.URL("/chat"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	p := &peer{t: t, name: nick, c: c}
	if nick != "" {
		p.send(map[string]any{"op": "nick", "name": nick})
		p.expect("welcome")
	}
	return p
}

func (p *peer) send(v map[string]any) {
	p.t.Helper()
	if err := p.c.WriteJSON(v); err != nil {
		p.t.Fatalf("%s: write: %v", p.name, err)
	}
}

// next reads the next message.
func (p *peer) next() map[string]any {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m map[string]any
	if err := p.c.ReadJSON(&m); err != nil {
		p.t.Fatalf("%s: read: %v", p.name, err)
	}
	return m
}

// expect reads messages up to the first with op, skipping presence
// announcements only; anything else first is a failure.
func (p *peer) expect(op string) map[string]any {
	p.t.Helper()
	for {
		m := p.next()
		if m["op"] == op {
			return m
		}
		if m["op"] != "presence" {
			p.t.Fatalf("%s: want %s, got %v", p.name, op, m)
		}
	}
}

func (p *peer) join(room string) {
	p.t.Helper()
	p.send(map[string]any{"op": "join", "room": room})
	p.expect("joined")
}

func TestClusterSayAndShoutAcrossThreeNodes(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 3, nil)
	alice := dialPeer(t, nodes[0], "alice")
	bob := dialPeer(t, nodes[1], "bob")
	carol := dialPeer(t, nodes[2], "carol")
	dave := dialPeer(t, nodes[1], "dave") // same node as bob, not in the room
	for _, p := range []*peer{alice, bob, carol} {
		p.join("lobby")
	}
	waitInterest(t, ns, "wsbench.test.live.lobby", 3)

	alice.send(map[string]any{"op": "say", "room": "lobby", "text": "hi all", "id": 1, "ts": 42})
	for _, p := range []*peer{alice, bob, carol} {
		m := p.expect("said")
		if m["from"] != "alice" || m["text"] != "hi all" || m["room"] != "lobby" || m["ts"] != float64(42) {
			t.Errorf("%s got %v", p.name, m)
		}
	}
	alice.expect("ack")

	// Nodes 2 and 3 share the order of one sender's messages.
	for i := range 20 {
		bob.send(map[string]any{"op": "say", "room": "lobby", "text": fmt.Sprint(i)})
	}
	for _, p := range []*peer{alice, bob, carol} {
		for i := range 20 {
			if m := p.expect("said"); m["text"] != fmt.Sprint(i) || m["from"] != "bob" {
				t.Fatalf("%s: message %d: got %v", p.name, i, m)
			}
		}
	}

	// dave is not in the room: the next thing he hears is the shout.
	waitInterest(t, ns, "wsbench.test.shout", 3)
	carol.send(map[string]any{"op": "shout", "text": "fire", "id": "s1"})
	for _, p := range []*peer{alice, bob, carol, dave} {
		if m := p.expect("shouted"); m["from"] != "carol" || m["text"] != "fire" {
			t.Errorf("%s got %v", p.name, m)
		}
	}
	carol.expect("ack")

}

// One broker message per room message, whatever the number of recipients
// on the other nodes.
func TestClusterOneBrokerMessagePerRoomMessage(t *testing.T) {
	ns := startNATS(t)
	spy, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	var seen atomic.Int64
	if _, err := spy.Subscribe("wsbench.test.room.big", func(*nats.Msg) { seen.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, ns, 2, nil)
	alice := dialPeer(t, nodes[0], "alice")
	alice.join("big")
	const members = 40
	var listeners []*peer
	for i := range members {
		p := dialPeer(t, nodes[1], fmt.Sprint("u", i))
		p.join("big")
		listeners = append(listeners, p)
	}
	waitInterest(t, ns, "wsbench.test.live.big", 2)
	const says = 5
	for i := range says {
		alice.send(map[string]any{"op": "say", "room": "big", "text": fmt.Sprint(i)})
	}
	for _, p := range listeners {
		for i := range says {
			if m := p.expect("said"); m["text"] != fmt.Sprint(i) {
				t.Fatalf("%s: got %v", p.name, m)
			}
		}
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := seen.Load(); n != says {
		t.Fatalf("the broker carried %d room messages for %d says to %d remote members, want %d", n, says, members, says)
	}
}

func TestClusterExcludeSelf(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 2, nil)
	alice := dialPeer(t, nodes[0], "alice")
	alice2 := dialPeer(t, nodes[0], "alice2")
	bob := dialPeer(t, nodes[1], "bob")
	for _, p := range []*peer{alice, alice2, bob} {
		p.join("r")
	}
	waitInterest(t, ns, "wsbench.test.live.r", 2)
	alice.send(map[string]any{"op": "say", "room": "r", "text": "not me", "exclude_self": true})
	alice.send(map[string]any{"op": "echo", "x": 1})
	if m := alice.expect("echo"); m["x"] != float64(1) {
		t.Fatalf("alice: %v", m)
	}
	for _, p := range []*peer{alice2, bob} {
		if m := p.expect("said"); m["text"] != "not me" {
			t.Fatalf("%s got %v", p.name, m)
		}
	}
	// A room's subject is heard only by nodes with members in it.
	alice.send(map[string]any{"op": "leave", "room": "r"})
	alice.expect("left")
	alice2.send(map[string]any{"op": "leave", "room": "r"})
	alice2.expect("left")
	waitInterest(t, ns, "wsbench.test.live.r", 1)
	bob.send(map[string]any{"op": "leave", "room": "r"})
	bob.expect("left")
	waitInterest(t, ns, "wsbench.test.live.r", 0)
}

func TestClusterDMAcrossNodes(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 2, nil)
	alice := dialPeer(t, nodes[0], "alice")
	bob := dialPeer(t, nodes[1], "bob")

	alice.send(map[string]any{"op": "dm", "to": "bob", "text": "psst", "id": 7, "ts": 5})
	m := bob.expect("dm")
	if m["from"] != "alice" || m["to"] != "bob" || m["text"] != "psst" || m["ts"] != float64(5) {
		t.Fatalf("bob got %v", m)
	}
	if m := alice.expect("ack"); m["id"] != float64(7) {
		t.Fatalf("alice got %v", m)
	}

	alice.send(map[string]any{"op": "dm", "to": "nobody", "text": "?", "id": 8})
	if m := alice.expect("error"); m["code"] != "unknown_user" || m["id"] != float64(8) {
		t.Fatalf("alice got %v", m)
	}

	// bob leaves: his name is no longer reachable from node 1.
	bob.c.Close()
	waitInterest(t, ns, "wsbench.test.user.bob", 0)
	alice.send(map[string]any{"op": "dm", "to": "bob", "text": "gone?", "id": 9})
	if m := alice.expect("error"); m["code"] != "unknown_user" {
		t.Fatalf("alice got %v", m)
	}
}

func TestClusterNicknamesUnique(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 3, nil)
	dialPeer(t, nodes[0], "neo")
	for _, s := range nodes {
		p := dialPeer(t, s, "")
		p.send(map[string]any{"op": "nick", "name": "neo", "id": 1})
		if m := p.expect("error"); m["code"] != "nick_taken" || m["id"] != float64(1) {
			t.Fatalf("node %s: got %v", s.Addr(), m)
		}
	}
	// Names outside NATS's token characters are escaped, not confused.
	a := dialPeer(t, nodes[1], "a.b")
	b := dialPeer(t, nodes[2], "a-b")
	a.send(map[string]any{"op": "dm", "to": "a-b", "text": "dot to dash"})
	if m := b.expect("dm"); m["from"] != "a.b" {
		t.Fatalf("got %v", m)
	}

	// A released name (leave by rename, then by disconnect) is free on
	// every node.
	trin := dialPeer(t, nodes[0], "trinity")
	trin.send(map[string]any{"op": "nick", "name": "trinity2"})
	trin.expect("welcome")
	var other *peer
	waitFor(t, "trinity free on node 2", func() bool {
		other = dialPeer(t, nodes[2], "")
		other.send(map[string]any{"op": "nick", "name": "trinity"})
		m := other.next()
		return m["op"] == "welcome"
	})
	trin.c.Close()
	waitFor(t, "trinity2 free on node 2", func() bool {
		p := dialPeer(t, nodes[1], "")
		p.send(map[string]any{"op": "nick", "name": "trinity2"})
		return p.next()["op"] == "welcome"
	})
}

func TestClusterDeadNodeNamesExpire(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 2, func(c *Config) { c.ClusterNodeTTL = 2 * time.Second })
	dialPeer(t, nodes[0], "morpheus")
	// Kill node 0's broker link without a goodbye, as kill -9 would.
	nodes[0].hub.(hubAdapter).node.Abort()
	p := dialPeer(t, nodes[1], "")
	p.send(map[string]any{"op": "nick", "name": "morpheus"})
	if m := p.next(); m["code"] != "nick_taken" {
		t.Fatalf("right after the loss the name is still held: got %v", m)
	}
	waitFor(t, "the dead node's name to expire", func() bool {
		p.send(map[string]any{"op": "nick", "name": "morpheus"})
		return p.next()["op"] == "welcome"
	})
}

// The single-node server starts nothing of the cluster.
func TestNoClusterNoBroker(t *testing.T) {
	s := startTest(t, nil)
	if n := s.hub.(hubAdapter).node; n != nil {
		t.Fatal("a node without --cluster has a broker link")
	}
}

// Racing claims of one name from every node: exactly one wins.
func TestClusterNickRaceOneWinner(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 3, nil)
	var peers []*peer
	for i := range 12 {
		peers = append(peers, dialPeer(t, nodes[i%3], ""))
	}
	for _, p := range peers {
		p.send(map[string]any{"op": "nick", "name": "zion"})
	}
	won := 0
	for _, p := range peers {
		switch m := p.next(); {
		case m["op"] == "welcome":
			won++
		case m["code"] != "nick_taken":
			t.Fatalf("got %v", m)
		}
	}
	if won != 1 {
		t.Fatalf("%d connections got the name zion, want 1", won)
	}
}
