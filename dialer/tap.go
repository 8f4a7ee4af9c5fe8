package dialer

import (
	"bytes"
	"io"
	"time"
)

// Direction is the way a frame travelled.
type Direction uint8

// Directions of a frame.
const (
	ClientToServer Direction = iota
	ServerToClient
)

func (d Direction) String() string {
	if d == ClientToServer {
		return "client→server"
	}
	return "server→client"
}

// Tap observes a connection's wire traffic for traces. Its methods are called
// from the goroutine doing the I/O (a reader and a writer may call Frame
// concurrently), so they must be safe for concurrent use and quick.
type Tap interface {
	// Handshake reports the raw HTTP upgrade request and response (status
	// line and headers, without any frame bytes that followed). It is also
	// called when the upgrade fails, with what was received.
	Handshake(conn uint64, request, response []byte)
	// Frame reports one frame's raw bytes as on the wire (header, masking
	// key, masked payload). raw must not be retained after Frame returns.
	Frame(conn uint64, dir Direction, at time.Time, raw []byte)
}

// TapSampler is an optional interface of a Tap. When the Tap implements it,
// Sample is asked once per connection, before the upgrade; a connection it
// declines is not traced at all and pays nothing per frame. Use it to bound
// traces to sampled connections.
type TapSampler interface {
	Sample(conn uint64) bool
}

// recorder copies the bytes of the upgrade exchange for the Tap.
type recorder struct {
	rw       io.ReadWriter
	req, rsp []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.rw.Read(p)
	r.rsp = append(r.rsp, p[:n]...)
	return n, err
}

func (r *recorder) Write(p []byte) (int, error) {
	r.req = append(r.req, p...)
	return r.rw.Write(p)
}

// response is the recorded response up to and including the blank line
// ending its headers, or its first MaxResponseHead bytes without one.
func (r *recorder) response() []byte {
	if i := bytes.Index(r.rsp, []byte("\r\n\r\n")); i >= 0 {
		return r.rsp[:i+4]
	}
	return r.rsp[:min(len(r.rsp), MaxResponseHead)]
}
