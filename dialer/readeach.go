package dialer

// readeach.go: ReadEach, the read loop without the EAGAIN round trip.
//
// A goroutine reading a socket through net.Conn.Read pays two read system
// calls per message that arrives on its own (a fan-out delivery): the one
// that returns the message, and the one that returns EAGAIN before the
// goroutine parks in the runtime's netpoller. ReadEach keeps the
// goroutine inside one syscall.RawConn.Read call for as long as messages go
// to its callback unanswered, reads the socket itself, and treats a read
// that came back shorter than the room it had as "the socket is empty
// now": it parks at once, with no read that would only say EAGAIN. That is
// safe because the runtime's readiness flag for the socket is cleared only
// when RawConn.Read starts and when the goroutine parks, never in between:
// bytes arriving after the short read raise the flag (an edge of the
// edge-triggered epoll), and the park returns at once. A ReadEach call
// that starts fresh always reads first, since bytes may have come while no
// call was in progress.

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// How fill gets bytes (Conn.rmode).
const (
	readNet      = iota // c.nc.Read
	readRaw             // read(2) on c.rfd, inside raw.Read's callback
	readBuffered        // none: only what rbuf holds
)

// rawReader is ReadEach's state on a plain TCP connection: the socket's
// RawConn, the callback bound once, and, during a call, fn, the socket
// (fd), whether a read on it came back short (drained: the socket was
// empty, the next read would only return EAGAIN), and the error that ended
// the callback.
type rawReader struct {
	raw     syscall.RawConn
	step    func(fd uintptr) bool
	once    func(fd uintptr) bool // step once, never park (readNow; result in stepped)
	fn      func(Message) bool
	err     error
	fd      int
	drained bool
	stepped bool // once's step returned true

	// The Poller's registration (poller.go), and whether one of its loops
	// is reading the connection now, holding pw.mu (a control frame written
	// from the read side then gets a short deadline, see loopWriteSlack,
	// and a Close from there must not take pw.mu again). inLoop belongs to
	// the read side.
	pw     atomic.Pointer[pollWait]
	inLoop bool

	// closeAfter: Close ran inside raw.Read's callback (a stalled pong);
	// the socket is closed once raw.Read returns.
	closeAfter bool

	// writeNow's one non-blocking write (under wmu): the frame, what the
	// socket took and the error, through wnow, raw.Write's callback.
	wnow func(fd uintptr) bool
	wb   []byte
	wn   int
	werr error
}

// newRawReader returns the rawReader of a plain *net.TCPConn, or nil (TLS,
// a WrapConn). newConn sets it before the Conn is shared, so Close may
// look at it from any goroutine.
func newRawReader(c *Conn) *rawReader {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawReader{raw: rc}
	r.step = c.step
	r.once = func(fd uintptr) bool {
		r.stepped = c.step(fd)
		return true
	}
	r.wnow = func(fd uintptr) bool {
		for {
			n, err := rawWrite(int(fd), r.wb)
			switch err {
			case syscall.EINTR:
				continue
			case nil:
				r.wn = n
			case syscall.EAGAIN:
				r.wn = 0
			default:
				r.wn, r.werr = 0, os.NewSyscallError("write", err)
			}
			return true
		}
	}
	return r
}

// rawReader returns the connection's rawReader, or nil when nc is not a
// plain *net.TCPConn.
func (c *Conn) rawReader() *rawReader { return c.rr }

// closeDeferred closes the socket if Close ran inside raw.Read's callback.
func (c *Conn) closeDeferred() {
	if r := c.rr; r.closeAfter {
		r.closeAfter = false
		_ = c.nc.Close()
	}
}

// inLoop reports whether a Poller's loop is reading the connection now
// (read side only).
func (c *Conn) inLoop() bool { return c.rr != nil && c.rr.inLoop }

// unclean tells a Poller registration that the socket was read outside
// WaitEach, so the next wait reads before it parks.
func (c *Conn) unclean() {
	if r := c.rr; r != nil {
		if pw := r.pw.Load(); pw != nil {
			pw.clean = false
		}
	}
}

// errWouldBlock is fill's "no bytes without waiting" in the readRaw and
// readBuffered modes. It never leaves the package and is not sticky.
var errWouldBlock = errors.New("dialer: would block")

