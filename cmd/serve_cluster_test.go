package cmd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/target"
)

func TestServeClusterFlags(t *testing.T) {
	// A port nothing listens on: bind one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "nats://" + ln.Addr().String()
	ln.Close()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--cluster", dead, "--cluster-node-ttl", "500ms"}, ExitUsage, "--cluster-node-ttl 500ms: want at least 1s"},
		{[]string{"--cluster", dead, "--cluster-name", "a.b"}, ExitUsage, `--cluster-name: cluster name "a.b": want 1..64 characters`},
		{[]string{"--cluster", dead}, ExitFailure, "--cluster: cluster: connect to " + dead},
		{[]string{"--cluster", dead, "--history-db", "x.db"}, ExitUsage, "--history-db and --cluster exclude each other"},
		{[]string{"--cluster", dead, "--cluster-history-bytes", "0"}, ExitUsage, "--cluster-history-bytes must be positive"},
		{[]string{"--cluster", dead, "--cluster-replicas", "7"}, ExitUsage, "--cluster-replicas 7: want 1..5 NATS servers"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newServeCmd()
			cmd.SetArgs(append([]string{"--addr", "127.0.0.1:0"}, tc.args...))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.ExecuteContext(context.Background())
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want exit %d with %q", err, tc.code, tc.want)
			}
		})
	}
}

// examples/cluster/smoke.yaml against three in-process nodes on one port
// (--reuse-port) and an embedded NATS server, one node shut down in the
// middle: what examples/cluster/smoke.sh does with Debian's nats-server.
func TestClusterSmokeExample(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	cfg := target.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Loops = 1
	cfg.ReusePort = true
	cfg.Cluster = ns.ClientURL()
	cfg.ClusterName = "smoke"
	cfg.ClusterNodeTTL = time.Second
	var nodes []*target.Server
	for range 3 {
		s, err := target.Start(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		nodes = append(nodes, s)
		cfg.Addr = s.Addr().String()
	}
	go func() {
		time.Sleep(3 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = nodes[0].Shutdown(ctx)
	}()
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	err = runRun(context.Background(), &runOptions{
		File: "../examples/cluster/smoke.yaml", Target: "ws://" + cfg.Addr, Out: out,
		Quiet: true, Format: "table", Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counters["reconnects"] == 0 {
		t.Errorf("no member reconnected after its node went away: %v", res.Counters)
	}
}
