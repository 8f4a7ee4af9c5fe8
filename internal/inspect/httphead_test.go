package inspect

import (
	"bufio"
	"bytes"
	"net/url"
	"testing"
)

// FuzzRelayHead: no input panics the relay's HTTP head handling; the
// rewrite changes only the request target and the Host line.
func FuzzRelayHead(f *testing.F) {
	f.Add([]byte("GET /chat?x=1 HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n\r\n\x81\x85"), "ws://up.test:81/ws")
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), "ws://up.test/")
	f.Add([]byte("GET / HTTP/1.1\nhost:x\n\n"), "wss://[::1]:443/a?b=c")
	f.Fuzz(func(t *testing.T, in []byte, upstream string) {
		u, err := url.Parse(upstream)
		if err != nil {
			return
		}
		head, err := ReadHTTPHead(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		if !bytes.HasPrefix(in, head) || len(head) > MaxHTTPHead {
			t.Fatalf("head %q is not a prefix of the input", head)
		}
		_ = StatusCode(head)
		out := RewriteRequest(head, u)
		a, b := bytes.SplitAfter(head, []byte("\n")), bytes.SplitAfter(out, []byte("\n"))
		if len(a) != len(b) {
			t.Fatalf("%d lines became %d", len(a), len(b))
		}
		for i := 1; i < len(a); i++ {
			if !bytes.Equal(a[i], b[i]) && !(len(a[i]) > 5 && bytes.EqualFold(a[i][:5], []byte("host:"))) {
				t.Fatalf("line %d changed: %q -> %q", i, a[i], b[i])
			}
		}
	})
}
