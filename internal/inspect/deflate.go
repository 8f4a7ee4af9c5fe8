package inspect

// deflate.go follows permessage-deflate (RFC 7692) for rendering: what the
// upgrade response negotiated (Sec-WebSocket-Extensions and its
// parameters), and one inflater per connection direction that keeps the
// sliding window across messages unless "no context takeover" was agreed,
// so compressed messages are shown inflated.

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wsbench/wsbench/internal/trace"
)

// Deflate is what a handshake negotiated for permessage-deflate.
type Deflate struct {
	ServerNoContextTakeover bool `json:"server_no_context_takeover,omitempty"`
	ClientNoContextTakeover bool `json:"client_no_context_takeover,omitempty"`
	// Window bits of each side's compressor (8-15); 15 when not given.
	ServerMaxWindowBits int `json:"server_max_window_bits"`
	ClientMaxWindowBits int `json:"client_max_window_bits"`
}

// NoContextTakeover reports whether the sender of direction dir starts
// every message with an empty window.
func (p *Deflate) NoContextTakeover(dir trace.Dir) bool {
	if dir == trace.ClientToServer {
		return p.ClientNoContextTakeover
	}
	return p.ServerNoContextTakeover
}

// WindowBits is the window of the sender of direction dir.
func (p *Deflate) WindowBits(dir trace.Dir) int {
	if dir == trace.ClientToServer {
		return p.ClientMaxWindowBits
	}
	return p.ServerMaxWindowBits
}

// ParseDeflate reads the Sec-WebSocket-Extensions headers of an upgrade
// response. It returns nil when permessage-deflate was not accepted, and an
// error (with the parameters it could read) when the server's answer is not
// a valid RFC 7692 response: an unknown or repeated parameter, or window
// bits outside 8-15.
func ParseDeflate(response []byte) (*Deflate, error) {
	var values []string
	for line := range bytes.SplitSeq(response, []byte("\r\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Extensions")) {
			values = append(values, string(val))
		}
	}
	for _, v := range values {
		for ext := range strings.SplitSeq(v, ",") {
			params := strings.Split(ext, ";")
			if !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
				continue
			}
			// The first permessage-deflate element is the accepted one.
			return parseDeflateParams(params[1:])
		}
	}
	return nil, nil
}

func parseDeflateParams(params []string) (*Deflate, error) {
	d := &Deflate{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	seen := map[string]bool{}
	var errs []string
	for _, p := range params {
		name, val, hasVal := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if name == "" {
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Sprintf("parameter %s repeated", name))
			continue
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasVal {
				errs = append(errs, fmt.Sprintf("parameter %s takes no value (got %q)", name, val))
			}
			if name == "server_no_context_takeover" {
				d.ServerNoContextTakeover = true
			} else {
				d.ClientNoContextTakeover = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			n, err := strconv.Atoi(val)
			if !hasVal && name == "client_max_window_bits" {
				// Valid in an offer only; a response must give the value.
				errs = append(errs, "client_max_window_bits without a value in a response")
				continue
			}
			if err != nil || n < 8 || n > 15 {
				errs = append(errs, fmt.Sprintf("%s=%q: want 8 to 15", name, val))
				continue
			}
			if name == "server_max_window_bits" {
				d.ServerMaxWindowBits = n
			} else {
				d.ClientMaxWindowBits = n
			}
		default:
			errs = append(errs, fmt.Sprintf("unknown parameter %q", name))
		}
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("permessage-deflate response: %s", strings.Join(errs, "; "))
	}
	return d, nil
}

// String is the parameters as a Sec-WebSocket-Extensions value.
func (p *Deflate) String() string {
	var sb strings.Builder
	sb.WriteString("permessage-deflate")
	if p.ServerNoContextTakeover {
		sb.WriteString("; server_no_context_takeover")
	}
	if p.ClientNoContextTakeover {
		sb.WriteString("; client_no_context_takeover")
	}
	if p.ServerMaxWindowBits != 15 {
		sb.WriteString("; server_max_window_bits=" + strconv.Itoa(p.ServerMaxWindowBits))
	}
	if p.ClientMaxWindowBits != 15 {
		sb.WriteString("; client_max_window_bits=" + strconv.Itoa(p.ClientMaxWindowBits))
	}
	return sb.String()
}

// maxInflated bounds an inflated message (and the compressed bytes
// gathered for one): a deflate bomb is reported, not expanded.
const maxInflated = DefaultMaxLiveFrame

// deflateTail ends a message's deflate data: the 4 bytes RFC 7692 has the
// sender strip, then an empty final stored block so that the reader ends
// with io.EOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflater decompresses the messages of one connection direction. window
// is the sliding window carried from message to message (context
// takeover); a dictionary longer than the sender's window does no harm, as
// the sender never refers further back than its own window.
type inflater struct {
	zr     io.ReadCloser
	src    bytes.Reader
	in     []byte
	out    []byte
	window []byte
	// lost: frames of this direction were not seen (dropped from the
	// trace), so the window may be wrong.
	lost bool
}

// inflate decompresses one message's data. With takeover the window of the
// previous messages is the dictionary; the window is updated either way.
// The result is valid until the next call.
func (z *inflater) inflate(comp []byte, takeover bool, windowBits int) ([]byte, error) {
	z.in = append(append(z.in[:0], comp...), deflateTail...)
	z.src.Reset(z.in)
	var dict []byte
	if takeover {
		dict = z.window
	}
	if z.zr == nil {
		z.zr = flate.NewReaderDict(&z.src, dict)
	} else if err := z.zr.(flate.Resetter).Reset(&z.src, dict); err != nil {
		return nil, fmt.Errorf("reset the inflater: %w", err)
	}
	z.out = z.out[:0]
	for {
		if len(z.out) == cap(z.out) {
			z.out = append(z.out, 0)[:len(z.out)]
		}
		n, err := z.zr.Read(z.out[len(z.out):min(cap(z.out), maxInflated+1)])
		z.out = z.out[:len(z.out)+n]
		if len(z.out) > maxInflated {
			z.window = z.window[:0]
			return nil, fmt.Errorf("inflates to more than %d bytes: not expanded further", maxInflated)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			z.window = z.window[:0]
			return z.out, err
		}
	}
	if takeover {
		w := 1 << max(windowBits, 8)
		z.window = append(z.window, z.out...)
		if len(z.window) > w {
			z.window = append(z.window[:0], z.window[len(z.window)-w:]...)
		}
	}
	return z.out, nil
}
