package target

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

const membersFlushForTest = 100 * time.Millisecond

func (s *Server) clusterNode(t *testing.T) interface{ RemoteMembers(string) int } {
	t.Helper()
	n := s.hub.(hubAdapter).node
	if n == nil {
		t.Fatal("not a cluster node")
	}
	return n
}

// expectMembers reads the reply op (joined or left) and checks its count.
func (p *peer) expectMembers(op string, want int) {
	p.t.Helper()
	if m := p.expect(op); m["members"] != float64(want) {
		p.t.Fatalf("%s: %s with %v members, want %d: %v", p.name, op, m["members"], want, m)
	}
}

func TestClusterMemberCounts(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 2, func(c *Config) { c.ClusterNodeTTL = 2 * time.Second })
	a, b := nodes[0].clusterNode(t), nodes[1].clusterNode(t)
	alice := dialPeer(t, nodes[0], "alice")
	alice.send(map[string]any{"op": "join", "room": "p"})
	alice.expectMembers("joined", 1)
	waitFor(t, "node B to hear alice", func() bool { return b.RemoteMembers("p") == 1 })

	bob := dialPeer(t, nodes[1], "bob")
	bob.send(map[string]any{"op": "join", "room": "p"})
	bob.expectMembers("joined", 2)
	carol := dialPeer(t, nodes[1], "carol")
	carol.send(map[string]any{"op": "join", "room": "p"})
	carol.expectMembers("joined", 3)
	if m := bob.expect("presence"); m["event"] != "join" || m["name"] != "carol" || m["members"] != float64(3) {
		t.Fatalf("bob: %v", m)
	}
	waitFor(t, "node A to hear bob and carol", func() bool { return a.RemoteMembers("p") == 2 })
	dave := dialPeer(t, nodes[0], "dave")
	dave.send(map[string]any{"op": "join", "room": "p"})
	dave.expectMembers("joined", 4)
	if m := alice.expect("presence"); m["members"] != float64(4) {
		t.Fatalf("alice: %v", m)
	}
	// A second join of the same room answers the current count too.
	dave.send(map[string]any{"op": "join", "room": "p"})
	dave.expectMembers("joined", 4)
	dave.send(map[string]any{"op": "leave", "room": "p"})
	dave.expectMembers("left", 3)
	waitFor(t, "node B to hear dave leave", func() bool { return b.RemoteMembers("p") == 1 })

	// Node A dies without a goodbye: its member (alice) stops counting on
	// node B within the node TTL, as her nickname is freed.
	nodes[0].hub.(hubAdapter).node.Abort()
	waitFor(t, "alice's membership to expire on node B", func() bool { return b.RemoteMembers("p") == 0 })
	erin := dialPeer(t, nodes[1], "erin")
	erin.send(map[string]any{"op": "join", "room": "p"})
	erin.expectMembers("joined", 3)
	waitFor(t, "alice's name to be free", func() bool {
		p := dialPeer(t, nodes[1], "")
		p.send(map[string]any{"op": "nick", "name": "alice"})
		return p.next()["op"] == "welcome"
	})

	// A node leaving cleanly says goodbye: its members stop counting at once.
	late := startNodes(t, ns, 1, func(c *Config) { c.ClusterNodeTTL = 2 * time.Second })[0]
	frank := dialPeer(t, late, "frank")
	frank.join("p")
	waitFor(t, "node B to hear frank", func() bool { return b.RemoteMembers("p") == 1 })
	if err := late.hub.(hubAdapter).node.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the goodbye", func() bool { return b.RemoteMembers("p") == 0 })
}

// A node started later asks for the room counts at once instead of
// waiting up to NodeTTL/3 for the others' next refresh (10 s here, longer
// than waitFor waits).
func TestClusterNewNodeHearsCounts(t *testing.T) {
	ns := startNATS(t)
	ttl := func(c *Config) { c.ClusterNodeTTL = 30 * time.Second }
	first := startNodes(t, ns, 1, ttl)[0]
	for i := range 3 {
		dialPeer(t, first, fmt.Sprint("u", i)).join("lobby")
	}
	time.Sleep(2 * membersFlushForTest) // the first node's own flush is done: only a hello brings its counts now
	late := startNodes(t, ns, 1, ttl)[0]
	waitFor(t, "the new node to hear the first node's count", func() bool { return late.clusterNode(t).RemoteMembers("lobby") == 3 })
	p := dialPeer(t, late, "late")
	p.send(map[string]any{"op": "join", "room": "lobby"})
	p.expectMembers("joined", 4)
}

