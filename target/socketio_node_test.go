package target

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// nodeClient finds node and the socket.io-client package that
// examples/socketio-server installs, or skips the test.
func nodeClient(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH: the socket.io-client tests need Node >= 18")
	}
	modules, err = filepath.Abs(filepath.Join("..", "examples", "socketio-server", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "socket.io-client", "package.json")); err != nil {
		t.Skip("socket.io-client not installed: run npm ci --prefix examples/socketio-server")
	}
	return node, modules
}

// TestSocketIOClientNode runs the official socket.io-client (npm) over each
// transport in a room with a raw /chat user: both see each other's
// messages, acks come back, and the client survives the server's pings.
func TestSocketIOClientNode(t *testing.T) {
	node, modules := nodeClient(t)
	for _, tc := range []struct{ name, transports, final string }{
		{"polling", "polling", "polling"},
		{"websocket", "websocket", "websocket"},
		{"upgrade", "polling,websocket", "websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startTest(t, func(c *Config) {
				c.SocketIO.PingInterval = 200 * time.Millisecond
				c.SocketIO.PingTimeout = 2 * time.Second
			})
			room := "#node-" + tc.name
			raw := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "raw", room)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "testdata/sio-client.js", "http://"+s.Addr().String(), tc.transports, "node1", room)
			cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 64)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var seen []string
			expect := func(prefix string) string {
				t.Helper()
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("client ended before %q; it printed %q, stderr %s", prefix, seen, stderr.String())
						}
						seen = append(seen, l)
						if strings.HasPrefix(l, prefix) {
							return l
						}
					case <-ctx.Done():
						t.Fatalf("no %q from the client; it printed %q", prefix, seen)
					}
				}
			}
			expect("connected")
			if l := expect("join-ack"); l != `join-ack [{"ok":true}]` {
				t.Fatalf("join ack: %q", l)
			}
			if l := expect("ready"); l != "ready "+tc.final {
				t.Fatalf("%q, want transport %s", l, tc.final)
			}
			readChat(t, raw, "presence", "node1")
			if err := raw.WriteJSON(map[string]any{"op": "say", "room": room, "text": "hi from raw"}); err != nil {
				t.Fatal(err)
			}
			expect("said-from-raw hi from raw")
			if m := readChat(t, raw, "said", "node1"); m["text"] != "hi from sio" || m["seq"] != float64(7) {
				t.Fatalf("raw got %v", m)
			}
			if m := readChat(t, raw, "dm", "node1"); m["text"] != "psst" {
				t.Fatalf("raw got dm %v", m)
			}
			for _, want := range []string{`say-ack [{"ok":true}]`, `dm-ack [{"ok":true}]`, `echo-ack [1,"two"]`} {
				if l := expect(want[:strings.IndexByte(want, ' ')]); l != want {
					t.Fatalf("got %q, want %q", l, want)
				}
			}
			if l := expect("leave-ack"); !strings.Contains(l, `"ok":false,"code":"not_in_room"`) {
				t.Fatalf("leave ack: %q", l)
			}
			if l := expect("done"); l != "done "+tc.final {
				t.Fatalf("%q: the client did not stay on %s", l, tc.final)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("client: %v (stderr %s)", err, stderr.String())
			}
			st := s.sio.Stats()
			if st.PingTimeouts != 0 || st.Pongs == 0 {
				t.Fatalf("stats %+v: the client missed pings", st)
			}
			if tc.name == "upgrade" && st.Upgrades != 1 {
				t.Fatalf("stats %+v: want one upgrade", st)
			}
		})
	}
}
