package scenario

// interrupt.go ends the connections of iterations that are cut short, by
// the end of the run once the graceful stop has passed, by a ramp-down, or
// by Ctrl-C: each gets a close frame with 1001 (going away) before its
// socket is closed, and counts in conn.interrupted (its iteration in
// iterations.interrupted), so that every opened connection ends in exactly
// one of conn.closed.<code> and conn.interrupted:
//
//	conn.opened = Σ conn.closed.* + conn.interrupted
//
// (and connection attempts = conn.opened + Σ conn.failed.*). We do not wait
// for the server's answer: the run is ending.

import "time"

// interruptWriteWait bounds how long the 1001 close frame may take to
// write. A connection whose server stopped reading has a full socket
// buffer: the write in progress is cut at this deadline (and the close
// frame with it), and the socket is closed without one.
const interruptWriteWait = 100 * time.Millisecond

// goAway sends the close frame with 1001. It is safe to call while the
// VU's goroutine is blocked in a read or a write of the connection: writes
// are serialised by the connection, and the write deadline unblocks one
// stuck behind a server that does not read.
func (l *link) goAway() {
	_ = l.c.SetWriteDeadline(time.Now().Add(interruptWriteWait))
	_ = l.c.SendClose(1001, "")
}
