package cmd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
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