// ReadEach reads messages and hands each to fn, as ReadMessage would return
// them, until fn returns true (ReadEach returns nil) or a read fails
// (ReadEach returns what ReadMessage would have: the read deadline's
// timeout, the peer's *CloseError, a *ProtocolError, an I/O error). The
// Message is valid only during the call to fn. fn runs on the calling
// goroutine and may write to the connection and set its read deadline, but
// must not read it. On a plain TCP connection a message that arrives on its
// own costs one read system call rather than two; otherwise ReadEach is a
// loop over ReadMessage.
func (c *Conn) ReadEach(fn func(Message) bool) error {
	r := c.rawReader()
	if r == nil {
		for {
			m, err := c.ReadMessage()
			if err != nil {
				return err
			}
			if fn(m) {
				return nil
			}
		}
	}
	if c.rerr != nil {
		return c.rerr
	}
	c.unclean()
	// What is already buffered first, without a system call (and even if
	// the deadline has passed, as ReadMessage would).
	if done, err := c.eachBuffered(fn); done {
		return err
	}
	return c.rawRead(r.step, fn)
}

// eachBuffered hands fn the messages rbuf already holds, without a system
// call. done: fn returned true or a read failed (err).
func (c *Conn) eachBuffered(fn func(Message) bool) (done bool, err error) {
	if c.rpos == c.rend && !c.big {
		return false, nil
	}
	c.rmode = readBuffered
	for {
		m, err := c.ReadMessage()
		if err == errWouldBlock {
			c.rmode = readNet
			return false, nil
		}
		if err != nil || fn(m) {
			c.rmode = readNet
			return true, err
		}
	}
}

// rawRead runs raw.Read with callback cb (step or once) in the readRaw
// mode, handing messages to fn, and returns what ended it: the error a
// read gave, raw.Read's own (the deadline passed or the socket was closed
// while parked), or nil.
func (c *Conn) rawRead(cb func(uintptr) bool, fn func(Message) bool) error {
	c.beginRaw(fn)
	err := c.rr.raw.Read(cb)
	if rerr := c.endRaw(); rerr != nil {
		return rerr
	}
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return c.fail(err)
	}
	return nil
}

// beginRaw enters the readRaw mode for a read that hands messages to fn:
// fill reads the descriptor that step is given.
func (c *Conn) beginRaw(fn func(Message) bool) {
	r := c.rr
	c.rmode, r.fn, r.err = readRaw, fn, nil
}

// endRaw leaves the readRaw mode, closes the socket if Close ran during
// the read, and returns the error a read gave (nil: none).
func (c *Conn) endRaw() error {
	r := c.rr
	c.rmode, r.fn, r.fd = readNet, nil, 0
	c.closeDeferred()
	err := r.err
	r.err = nil
	return err
}

// step is raw.Read's callback: it hands messages to fn until fn
// is done (true), a read fails (true, err set), or the socket is empty
// (false: park until it is readable, then step again).
func (c *Conn) step(fd uintptr) bool {
	r := c.rr
	r.fd, r.drained = int(fd), false
	for {
		m, err := c.ReadMessage()
		if err == errWouldBlock {
			return false
		}
		if err != nil {
			r.err = err
			return true
		}
		if r.fn(m) {
			return true
		}
	}
}

// fill reads into p the way rmode says.
func (c *Conn) fill(p []byte) (int, error) {
	switch c.rmode {
	case readBuffered:
		return 0, errWouldBlock
	case readRaw:
		r := c.rr
		if r.drained {
			return 0, errWouldBlock
		}
		for {
			n, err := rawReadFD(r.fd, p)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				r.drained = true
				return 0, errWouldBlock
			case err != nil:
				return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("read", err)}
			case n == 0:
				return 0, io.EOF
			}
			if n < len(p) {
				r.drained = true
			}
			return n, nil
		}
	}
	c.unclean()
	return c.nc.Read(p)
}

// rawReadFD and rawWrite are read(2) and write(2) on a non-blocking socket
// without the runtime's entersyscall/exitsyscall: they never block, so
// the P need not be handed off, and sysmon does not see a syscall to
// retake. A loop does two of them per round trip.
func rawReadFD(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, p) }

func rawWrite(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, p) }

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
