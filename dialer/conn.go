package dialer

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// retainLimit is the largest message or write buffer a connection keeps
// between messages; larger ones, grown for one big message, are released.
const retainLimit = 4 << 10

// connIDs numbers connections process-wide, as the contract asks of
// Conn.ID (trace files of several dialers must not collide). It is the one
// piece of package-level state here: an atomic counter, nothing else.
var connIDs atomic.Uint64

// Message is one data message (fragments reassembled, inflated if
// compressed) or a pong.
type Message struct {
	Op      ws.OpCode // ws.OpText, ws.OpBinary or ws.OpPong
	Payload []byte    // valid until the next ReadMessage call
}

// Conn is one client WebSocket connection. One goroutine may call
// ReadMessage while others write; writes are serialised by a mutex.
type Conn struct {
	nc    net.Conn
	id    uint64
	tap   Tap
	proto string
	fl    *flateConn // nil unless permessage-deflate was negotiated

	// Read side, owned by the goroutine calling ReadMessage.
	rbuf       []byte
	rpos, rend int    // unread bytes are rbuf[rpos:rend]
	msg        []byte // payload of a fragmented or large message so far
	maxMsg     int
	msgOp      ws.OpCode // opcode of the fragmented message in progress, 0 if none
	msgZ       bool      // that message is compressed
	big        bool      // a frame larger than rbuf is being read into msg
	bigHL      uint8     // that frame's header length
	rmode      uint8     // how fill gets bytes (readeach.go)
	bigH       ws.Header
	bigStart   int                         // offset of that frame's payload in msg
	bigRaw     [wsproto.MaxHeaderSize]byte // its header, for the Tap
	rerr       error                       // sticky read error
	rr         *rawReader                  // ReadEach's and WaitEach's state on a plain TCP connection, nil otherwise (readeach.go)

	// Deadlines as the caller set them (UnixNano, 0: none): a control
	// frame's own write deadline never outlives the caller's write
	// deadline, and a pong written inside ReadMessage not its read deadline.
	rdl, wdl atomic.Int64
	// cwt bounds how long a control frame may wait to be written.
	cwt time.Duration

	// Write side.
	wmu       sync.Mutex
	wbuf      []byte
	closeSent bool
	closed    atomic.Bool
	// Control frames whose write a deadline cut, written before anything
	// else, and the state of a pong being written inside ReadMessage
	// (allocated the first time either is needed); hasPend says frames are
	// pending (read without wmu); inReadWrite that such a pong write is in
	// progress; werr is the sticky *StallError.
	ctl         atomic.Pointer[pendingControl]
	hasPend     atomic.Bool
	inReadWrite atomic.Bool
	werr        error
}

// pendingControl is the unwritten rest of control frames, when the write
// of the first of them began (b, since, op: under wmu), and the write
// deadline of a pong being written inside ReadMessage (dl: under mu, which
// SetReadDeadline takes to bring that deadline forward).
type pendingControl struct {
	b     []byte
	since time.Time
	op    ws.OpCode // of the first of them
	mu    sync.Mutex
	dl    int64
}

// control returns the pendingControl, allocating it the first time. The
// caller holds wmu.
func (c *Conn) control() *pendingControl {
	p := c.ctl.Load()
	if p == nil {
		p = &pendingControl{}
		c.ctl.Store(p)
	}
	return p
}

// newConn wraps an upgraded connection. buffered holds bytes the server sent
// right after its 101 response.
func newConn(nc net.Conn, id uint64, readBuf, maxMsg int, fl *flateConn, tap Tap, buffered []byte) *Conn {
	if len(buffered) > readBuf {
		readBuf = len(buffered)
	}
	c := &Conn{
		nc:     nc,
		id:     id,
		tap:    tap,
		fl:     fl,
		rbuf:   make([]byte, readBuf),
		maxMsg: maxMsg,
		cwt:    DefaultControlWriteTimeout,
	}
	c.rend = copy(c.rbuf, buffered)
	c.rr = newRawReader(c)
	return c
}

// ID is the connection's process-unique number, as used in traces.
func (c *Conn) ID() uint64 { return c.id }

// Subprotocol is the subprotocol the server selected ("" if none).
func (c *Conn) Subprotocol() string { return c.proto }