// A node is lost with its users: they reconnect to another node, take
// their names back once the dead node's TTL ran out, and find every
// message they had an ack for.
func TestClusterNodeLossReconnect(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 2, func(c *Config) { c.ClusterNodeTTL = time.Second })
	alice := dialPeer(t, nodes[0], "alice")
	bob := dialPeer(t, nodes[1], "bob")
	alice.join("r")
	bob.join("r")
	for i := range 10 {
		alice.sayAcked("r", fmt.Sprint(i), i+1)
	}
	// Node A is killed: no goodbye to NATS, its clients cut off.
	nodes[0].hub.(hubAdapter).node.Abort()
	alice.c.Close()

	var again *peer
	waitFor(t, "alice's name on node B", func() bool {
		again = dialPeer(t, nodes[1], "")
		again.name = "alice"
		again.send(map[string]any{"op": "nick", "name": "alice"})
		return again.next()["op"] == "welcome"
	})
	again.send(map[string]any{"op": "join", "room": "r"})
	want := make([]string, 10)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	again.expectHistory("r", want...)
	again.sayAcked("r", "back", 100)
	if m := bob.expect("said"); m["text"] != "0" {
		t.Fatalf("bob: %v", m)
	}
}

// httpGet returns the status and body of an HTTP GET to s.
func httpGet(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr().String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// brokerMetric reads one unlabelled series from s's /metrics as a number.
func brokerMetric(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	v := metricValue(s, name)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("/metrics %s %q: %v", name, v, err)
	}
	return f
}

func TestClusterBrokerMetrics(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 2, nil)
	alice := dialPeer(t, nodes[0], "alice")
	bob := dialPeer(t, nodes[1], "bob")
	alice.join("m")
	bob.join("m")
	waitInterest(t, ns, "wsbench.test.live.m", 2)
	for i := range 3 {
		alice.sayAcked("m", fmt.Sprint(i), i+1)
		bob.expect("said")
	}
	if code, body := httpGet(t, nodes[0], "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if v := brokerMetric(t, nodes[0], "wsbench_broker_up"); v != 1 {
		t.Errorf("wsbench_broker_up %v", v)
	}
	if v := brokerMetric(t, nodes[0], "wsbench_broker_published_total"); v < 3 {
		t.Errorf("node A published %v messages, want at least the 3 says", v)
	}
	if v := brokerMetric(t, nodes[1], "wsbench_broker_received_total"); v < 3 {
		t.Errorf("node B received %v messages, want at least the 3 says", v)
	}
	if v := brokerMetric(t, nodes[0], "wsbench_broker_store_ack_seconds_count"); v != 3 {
		t.Errorf("node A: %v store acks, want 3", v)
	}
	if v := brokerMetric(t, nodes[1], "wsbench_delivery_delay_broker_seconds_count"); v < 3 {
		t.Errorf("node B: %v broker delays, want at least 3", v)
	}
	if v := brokerMetric(t, nodes[0], "wsbench_broker_rtt_seconds"); v <= 0 {
		t.Errorf("wsbench_broker_rtt_seconds %v", v)
	}
	// A single node has none of these series.
	single := startTest(t, nil)
	if strings.Contains(single.Metrics(), "wsbench_broker_") {
		t.Error("a single node reports broker series")
	}
}

// restartableNATS runs an embedded NATS server (JetStream on) on port with
// its store in dir.
func restartableNATS(t *testing.T, port int, dir string) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return ns
}

