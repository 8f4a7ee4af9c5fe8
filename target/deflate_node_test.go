package target

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nodeWS finds node and the `ws` package: target/testdata/nodews (npm ci
// there installs it) or, failing that, the copy that socket.io brings into
// examples/socketio-server. It skips the test, saying what to install, when
// either is missing.
func nodeWS(t *testing.T) (node, module string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: install Node.js ≥ 18 and run `npm ci --prefix target/testdata/nodews` to cross-test compression with Node's ws")
	}
	for _, dir := range []string{
		filepath.Join("testdata", "nodews", "node_modules", "ws"),
		filepath.Join("..", "examples", "socketio-server", "node_modules", "ws"),
	} {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			return node, abs
		}
	}
	t.Skip("Node's ws package is missing: run `npm ci --prefix target/testdata/nodews` to cross-test compression with it")
	return "", ""
}

// TestDeflateNodeWS cross-tests permessage-deflate with Node's ws client:
// negotiation as ws offers it, messages both ways compressed (ws inflates
// with zlib, which refuses a match further back than the window it asked
// for), the server's window limits and client context takeover.
func TestDeflateNodeWS(t *testing.T) {
	node, module := nodeWS(t)
	plain := startTest(t, nil)
	takeover := startTest(t, func(c *Config) { c.CompressionTakeover = 1 })
	for _, tc := range []struct {
		name    string
		path    string
		pmd     any // ws's perMessageDeflate option
		sizes   []int
		wantExt string
		wantIn  int // compressed messages the server must have received
		s       *Server
	}{
		{"defaults", "/echo", true, []int{10, 2000, 70000}, pmdBoth, 2, plain},
		{"no compression", "/echo", false, []int{10, 2000}, "", 0, plain},
		{"chat, server window 9", "/chat", map[string]any{"serverMaxWindowBits": 9, "threshold": 0}, []int{10, 2000, 3000},
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_no_context_takeover", 5, plain},
		{"server window 8", "/echo", map[string]any{"serverMaxWindowBits": 8, "threshold": 0}, []int{10, 300, 2000, 70000},
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_no_context_takeover", 4, plain},
		{"client context takeover", "/echo", map[string]any{"clientNoContextTakeover": false, "clientMaxWindowBits": 9, "threshold": 0}, []int{10, 2000, 2000, 70000},
			"permessage-deflate; server_no_context_takeover; client_max_window_bits=9", 4, takeover},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			before, _ := strconv.Atoi(metricValue(s, "wsbench_compressed_messages_in_total"))
			opts, _ := json.Marshal(map[string]any{"perMessageDeflate": tc.pmd, "sizes": tc.sizes})
			cmd := exec.Command(node, filepath.Join("testdata", "nodews", "client.js"), s.URL(tc.path), string(opts))
			cmd.Env = append(os.Environ(), "WS_MODULE="+module)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node client: %v\n%s%s", err, out, stderr.String())
			}
			var first struct{ Extensions string }
			line, _, _ := strings.Cut(string(out), "\n")
			if err := json.Unmarshal([]byte(line), &first); err != nil {
				t.Fatalf("node client output %q: %v", out, err)
			}
			if first.Extensions != tc.wantExt {
				t.Errorf("negotiated %q, want %q", first.Extensions, tc.wantExt)
			}
			if !strings.Contains(string(out), `{"done":true}`) {
				t.Errorf("node client did not finish:\n%s%s", out, stderr.String())
			}
			after, _ := strconv.Atoi(metricValue(s, "wsbench_compressed_messages_in_total"))
			if after-before != tc.wantIn {
				t.Errorf("server inflated %d messages from ws, want %d", after-before, tc.wantIn)
			}
		})
	}
}
