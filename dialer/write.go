package dialer

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gobwas/ws"
)

// WriteText sends p as one masked text frame in one write call. p is not
// modified. Without compression and Tap it allocates nothing in steady state.
func (c *Conn) WriteText(p []byte) error { return c.writeData(ws.OpText, p) }

// WriteBinary sends p as one masked binary frame in one write call.
func (c *Conn) WriteBinary(p []byte) error { return c.writeData(ws.OpBinary, p) }

// Ping sends a ping frame (payload at most 125 bytes). The pong comes back
// from ReadMessage as a Message with Op ws.OpPong.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > maxControlPayload {
		return fmt.Errorf("dialer: ping payload of %d bytes (max 125)", len(payload))
	}
	return c.writeControl(ws.OpPing, payload, false)
}

// SendClose writes a close frame with code and reason (cut to fit 123 bytes)
// once; later calls, and the automatic answer to the peer's close, do
// nothing. Code 0 or 1005 sends a close frame without a body. It does not
// close the socket: read until ReadMessage returns *CloseError (the server's
// answer), then Close.
func (c *Conn) SendClose(code uint16, reason string) error {
	var body [maxControlPayload]byte
	n := closeBody(body[:], code, reason)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	c.closeSent = true
	return c.writeFrame(ws.OpClose, 0, body[:n])
}

func (c *Conn) writeData(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrCloseSent
	}
	var rsv byte
	if c.fl != nil {
		z, err := c.fl.deflate(p)
		if err != nil {
			return err
		}
		p, rsv = z, bitRsv1
		if cap(c.fl.out.b) > retainLimit {
			defer func() { c.fl.out.b = nil }()
		}
	}
	return c.writeFrame(op, rsv, p)
}

// writeControl sends a ping or pong. auto marks the pong answering a ping,
// which is silently dropped once our close frame is out.
func (c *Conn) writeControl(op ws.OpCode, p []byte, auto bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		if auto {
			return nil
		}
		return ErrCloseSent
	}
	return c.writeFrame(op, 0, p)
}

// writeFrame builds header, key and masked copy of p in wbuf and writes it
// with one call. The caller holds wmu.
func (c *Conn) writeFrame(op ws.OpCode, rsv byte, p []byte) error {
	total := maxHeaderSize + len(p)
	if cap(c.wbuf) < total {
		c.wbuf = make([]byte, max(256, total+total/4))
	}
	b := c.wbuf[:cap(c.wbuf)]
	hl := putHeader(b, true, rsv, op, len(p), rand.Uint32())
	n := hl + copy(b[hl:], p)
	ws.Cipher(b[hl:n], [4]byte(b[hl-4:hl]), 0)
	if c.tap != nil {
		c.tap.Frame(c.id, ClientToServer, time.Now(), b[:n])
	}
	_, err := c.nc.Write(b[:n])
	if cap(c.wbuf) > retainLimit {
		c.wbuf = nil
	}
	if err != nil {
		return fmt.Errorf("dialer: write to %s (conn %d): %w", c.nc.RemoteAddr(), c.id, err)
	}
	return nil
}
