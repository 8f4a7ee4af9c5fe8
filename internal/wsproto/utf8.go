package wsproto

import "unicode/utf8"

// Text messages and close reasons must be UTF-8 (RFC 6455 section 8.1); a
// receiver fails the connection with CloseInvalidPayload (1007). A whole
// message is checked with utf8.Valid; the helpers below say where it
// breaks, and check a message frame by frame.

// InvalidUTF8At returns the offset of the first invalid UTF-8 sequence in
// p, or -1 when p is valid. A rune cut off by the end of p is invalid.
func InvalidUTF8At(p []byte) int {
	if utf8.Valid(p) {
		return -1
	}
	off := 0
	for off < len(p) {
		r, size := utf8.DecodeRune(p[off:])
		if r == utf8.RuneError && size == 1 {
			return off
		}
		off += size
	}
	return off
}

// UTF8Check checks a text message as its fragments arrive: a rune may be
// split between two frames, and only the last frame may not end one. The
// zero value is ready for a message; Reset makes it ready for the next.
// It never allocates.
type UTF8Check struct {
	pending [utf8.UTFMax]byte // the start of a rune the last fragment cut
	npend   int
	off     int // message bytes seen
	bad     bool
}

// Reset starts a new message.
func (c *UTF8Check) Reset() { *c = UTF8Check{} }

// Failed reports whether the message already broke the rule.
func (c *UTF8Check) Failed() bool { return c.bad }

// Next checks the next fragment p of the message; last says p ends it. It
// returns the offset in the message of the first invalid byte, once, when
// p shows it; -1 otherwise (also after Failed).
func (c *UTF8Check) Next(p []byte, last bool) int {
	if c.bad {
		return -1
	}
	start := c.off // message offset of p[0]
	c.off += len(p)
	i := 0
	if n := c.npend; n > 0 {
		k := copy(c.pending[n:], p)
		buf := c.pending[:n+k]
		if !last && !utf8.FullRune(buf) {
			c.npend = n + k // all of p, and the rune is not done yet
			return -1
		}
		c.npend = 0
		r, size := utf8.DecodeRune(buf)
		if r == utf8.RuneError && size == 1 {
			c.bad = true
			return start - n
		}
		i = size - n
	}
	for i < len(p) {
		if p[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !last && !utf8.FullRune(p[i:]) {
			c.npend = copy(c.pending[:], p[i:])
			return -1
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			c.bad = true
			return start + i
		}
		i += size
	}
	return -1
}
