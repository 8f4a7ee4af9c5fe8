package dialer

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// WriteText sends p as one masked text frame in one write call. p is not
// modified. Without compression and Tap it allocates nothing in steady state.
func (c *Conn) WriteText(p []byte) error { return c.writeData(ws.OpText, p) }

// WriteBinary sends p as one masked binary frame in one write call.
func (c *Conn) WriteBinary(p []byte) error { return c.writeData(ws.OpBinary, p) }

// Ping sends a ping frame (payload at most 125 bytes). The pong comes back
// from ReadMessage as a Message with Op ws.OpPong. A ping not written within
// Options.ControlWriteTimeout fails the connection with a *StallError.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > wsproto.MaxControlPayload {
		return fmt.Errorf("dialer: ping payload of %d bytes (max 125)", len(payload))
	}
	return c.writeControl(ws.OpPing, payload)
}

// SendClose writes a close frame with code and reason (cut to fit 123 bytes)
// once; later calls, and the automatic answer to the peer's close, do
// nothing. Code 0 or 1005 sends a close frame without a body. It does not
// close the socket: read until ReadMessage returns *CloseError (the server's
// answer), then Close. Like every control frame, the close frame must be
// written within Options.ControlWriteTimeout, or the connection fails with
// a *StallError.
func (c *Conn) SendClose(code uint16, reason string) error { return c.sendClose(code, reason, false) }

// sendCloseRead is SendClose from the read side (a protocol violation, the
// echo of the peer's close): on a Poller's loop it is bounded like a pong
// written there.
func (c *Conn) sendCloseRead(code uint16, reason string) error {
	return c.sendClose(code, reason, c.inLoop())
}

func (c *Conn) sendClose(code uint16, reason string, inRead bool) error {
	var body [wsproto.MaxControlPayload]byte
	n := len(wsproto.AppendCloseBody(body[:0], code, reason))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	c.closeSent = true
	if c.werr != nil {
		return c.werr
	}
	return c.controlFrame(ws.OpClose, body[:n], inRead)
}

func (c *Conn) writeData(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	if err := c.flushPendingLocked(false); err != nil {
		return err
	}
	b, err := c.dataFrame(op, p)
	if err != nil {
		return err
	}
	_, err = c.nc.Write(b)
	c.releaseWbuf()
	if err != nil {
		return fmt.Errorf("dialer: write to %s (conn %d): %w", c.nc.RemoteAddr(), c.id, err)
	}
	return nil
}

// writable is the error a data frame gets before it is built: our close
// frame is out, or a control frame stalled. The caller holds wmu.
func (c *Conn) writable() error {
	if c.closeSent {
		return ErrCloseSent
	}
	return c.werr
}

// dataFrame builds the frame of a data message in wbuf, compressed when
// permessage-deflate is on. The caller holds wmu and releases wbuf once
// the frame is written.
func (c *Conn) dataFrame(op ws.OpCode, p []byte) ([]byte, error) {
	if c.fl == nil {
		return c.frame(op, 0, p), nil
	}
	z, err := c.fl.deflate(p)
	if err != nil {
		return nil, err
	}
	b := c.frame(op, wsproto.Rsv1, z) // a copy: the deflater's buffer may go
	if cap(c.fl.out.b) > retainLimit {
		c.fl.out.b = nil
	}
	return b, nil
}

// WriteTextNow and WriteBinaryNow are WriteText and WriteBinary for a
// WaitEach callback, which must not wait: the frame goes to the socket in
// one write system call that never blocks. flushed reports that all of it
// went out. Otherwise what the socket did not take (possibly the whole
// frame) is kept, in order, and written first by the connection's next
// write or read, within Options.ControlWriteTimeout like a cut control
// frame (past that the connection fails with a *StallError); the next
// WaitEach reads, and so writes it, before it parks. Errors are
// WriteText's. They need a Pollable connection and run on its read side
// (the goroutine that reads it, or inside the callback).
func (c *Conn) WriteTextNow(p []byte) (flushed bool, err error) { return c.writeNow(ws.OpText, p) }

