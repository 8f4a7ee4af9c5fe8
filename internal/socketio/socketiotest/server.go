// Package socketiotest starts the example Socket.IO v4 server
// (examples/socketio-server, Node with npm's socket.io) for tests, the way
// net/http/httptest starts Go servers: on a free loopback port, stopped
// when the test ends. It sits beside the socketio codec and is used by
// the scenario and cmd tests only.
package socketiotest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Options are the server's settings.
type Options struct {
	PingInterval time.Duration // 0: the server's default (25s)
	PingTimeout  time.Duration // 0: the server's default (20s)
}

// serverDir finds examples/socketio-server from the working directory of
// a test (any package directory of the module).
func serverDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "examples", "socketio-server"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start runs the server and returns its base URL (ws://127.0.0.1:PORT). It
// fails the test, saying what to run, when Node or the server's
// node_modules are missing.
func Start(tb testing.TB, o Options) string {
	tb.Helper()
	dir, err := serverDir()
	if err != nil {
		tb.Fatalf("socket.io test server: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("socket.io test server: node (Node.js ≥ 18) is not on PATH: %v; install it, then run `cd %s && npm ci`", err, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io")); err != nil {
		tb.Fatalf("socket.io test server: %s/node_modules/socket.io is missing: run `cd %s && npm ci` (.ci/run does it)", dir, dir)
	}
	args := []string{"server.js", "--port", "0"}
	if o.PingInterval > 0 {
		args = append(args, "--ping-interval", strconv.FormatInt(o.PingInterval.Milliseconds(), 10))
	}
	if o.PingTimeout > 0 {
		args = append(args, "--ping-timeout", strconv.FormatInt(o.PingTimeout.Milliseconds(), 10))
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("socket.io test server: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("socket.io test server: start node: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	type ready struct {
		port int
		err  error
	}
	ch := make(chan ready, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port, err := strconv.Atoi(strings.TrimSpace(p))
				ch <- ready{port, err}
				return
			}
		}
		ch <- ready{err: fmt.Errorf("server exited before listening")}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			tb.Fatalf("socket.io test server: %v", r.err)
		}
		return "ws://127.0.0.1:" + strconv.Itoa(r.port)
	case <-time.After(15 * time.Second):
		tb.Fatalf("socket.io test server did not print its port within 15s")
	}
	return ""
}