// Compressed reports whether permessage-deflate is in use.
func (c *Conn) Compressed() bool { return c.fl != nil }

// LocalAddr is the connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadDeadline bounds the ReadMessage calls in progress and to come. A
// read that times out leaves the connection usable: no partial frame is
// lost.
func (c *Conn) SetReadDeadline(t time.Time) error {
	ns := unixNano(t)
	c.rdl.Store(ns)
	if c.inReadWrite.Load() && ns != 0 {
		// A pong written inside ReadMessage is bounded by the read
		// deadline: bring its write deadline forward too, so that a reader
		// asked to stop (a deadline in the past) does.
		if p := c.ctl.Load(); p != nil {
			p.mu.Lock()
			if c.inReadWrite.Load() && ns < p.dl {
				p.dl = ns
				_ = c.nc.SetWriteDeadline(t)
			}
			p.mu.Unlock()
		}
	}
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline bounds the writes in progress and to come.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	ns := unixNano(t)
	c.wdl.Store(ns)
	if c.inReadWrite.Load() {
		if p := c.ctl.Load(); p != nil {
			p.mu.Lock()
			defer p.mu.Unlock()
			if c.inReadWrite.Load() {
				if ns == 0 || ns >= p.dl {
					return nil // the pong keeps its earlier deadline; t applies after it
				}
				p.dl = ns
			}
		}
	}
	return c.nc.SetWriteDeadline(t)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixNano(), 1)
}

// Close closes the socket without a close handshake (send SendClose first
// for a clean close). It is idempotent and unblocks pending reads and writes.
func (c *Conn) Close() error { return c.close(false) }

// close is Close; inRaw says the read side calls it from inside
// raw.Read's callback (ReadEach, WaitEach), where closing the socket would
// wait for that very call to return: the socket is then closed when it
// has (closeAfter), and a Poller's loop reading for a waiter, which holds
// the registration's lock, ends the wait itself.
func (c *Conn) close(inRaw bool) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if r := c.rr; r != nil {
		if pw := r.pw.Load(); pw != nil {
			pw.detach(inRaw && r.inLoop) // a wait parked in a Poller ends now
		}
		if inRaw {
			r.closeAfter = true
			return nil
		}
	}
	if err := c.nc.Close(); err != nil {
		return fmt.Errorf("dialer: close conn %d: %w", c.id, err)
	}
	return nil
}

// ReadMessage returns the next data message (fragments reassembled) or pong.
// The payload is valid until the next ReadMessage call. Pings are answered
// with pongs inside ReadMessage. A close frame from the peer is answered (if
// we did not start the close) and returned as *CloseError; a protocol
// violation fails the connection with a close frame and returns
// *ProtocolError. After either, or after an I/O error other than a timeout,
// every later call returns the same error. Without compression and Tap a
// message that fits the read buffer is returned without copying and without
// allocation.
func (c *Conn) ReadMessage() (Message, error) {
	if c.rerr != nil {
		return Message{}, c.rerr
	}
	if c.msgOp == 0 && !c.big && cap(c.msg) > retainLimit {
		c.msg = nil
	}
	if c.fl != nil && cap(c.fl.in) > retainLimit {
		c.fl.in = nil
	}
	if c.hasPend.Load() {
		if err := c.flushPending(true); err != nil {
			return Message{}, c.fail(err)
		}
	}
	for {
		var (
			h       ws.Header
			payload []byte
			inMsg   bool // payload already sits at the end of c.msg
		)
		if c.big {
			if err := c.readBig(); err != nil {
				return Message{}, c.fail(err)
			}
			h, payload, inMsg = c.bigH, c.msg[c.bigStart:], true
		} else {
			if err := c.need(2); err != nil {
				return Message{}, c.fail(err)
			}
			hl := wsproto.HeaderSize(c.rbuf[c.rpos+1])
			if err := c.need(hl); err != nil {
				return Message{}, c.fail(err)
			}
			h, _, _ = wsproto.ParseHeader(c.rbuf[c.rpos : c.rpos+hl]) // complete: need(hl)
			if wsproto.LengthMSBSet(h) {
				return Message{}, c.violation(wsproto.FaultLengthMSB.CloseCode(), "64-bit payload length with the most significant bit set")
			}
			if code, why := c.check(h); code != 0 {
				return Message{}, c.violation(code, why)
			}
			if int64(hl)+h.Length <= int64(len(c.rbuf)) {
				n := hl + int(h.Length)
				if err := c.need(n); err != nil {
					return Message{}, c.fail(err)
				}
				raw := c.rbuf[c.rpos : c.rpos+n]
				c.rpos += n
				if c.tap != nil {
					c.tap.Frame(c.id, ServerToClient, time.Now(), raw)
				}
				payload = raw[hl:]
				if h.Masked {
					ws.Cipher(payload, h.Mask, 0)
				}
			} else {
				// Only data frames get here: control frames fit any read buffer.
				c.startBig(h, hl)
				if err := c.readBig(); err != nil {
					return Message{}, c.fail(err)
				}
				payload, inMsg = c.msg[c.bigStart:], true
			}
		}

		switch h.OpCode {
		case ws.OpPing:
			if err := c.pong(payload); err != nil {
				return Message{}, c.fail(err)
			}
		case ws.OpPong:
			return Message{Op: ws.OpPong, Payload: payload}, nil
		case ws.OpClose:
			return Message{}, c.peerClose(payload)
		case ws.OpText, ws.OpBinary:
			if h.Fin {
				return c.finish(h.OpCode, h.Rsv&4 != 0, payload)
			}
			c.msgOp, c.msgZ = h.OpCode, h.Rsv&4 != 0
			if !inMsg {
				c.msg = append(c.msg[:0], payload...)
			}
		case ws.OpContinuation:
			if !inMsg {
				c.msg = append(c.msg, payload...)
			}
			if h.Fin {
				op := c.msgOp
				c.msgOp = 0
				return c.finish(op, c.msgZ, c.msg)
			}
		}
	}
}