// WriteBinaryNow: see WriteTextNow.
func (c *Conn) WriteBinaryNow(p []byte) (flushed bool, err error) {
	return c.writeNow(ws.OpBinary, p)
}

func (c *Conn) writeNow(op ws.OpCode, p []byte) (bool, error) {
	r := c.rr
	if r == nil {
		return false, errNotPollable
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writable(); err != nil {
		return false, err
	}
	b, err := c.dataFrame(op, p)
	if err != nil {
		return false, err
	}
	n := 0
	if !c.hasPend.Load() { // else an earlier frame's rest goes first: keep this one behind it
		r.wb = b
		err = r.raw.Write(r.wnow)
		n, r.wb = r.wn, nil
		if err == nil {
			err, r.werr = r.werr, nil
		}
		if err != nil {
			c.releaseWbuf()
			return false, fmt.Errorf("dialer: write to %s (conn %d): %w", c.nc.RemoteAddr(), c.id, err)
		}
	}
	flushed := n == len(b)
	if !flushed {
		c.keepRest(op, b[n:], time.Now())
		c.unclean()
	}
	c.releaseWbuf()
	return flushed, nil
}

// writeControl sends a ping.
func (c *Conn) writeControl(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrCloseSent
	}
	if c.werr != nil {
		return c.werr
	}
	return c.controlFrame(op, p, false)
}

// pong answers a ping from inside ReadMessage; once our close frame is out
// it is silently dropped. Its write is also bounded by the read deadline,
// so a read with a deadline returns by it even when the server does not
// read: the pong is then finished by the next ReadMessage or write.
func (c *Conn) pong(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	if c.werr != nil {
		return c.werr
	}
	return c.controlFrame(ws.OpPong, p, true)
}

// controlFrame writes a control frame (the caller holds wmu), after the
// rest of an earlier one, within ControlWriteTimeout of when the write
// began: past that the peer is not reading and the connection fails with a
// *StallError. A write cut sooner by the caller's deadline (or, with
// inRead, the read deadline) keeps the unwritten rest for the next write
// and returns the timeout.
func (c *Conn) controlFrame(op ws.OpCode, p []byte, inRead bool) error {
	if err := c.flushPendingLocked(inRead); err != nil {
		if c.werr == nil && c.hasPend.Load() && isTimeout(err) {
			// Still cut: this frame goes out after the rest.
			pc := c.control()
			pc.b = append(pc.b, c.frame(op, 0, p)...)
			c.releaseWbuf()
		}
		return err
	}
	b := c.frame(op, 0, p)
	since := time.Now()
	limit, dl := c.beginControl(since, inRead)
	n, err := c.nc.Write(b)
	dl = c.endControl(inRead, dl)
	if err != nil {
		err = c.cut(op, b[n:], since, err, dl >= limit, inRead)
	}
	c.releaseWbuf()
	return err
}

// flushPending is flushPendingLocked for ReadMessage.
func (c *Conn) flushPending(inRead bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	return c.flushPendingLocked(inRead)
}

// flushPendingLocked writes the rest of a control frame a deadline cut.
func (c *Conn) flushPendingLocked(inRead bool) error {
	if !c.hasPend.Load() {
		return nil
	}
	p := c.ctl.Load()
	limit, dl := c.beginControl(p.since, inRead)
	n, err := c.nc.Write(p.b)
	dl = c.endControl(inRead, dl)
	rest := p.b[n:]
	p.b = p.b[:0]
	c.hasPend.Store(false)
	if err != nil {
		return c.cut(p.op, rest, p.since, err, dl >= limit, inRead)
	}
	return nil
}

