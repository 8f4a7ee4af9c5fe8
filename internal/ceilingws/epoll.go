package ceilingws

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Register adds each connection's socket to the epoll set ep with events
// (event data: the descriptor) and returns the descriptors. Without keep
// the descriptors are dups and the connections are closed, so the sockets
// leave the runtime's netpoller; with keep they are the connections' own
// and stay there too (the caller keeps conns alive), as wsbench's event
// loops leave them.
func Register(ep int, conns []net.Conn, keep bool, events uint32) ([]int, error) {
	fds := make([]int, 0, len(conns))
	for _, c := range conns {
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return nil, err
		}
		var fd int
		if cerr := raw.Control(func(s uintptr) {
			fd = int(s)
			if !keep {
				fd, err = unix.Dup(fd)
			}
		}); cerr != nil || err != nil {
			return nil, fmt.Errorf("dup: %v %v", cerr, err)
		}
		if !keep {
			c.Close() // the runtime forgets the socket; fd keeps it open
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// Park waits for the events of ep as dialer/poller.go's loops wait: ep
// becomes a non-blocking *os.File in the runtime's netpoller, and its
// raw.Read callback takes events into evs without blocking and hands each
// batch to handle, until a batch is not full; then it parks without
// asking again (raw.Read cleared the set's readiness before the callback
// ran, so anything since has raised it). The sockets must be
// edge-triggered. Park returns when handle says stop or fails, or with
// os.ErrDeadlineExceeded when nothing came for idle (the deadline that
// watches this is moved on once a second at most, not at every wake-up:
// wsbench's loops do not touch theirs per wake-up either). Park takes
// over ep: close it through nothing else.
func Park(ep int, evs []unix.EpollEvent, idle time.Duration, handle func(k int) (stop bool, err error)) error {
	if err := unix.SetNonblock(ep, true); err != nil {
		return err
	}
	f := os.NewFile(uintptr(ep), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var herr error
	var stop bool
	var moved time.Time
	poll := func(uintptr) bool {
		for {
			k, err := unix.EpollWait(ep, evs, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				herr = err
				return true
			}
			if k == 0 {
				return false
			}
			if stop, herr = handle(k); stop || herr != nil {
				return true
			}
			if time.Since(moved) > time.Second {
				return true // to move the deadline on
			}
			if k < len(evs) {
				return false
			}
		}
	}
	for !stop && herr == nil {
		if now := time.Now(); now.Sub(moved) > time.Second {
			moved = now
			_ = f.SetReadDeadline(now.Add(idle))
		}
		if err := raw.Read(poll); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return os.ErrDeadlineExceeded
			}
			return err
		}
	}
	return herr
}
