package inspect

// httphead.go reads and rewrites the HTTP upgrade heads the relay passes
// on; the bytes around them are never touched.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
)

// MaxHTTPHead bounds an upgrade request or response head.
const MaxHTTPHead = 64 << 10

// ReadHTTPHead reads an HTTP request or response head up to and including
// the blank line.
func ReadHTTPHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if len(head) > MaxHTTPHead {
			return nil, fmt.Errorf("HTTP head longer than %d bytes", MaxHTTPHead)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("after %d byte(s) of HTTP head: %w", len(head), err)
		}
		if bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")) {
			if len(head) == len(line) {
				return nil, errors.New("empty line instead of a request line")
			}
			return head, nil
		}
	}
}

// RewriteRequest sets the Host header to the upstream's and, when the
// upstream URL has a path, the request target to its path and query. The
// rest of the head is kept byte for byte.
func RewriteRequest(head []byte, up *url.URL) []byte {
	lines := bytes.SplitAfter(head, []byte("\n"))
	out := make([]byte, 0, len(head)+len(up.Host))
	for i, l := range lines {
		switch {
		case i == 0:
			if p := up.RequestURI(); up.Path != "" && up.Path != "/" || up.RawQuery != "" {
				f := bytes.SplitN(l, []byte(" "), 3)
				if len(f) == 3 {
					l = bytes.Join([][]byte{f[0], []byte(p), f[2]}, []byte(" "))
				}
			}
		case len(l) > 5 && bytes.EqualFold(l[:5], []byte("host:")):
			l = []byte("Host: " + up.Host + "\r\n")
		}
		out = append(out, l...)
	}
	return out
}

// StatusCode is the status of an HTTP response head, 0 if unreadable.
func StatusCode(rsp []byte) int {
	f := bytes.Fields(statusLine(rsp))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(string(f[1]))
	return n
}

// statusLine is the first line of a head, without its line end.
func statusLine(b []byte) []byte {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return bytes.TrimSuffix(l, []byte("\r"))
}