// beginControl sets the write deadline of a control frame whose write
// began at since: ControlWriteTimeout after since (limit), or the caller's
// write deadline, or (inRead) the read deadline, whichever comes first
// (dl). The caller holds wmu.
func (c *Conn) beginControl(since time.Time, inRead bool) (limit, dl int64) {
	limit = since.Add(c.cwt).UnixNano()
	dl = limit
	if w := c.wdl.Load(); w != 0 {
		dl = min(dl, w)
	}
	if !inRead {
		_ = c.nc.SetWriteDeadline(time.Unix(0, dl))
		return limit, dl
	}
	if c.inLoop() {
		// A Poller's loop is reading for a waiting VU: it must not wait on
		// a server that does not read (poller.go). Kept below limit, so a
		// cut frame is finished later rather than failing the connection.
		dl = min(dl, time.Now().Add(min(loopWriteSlack, c.cwt/2)).UnixNano())
	}
	p := c.control()
	p.mu.Lock()
	c.inReadWrite.Store(true) // before reading rdl: see SetReadDeadline
	if r := c.rdl.Load(); r != 0 {
		dl = min(dl, r)
	}
	p.dl = dl
	_ = c.nc.SetWriteDeadline(time.Unix(0, dl))
	p.mu.Unlock()
	return limit, dl
}

// endControl puts the caller's write deadline back and returns the
// deadline the write ended with (SetReadDeadline or SetWriteDeadline may
// have brought it forward).
func (c *Conn) endControl(inRead bool, dl int64) int64 {
	if !inRead {
		_ = c.nc.SetWriteDeadline(unixTime(c.wdl.Load()))
		return dl
	}
	p := c.ctl.Load()
	p.mu.Lock()
	c.inReadWrite.Store(false)
	dl = p.dl
	_ = c.nc.SetWriteDeadline(unixTime(c.wdl.Load()))
	p.mu.Unlock()
	return dl
}

// cut handles a failed control frame write: rest is what was not written;
// atLimit says the write deadline was ControlWriteTimeout's, not an
// earlier one; inRead that the read side writes.
func (c *Conn) cut(op ws.OpCode, rest []byte, since time.Time, err error, atLimit, inRead bool) error {
	if !isTimeout(err) {
		return fmt.Errorf("dialer: write to %s (conn %d): %w", c.nc.RemoteAddr(), c.id, err)
	}
	if atLimit {
		c.werr = &StallError{Frame: op, Waited: time.Since(since), Addr: c.nc.RemoteAddr(), ID: c.id}
		if p := c.ctl.Load(); p != nil {
			p.b = nil
		}
		c.hasPend.Store(false)
		_ = c.close(inRead && c.rmode == readRaw) // a frame half written: nothing more can follow it
		return c.werr
	}
	c.keepRest(op, rest, since)
	return fmt.Errorf("dialer: write to %s (conn %d): %w", c.nc.RemoteAddr(), c.id, err)
}

// keepRest keeps the unwritten rest of a frame whose write began at since,
// to be written before anything else. The caller holds wmu.
func (c *Conn) keepRest(op ws.OpCode, rest []byte, since time.Time) {
	if len(rest) == 0 {
		return
	}
	p := c.control()
	if !c.hasPend.Load() {
		p.since, p.op = since, op
	}
	p.b = append(p.b, rest...)
	c.hasPend.Store(true)
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// frame builds header, key and masked copy of p in wbuf and reports it to
// the Tap. The caller holds wmu.
func (c *Conn) frame(op ws.OpCode, rsv byte, p []byte) []byte {
	total := wsproto.MaxHeaderSize + len(p)
	if cap(c.wbuf) < total {
		c.wbuf = make([]byte, max(256, total+total/4))
	}
	b := c.wbuf[:cap(c.wbuf)]
	hdr := wsproto.AppendHeader(b[:0], wsproto.FirstByte(true, rsv, op), true, len(p))
	hl := len(binary.LittleEndian.AppendUint32(hdr, rand.Uint32())) // the masking key
	n := hl + copy(b[hl:], p)
	ws.Cipher(b[hl:n], [4]byte(b[hl-4:hl]), 0)
	if c.tap != nil {
		c.tap.Frame(c.id, ClientToServer, time.Now(), b[:n])
	}
	return b[:n]
}

func (c *Conn) releaseWbuf() {
	if cap(c.wbuf) > retainLimit {
		c.wbuf = nil
	}
}
