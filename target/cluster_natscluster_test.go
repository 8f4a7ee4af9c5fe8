package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/wsbench/wsbench/target/cluster"
)

// startNATSCluster runs n embedded NATS servers with JetStream, routed into
// one NATS cluster (each knows every route from the start, as a configured
// production cluster does), and waits until JetStream has a meta leader
// every server follows. The route ports are picked free beforehand; one
// taken meanwhile by another process fails that attempt, and it starts
// over on new ports.
func startNATSCluster(t *testing.T, n int) []*natsserver.Server {
	t.Helper()
	var err error
	for range 3 {
		var servers []*natsserver.Server
		if servers, err = tryNATSCluster(t, n); err == nil {
			return servers
		}
		t.Logf("NATS cluster: %v; again on other ports", err)
	}
	t.Fatalf("NATS cluster: %v", err)
	return nil
}

func tryNATSCluster(t *testing.T, n int) ([]*natsserver.Server, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var servers []*natsserver.Server
	stop := func() {
		for _, ns := range servers {
			ns.Shutdown()
		}
	}
	for i := range n {
		ns, err := natsserver.NewServer(&natsserver.Options{
			ServerName: fmt.Sprint("s", i), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: natsserver.ClusterOpts{Name: "wsbench-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("server %d: %w", i, err)
		}
		go ns.Start()
		servers = append(servers, ns)
	}
	for i, ns := range servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			stop()
			return nil, fmt.Errorf("server %d (route port %d) not ready", i, ports[i])
		}
	}
	// An election takes a few seconds when the machine is busy.
	deadline := time.Now().Add(30 * time.Second)
	for !jetStreamFormed(servers) {
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("no JetStream meta leader every server follows after 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(stop)
	return servers, nil
}

// jetStreamFormed reports whether every server is routed to all others and
// follows the one JetStream meta leader, which has heard from all of them.
func jetStreamFormed(servers []*natsserver.Server) bool {
	leaders := 0
	for _, ns := range servers {
		if ns.NumRoutes() < len(servers)-1 || !ns.JetStreamIsCurrent() {
			return false
		}
		if ns.JetStreamIsLeader() {
			// The leader places streams only on peers it has heard from.
			if len(ns.JetStreamClusterPeers()) < len(servers) {
				return false
			}
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
		bob := raceFirstJoin(t, alice, nodes[1], room, fmt.Sprint("bob", i))
		bob.expectBeforeAndRightAfter()
		// Live traffic crosses the routes both ways, once.
		bob.send(map[string]any{"op": "say", "room": room, "text": "from bob"})
		if m := alice.expect("said"); m["text"] != "from bob" {
			t.Fatalf("alice: %v", m)
		}
		bob.expect("said") // his own
		alice.nothingMore(i)
		bob.nothingMore(i)
	}
}

// With --cluster-replicas 3 the history and the nicknames survive the loss
// of the NATS server that led them: the nodes reconnect to the others, a
// new leader is elected, and a late joiner gets every acked message.
func TestClusterReplicasSurviveNATSServerLoss(t *testing.T) {
	servers := startNATSCluster(t, 3)
	var urls []string
	for _, ns := range servers {
		urls = append(urls, ns.ClientURL())
	}
	nodes := make([]*Server, 2)
	for i := range nodes {
		nodes[i] = startTest(t, func(c *Config) {
			c.Cluster = strings.Join(urls, ",")
			c.ClusterName = "test"
			c.ClusterReplicas = 3
		})
	}
	alice := dialPeer(t, nodes[0], "alice")
	alice.join("keep")
	for i := range 3 {
		alice.sayAcked("keep", fmt.Sprint("a", i), i+1)
	}
	history := cluster.HistoryStream("test")
	streams := []string{history, "KV_wsbench_test_nicks", "KV_wsbench_test_nodes"}
	leader := -1
	for i, ns := range servers {
		if ns.JetStreamIsStreamLeader(natsserver.DEFAULT_GLOBAL_ACCOUNT, history) {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no server leads the history stream")
	}
	servers[leader].Shutdown()
	// An election takes a few seconds.
	waitWithin(t, 30*time.Second, fmt.Sprintf("a new leader of each of %v", streams), func() bool {
		for _, stream := range streams {
			led := false
			for i, ns := range servers {
				led = led || i != leader && ns.JetStreamIsStreamLeader(natsserver.DEFAULT_GLOBAL_ACCOUNT, stream)
			}
			if !led {
				return false
			}
		}
		return true
	})
	for _, s := range nodes {
		waitWithin(t, 30*time.Second, "the nodes to reconnect", func() bool {
			code, _ := httpGet(t, s, "/healthz")
			return code == 200
		})
	}
	// A late joiner on the other node (the room is new there: it reads the
	// stream) gets the messages acked before the loss.
	bob := dialPeer(t, nodes[1], "bob")
	bob.send(map[string]any{"op": "join", "room": "keep"})
	bob.expectHistory("keep", "a0", "a1", "a2")
	// The nicknames survived too: alice's is still hers.
	mallory := dialPeer(t, nodes[1], "")
	mallory.send(map[string]any{"op": "nick", "name": "alice"})
	if m := mallory.expect("error"); m["code"] != "nick_taken" {
		t.Fatalf("alice's nickname after the loss: %v", m)
	}
}

// More replicas than NATS servers is an error at start, naming the cause.
func TestClusterReplicasNeedANATSCluster(t *testing.T) {
	ns := startNATS(t)
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Cluster = ns.ClientURL()
	cfg.ClusterName = "test"
	cfg.ClusterReplicas = 3
	s, err := Start(cfg, nil)
	if err == nil {
		_ = s.Shutdown(context.Background())
		t.Fatal("3 replicas on one NATS server: no error")
	}
	if !strings.Contains(err.Error(), "3 replicas need a NATS cluster of at least 3 servers") {
		t.Fatalf("the error does not name the replicas: %v", err)
	}
}
