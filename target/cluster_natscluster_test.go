package target

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// startNATSCluster runs n embedded NATS servers with JetStream, routed into
// one NATS cluster (each knows every route from the start, as a configured
// production cluster does), and waits until JetStream has a meta leader
// every server follows.
func startNATSCluster(t *testing.T, n int) []*natsserver.Server {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*natsserver.Server, n)
	for i := range servers {
		ns, err := natsserver.NewServer(&natsserver.Options{
			ServerName: fmt.Sprint("s", i), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: natsserver.ClusterOpts{Name: "wsbench-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		})
		if err != nil {
			t.Fatalf("nats server %d: %v", i, err)
		}
		go ns.Start()
		t.Cleanup(ns.Shutdown)
		servers[i] = ns
	}
	for i, ns := range servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats server %d not ready", i)
		}
	}
	// An election takes a few seconds when the machine is busy.
	deadline := time.Now().Add(30 * time.Second)
	for !jetStreamFormed(servers) {
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader every server follows after 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return servers
}

// jetStreamFormed reports whether every server is routed to all others and
// follows the one JetStream meta leader.
func jetStreamFormed(servers []*natsserver.Server) bool {
	leaders := 0
	for _, ns := range servers {
		if ns.NumRoutes() < len(servers)-1 || !ns.JetStreamIsCurrent() {
			return false
		}
		if ns.JetStreamIsLeader() {
			leaders++
		}
	}
	return leaders == 1
}

// The history guarantee holds when the nodes talk to different servers of
// a NATS cluster: node 0 is connected to one of three servers, node 1 to
// another, and the stream lives on any of the three, so publishes,
// republishes and reads cross routes.
func TestClusterHistoryAcrossNATSServers(t *testing.T) {
	servers := startNATSCluster(t, 3)
	nodes := make([]*Server, 2)
	for i := range nodes {
		nodes[i] = startTest(t, func(c *Config) {
			c.Cluster = servers[i].ClientURL() // node 0 on s0, node 1 on s1
			c.ClusterName = "test"
		})
	}
	alice := dialPeer(t, nodes[0], "alice")
	for i := range 10 {
		room := fmt.Sprint("spread", i)
		alice.join(room)
		alice.sayAcked(room, "before", 1)
		bob := dialPeer(t, nodes[1], fmt.Sprint("bob", i))
		bob.send(map[string]any{"op": "join", "room": room})
		alice.sayAcked(room, "right after", 2) // may race bob's join
		bob.expect("joined")
		var got []string
		for len(got) < 2 {
			m := bob.expect("said")
			got = append(got, fmt.Sprint(m["text"]))
		}
		if fmt.Sprint(got) != "[before right after]" {
			t.Fatalf("bob got %v", got)
		}
		// Live traffic crosses the routes both ways, once.
		bob.send(map[string]any{"op": "say", "room": room, "text": "from bob"})
		if m := alice.expect("said"); m["text"] != "from bob" {
			t.Fatalf("alice: %v", m)
		}
		bob.expect("said") // his own
		for _, p := range []*peer{alice, bob} {
			p.send(map[string]any{"op": "echo", "n": i})
			if m := p.expect("echo"); m["n"] != float64(i) {
				t.Fatalf("%s: a message twice? %v", p.name, m)
			}
		}
	}
}
