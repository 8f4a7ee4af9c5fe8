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
	"strings"
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

// Header is one header field of an HTTP head, as written.
type Header struct {
	Name, Value string
}

// Head is an HTTP request or response head taken apart.
type Head struct {
	// Request line: method, target and protocol; or status line: protocol,
	// status and reason.
	Method, Target string
	Proto          string
	Status         int
	Reason         string
	Headers        []Header
}

// Get is the value of the first header named name (any case), "" when
// absent.
func (h *Head) Get(name string) string {
	for _, f := range h.Headers {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// ParseHead takes an HTTP request or response head apart, leniently: lines
// that are not "Name: value" are skipped, and a head without a blank line
// is read to its end. Continuation lines (obsolete folding) are joined.
func ParseHead(b []byte) Head {
	var h Head
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if i == 0 {
			f := bytes.SplitN(l, []byte(" "), 3)
			if len(f) > 0 && bytes.HasPrefix(f[0], []byte("HTTP/")) {
				h.Proto = string(f[0])
				if len(f) > 1 {
					h.Status, _ = strconv.Atoi(string(f[1]))
				}
				if len(f) > 2 {
					h.Reason = string(f[2])
				}
			} else if len(f) == 3 {
				h.Method, h.Target, h.Proto = string(f[0]), string(f[1]), string(f[2])
			}
			continue
		}
		if len(l) == 0 {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(h.Headers) > 0 {
			last := &h.Headers[len(h.Headers)-1]
			last.Value += " " + string(bytes.TrimSpace(l))
			continue
		}
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 {
			continue
		}
		h.Headers = append(h.Headers, Header{Name: string(name), Value: string(bytes.TrimSpace(value))})
	}
	return h
}
