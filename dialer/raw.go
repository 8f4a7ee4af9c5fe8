package dialer

import (
	"fmt"
	"time"
)

// WriteRaw writes b to the connection exactly as given, in one write call:
// no framing, no masking, no check. It exists to send deliberately broken
// frames (`wsbench inspect`'s /raw command). The bytes are reported to the
// Tap as one ClientToServer Frame call even when they are not exactly one
// frame, so a Tap that needs frames must split the stream itself. WriteRaw
// works after SendClose too, and does not mark a close as sent.
func (c *Conn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.tap != nil {
		c.tap.Frame(c.id, ClientToServer, time.Now(), b)
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("dialer: raw write to %s (conn %d): %w", c.nc.RemoteAddr(), c.id, err)
	}
	return nil
}