// check validates a frame header against what RFC 6455 allows a server to
// send. It returns a close code and reason for a violation, 0 otherwise.
func (c *Conn) check(h ws.Header) (uint16, string) {
	op := h.OpCode
	if op.IsReserved() {
		return 1002, fmt.Sprintf("reserved opcode %#x", byte(op))
	}
	rsv := h.Rsv
	if rsv&4 != 0 && c.fl != nil && (op == ws.OpText || op == ws.OpBinary) {
		rsv &^= 4 // RSV1 marks a compressed message's first frame
	}
	if rsv != 0 {
		return 1002, fmt.Sprintf("RSV bits %03b set without a negotiated extension", h.Rsv)
	}
	if op.IsControl() {
		switch f := wsproto.ControlFault(h); f {
		case wsproto.FaultFragmentedControl:
			return f.CloseCode(), "fragmented control frame"
		case wsproto.FaultLongControl:
			return f.CloseCode(), fmt.Sprintf("control frame payload of %d bytes (max 125)", h.Length)
		}
		return 0, ""
	}
	switch {
	case op == ws.OpContinuation && c.msgOp == 0:
		return 1002, "continuation frame without a message in progress"
	case op != ws.OpContinuation && c.msgOp != 0:
		return 1002, "new data frame inside a fragmented message"
	}
	total := h.Length
	if op == ws.OpContinuation {
		total += int64(len(c.msg))
	}
	if total > int64(c.maxMsg) {
		return 1009, fmt.Sprintf("message of more than %d bytes", c.maxMsg)
	}
	return 0, ""
}

// finish completes a data message: inflate and UTF-8 check.
func (c *Conn) finish(op ws.OpCode, compressed bool, p []byte) (Message, error) {
	if compressed {
		out, err := c.fl.inflate(p, c.maxMsg)
		switch {
		case errors.Is(err, errTooBig):
			return Message{}, c.violation(1009, fmt.Sprintf("inflated message of more than %d bytes", c.maxMsg))
		case err != nil:
			return Message{}, c.violation(1007, "bad permessage-deflate data: "+err.Error())
		}
		p = out
	}
	if op == ws.OpText && !utf8.Valid(p) {
		return Message{}, c.violation(1007, "text message is not valid UTF-8")
	}
	return Message{Op: op, Payload: p}, nil
}