// The broker goes away and comes back: the nodes keep serving their own
// users meanwhile, say so on /healthz and /metrics, and deliver across
// nodes again once NATS is back.
func TestClusterBrokerOutage(t *testing.T) {
	dir := t.TempDir()
	ns := restartableNATS(t, -1, dir)
	t.Cleanup(func() { ns.Shutdown() }) // the restarted one; after the nodes' shutdown
	nodes := startNodes(t, ns, 2, nil)
	alice := dialPeer(t, nodes[0], "alice")
	amy := dialPeer(t, nodes[0], "amy")
	bob := dialPeer(t, nodes[1], "bob")
	for _, p := range []*peer{alice, amy, bob} {
		p.join("o")
	}
	waitInterest(t, ns, "wsbench.test.live.o", 2)

	url := ns.ClientURL()
	ns.Shutdown()
	waitFor(t, "node A to report the outage", func() bool {
		code, body := httpGet(t, nodes[0], "/healthz")
		return code == 503 && strings.Contains(body, "broker")
	})
	if v := brokerMetric(t, nodes[0], "wsbench_broker_up"); v != 0 {
		t.Fatalf("wsbench_broker_up %v during the outage", v)
	}
	// Local traffic goes on; the say is not stored, so it is not acked.
	alice.send(map[string]any{"op": "say", "room": "o", "text": "local", "id": 1})
	if m := amy.expect("said"); m["text"] != "local" {
		t.Fatalf("amy: %v", m)
	}
	alice.expect("said")
	if m := alice.expect("error"); m["id"] != float64(1) {
		t.Fatalf("alice: %v", m)
	}
	// A room new to the node opens at once (its stored history cannot be
	// read, the join does not wait for it).
	amy.send(map[string]any{"op": "join", "room": "new-during-outage"})
	amy.expectMembers("joined", 1)
	// A new name cannot be claimed without the registry.
	p := dialPeer(t, nodes[0], "")
	p.send(map[string]any{"op": "nick", "name": "newbie"})
	if m := p.expect("error"); m["code"] != "internal" {
		t.Fatalf("nick during the outage: %v", m)
	}

	var portNum int
	if _, err := fmt.Sscanf(url[strings.LastIndexByte(url, ':')+1:], "%d", &portNum); err != nil {
		t.Fatal(err)
	}
	ns = restartableNATS(t, portNum, dir)
	for _, s := range nodes {
		waitFor(t, "the nodes to reconnect", func() bool {
			code, _ := httpGet(t, s, "/healthz")
			return code == 200
		})
	}
	waitInterest(t, ns, "wsbench.test.live.o", 2)
	alice.sayAcked("o", "across again", 2)
	if m := bob.expect("said"); m["text"] != "across again" {
		t.Fatalf("bob: %v (the say during the outage must not arrive late)", m)
	}
	for _, name := range []string{"wsbench_broker_reconnects_total", "wsbench_broker_disconnects_total"} {
		if v := brokerMetric(t, nodes[0], name); v != 1 {
			t.Errorf("%s %v, want 1", name, v)
		}
	}
}

// Two cluster nodes on one address (--reuse-port): the kernel spreads the
// connections over both, and users behind the one address chat as one.
func TestClusterReusePortTwoNodesOneAddress(t *testing.T) {
	ns := startNATS(t)
	reuse := func(c *Config) { c.ReusePort = true }
	first := startNodes(t, ns, 1, reuse)[0]
	addr := first.Addr().String()
	second := startNodes(t, ns, 1, func(c *Config) { reuse(c); c.Addr = addr })[0]
	if second.Addr().String() != addr {
		t.Fatalf("second node on %s, want %s", second.Addr(), addr)
	}
	var peers []*peer
	for i := range 24 {
		p := dialPeer(t, first, fmt.Sprint("u", i)) // first's URL is the shared address
		p.join("shared")
		peers = append(peers, p)
	}
	a, b := brokerMetric(t, first, "wsbench_connections"), brokerMetric(t, second, "wsbench_connections")
	if a == 0 || b == 0 || a+b != 24 {
		t.Fatalf("connections per node: %v and %v, want 24 spread over both", a, b)
	}
	waitInterest(t, ns, "wsbench.test.live.shared", 2)
	peers[0].sayAcked("shared", "one address", 1)
	for _, p := range peers[1:] {
		if m := p.expect("said"); m["text"] != "one address" {
			t.Fatalf("%s: %v", p.name, m)
		}
	}
}