// peerClose answers the peer's close frame and returns it as *CloseError.
func (c *Conn) peerClose(p []byte) error {
	code, reason, f := wsproto.ParseCloseBody(p)
	switch f {
	case wsproto.FaultCloseLen1:
		return c.violation(f.CloseCode(), "close frame with a 1-byte payload")
	case wsproto.FaultCloseCode:
		return c.violation(f.CloseCode(), fmt.Sprintf("invalid close code %d", code))
	case wsproto.FaultCloseUTF8:
		return c.violation(f.CloseCode(), "close reason is not valid UTF-8")
	}
	ce := &CloseError{Code: code, Reason: string(reason)}
	// Echo the code (RFC 6455 section 5.5.1); a failed write changes nothing
	// for the caller, who gets the peer's close either way.
	_ = c.sendCloseRead(ce.Code, "")
	c.rerr = ce
	return ce
}

// violation fails the connection: close frame with code, sticky
// *ProtocolError.
func (c *Conn) violation(code uint16, reason string) error {
	_ = c.sendCloseRead(code, reason)
	c.rerr = &ProtocolError{Code: code, Reason: reason}
	return c.rerr
}

// fail wraps an I/O error; all but timeouts are sticky.
func (c *Conn) fail(err error) error {
	switch err.(type) {
	case *ProtocolError, *StallError:
		c.rerr = err
		return err
	}
	if err == errWouldBlock {
		return err
	}
	err = &readError{addr: c.nc.RemoteAddr(), id: c.id, err: err}
	if !isTimeout(err) {
		c.rerr = err
	}
	return err
}

// readError is a failed read on connection id from addr, formatted only
// when printed: read timeouts are routine (a virtual user reads with a
// deadline at the end of the step it waits in), and
// formatting the address eagerly costs a dozen allocations each time.
type readError struct {
	addr net.Addr
	id   uint64
	err  error
}

func (e *readError) Error() string {
	return fmt.Sprintf("dialer: read from %s (conn %d): %v", e.addr, e.id, e.err)
}

func (e *readError) Unwrap() error { return e.err }

// need makes sure rbuf[rpos:] holds at least n bytes (n <= len(rbuf)).
// Nothing is consumed, so a timed-out read can be retried.
func (c *Conn) need(n int) error {
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
	}
	for c.rend-c.rpos < n {
		if c.rpos+n > len(c.rbuf) {
			c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
			c.rpos = 0
		}
		m, err := c.fill(c.rbuf[c.rend:])
		c.rend += m
		if err != nil && c.rend-c.rpos < n {
			return err
		}
	}
	return nil
}

// startBig consumes the header of a data frame larger than rbuf and sets up
// reading its payload into msg.
func (c *Conn) startBig(h ws.Header, hl int) {
	copy(c.bigRaw[:], c.rbuf[c.rpos:c.rpos+hl])
	c.rpos += hl
	if h.OpCode != ws.OpContinuation {
		c.msg = c.msg[:0]
	}
	c.big, c.bigH, c.bigHL, c.bigStart = true, h, uint8(hl), len(c.msg)
}

// readBig reads the rest of a large frame's payload into msg, growing it as
// bytes arrive (never by the length the peer announced). It can be resumed
// after a timeout.
func (c *Conn) readBig() error {
	end := c.bigStart + int(c.bigH.Length)
	if n := min(c.rend-c.rpos, end-len(c.msg)); n > 0 {
		c.msg = append(c.msg, c.rbuf[c.rpos:c.rpos+n]...)
		c.rpos += n
	}
	for len(c.msg) < end {
		if len(c.msg) == cap(c.msg) {
			c.msg = append(c.msg, 0)[:len(c.msg)]
		}
		m, err := c.fill(c.msg[len(c.msg):min(cap(c.msg), end)])
		c.msg = c.msg[:len(c.msg)+m]
		if err != nil && len(c.msg) < end {
			return err
		}
	}
	c.big = false
	payload := c.msg[c.bigStart:end]
	if c.tap != nil {
		raw := make([]byte, 0, int(c.bigHL)+len(payload))
		raw = append(append(raw, c.bigRaw[:c.bigHL]...), payload...)
		c.tap.Frame(c.id, ServerToClient, time.Now(), raw)
	}
	if c.bigH.Masked {
		ws.Cipher(payload, c.bigH.Mask, 0)
	}
	return nil
}
