// Command go-echo-client is ws-echo-client.c written in Go: the floor of
// what a Go program pays for the echo loop of bench/echo-loop.yaml, so that
// bench/ceiling.sh can tell the cost of the language runtime from the cost
// of wsbench's own design.
//
// CONNS connections to 127.0.0.1:PORT, each upgraded (the 101 and its
// Sec-WebSocket-Accept checked), then one 64-byte text message in flight
// each, masked with a fresh key per frame and counted when its 66-byte
// echo is in; no latency is recorded. Two ways to wait:
//
//	-mode epoll    one goroutine locked to its thread, blocking in
//	               epoll_wait, then one read and one write per round trip
//	               (raw system calls), exactly the C client's loop;
//	-mode netpoll  one goroutine per connection on net.Conn: the runtime's
//	               netpoller and scheduler do the waiting, as in any
//	               idiomatic Go client.
//
// Two flags take wsbench's event loop apart in epoll mode: -keep leaves the
// sockets in the runtime's netpoller too (the loop reads the connections'
// own descriptors, as wsbench's loops do), and -park makes the loop wait
// as wsbench's do: the epoll set is an *os.File in the runtime's
// netpoller, the loop parks there and takes its events without blocking
// (sockets edge-triggered), instead of blocking in epoll_wait on a thread
// of its own.
//
// It prints round trips per second and its own CPU time per round trip,
// in the C client's format. Run it against upgrade-server.c.
//
// usage: go-echo-client [-mode epoll|netpoll] [-keep] [-park] PORT CONNS SECONDS
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wsbench/wsbench/internal/ceilingws"
)

const (
	payload = 64
	echoLen = 2 + payload
)

func main() {
	mode := flag.String("mode", "epoll", "epoll or netpoll")
	keep := flag.Bool("keep", false, "leave the sockets in the runtime's netpoller too (epoll mode)")
	park := flag.Bool("park", false, "wait in the runtime's netpoller, not in epoll_wait (epoll mode)")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: go-echo-client [-mode epoll|netpoll] [-keep] [-park] PORT CONNS SECONDS")
		os.Exit(2)
	}
	port := flag.Arg(0)
	n, err1 := strconv.Atoi(flag.Arg(1))
	secs, err2 := strconv.ParseFloat(flag.Arg(2), 64)
	if err1 != nil || err2 != nil || n < 1 || secs <= 0 {
		fmt.Fprintln(os.Stderr, "bad CONNS or SECONDS")
		os.Exit(2)
	}
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := ceilingws.Upgrade(port, "/echo", nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		conns[i] = c
	}
	dur := time.Duration(secs * float64(time.Second))
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	t0 := time.Now()
	var rt int64
	var err error
	switch *mode {
	case "epoll":
		rt, err = runEpoll(conns, t0.Add(dur), *keep, *park)
	case "netpoll":
		rt, err = runNetpoll(conns, t0.Add(dur))
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	el := time.Since(t0)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cpu := time.Duration(r1.Utime.Nano() - r0.Utime.Nano() + r1.Stime.Nano() - r0.Stime.Nano())
	fmt.Printf("conns %d  round_trips %d  per_second %.0f  client_cpu_us_per_rt %.2f\n",
		n, rt, float64(rt)/el.Seconds(), cpu.Seconds()/float64(rt)*1e6)
}

// frame is one masked 64-byte text frame of 'e's with a fresh key.
func frame(f *[6 + payload]byte, r *rand.PCG) {
	f[0], f[1] = 0x81, 0x80|payload
	binary.LittleEndian.PutUint32(f[2:6], uint32(r.Uint64()))
	for j := range payload {
		f[6+j] = 'e' ^ f[2+j&3]
	}
}

// runEpoll is the C client's loop on raw descriptors: dups of the
// connections', which leave the runtime's netpoller when closed, or with
// keep the connections' own, which stay there.
func runEpoll(conns []net.Conn, end time.Time, keep, park bool) (int64, error) {
	defer runtime.KeepAlive(conns)
	if !park {
		// A parked goroutine moves between threads; a locked one would make
		// every wake-up a hand-off to its own thread.
		runtime.LockOSThread()
	}
	events := uint32(unix.EPOLLIN)
	if park {
		events |= unix.EPOLLET
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return 0, err
	}
	fds, err := ceilingws.Register(ep, conns, keep, events)
	if err != nil {
		return 0, err
	}
	got := make([]int, slices.Max(fds)+1) // echo bytes in so far, by descriptor
	r := rand.NewPCG(1, 2)
	var f [6 + payload]byte
	write := func(fd int) error {
		frame(&f, r)
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafePtr(f[:])), uintptr(len(f)))
		if e != 0 || int(n) != len(f) {
			return fmt.Errorf("write: %v (%d bytes)", e, n)
		}
		return nil
	}
	for _, fd := range fds {
		if err := write(fd); err != nil {
			return 0, err
		}
	}
	var buf [65536]byte
	evs := make([]unix.EpollEvent, 1024)
	var rt int64
	// handle reads each ready connection once (its echo is 66 bytes, far
	// less than buf: one read empties the socket) and sends the next
	// request when the echo is whole.
	handle := func(k int) error {
		for i := 0; i < k; i++ {
			fd := int(evs[i].Fd)
			n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafePtr(buf[:])), uintptr(len(buf)))
			if e != 0 || n == 0 {
				return fmt.Errorf("read: %v", e)
			}
			g := got[fd] + int(n)
			switch {
			case g < echoLen:
				got[fd] = g
				continue
			case g > echoLen:
				return fmt.Errorf("unexpected bytes from the server")
			}
			got[fd] = 0
			if err := write(fd); err != nil {
				return err
			}
			rt++
		}
		return nil
	}
	if !park {
		for time.Now().Before(end) {
			k, err := unix.EpollWait(ep, evs, 100)
			if err != nil && err != unix.EINTR {
				return rt, err
			}
			if err := handle(k); err != nil {
				return rt, err
			}
		}
		return rt, nil
	}
	// park: wsbench's loop (ceilingws.Park), until end.
	err = ceilingws.Park(ep, evs, 5*time.Second, func(k int) (bool, error) {
		err := handle(k)
		return !time.Now().Before(end), err
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("no echo for 5 s")
	}
	return rt, err
}

func unsafePtr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// runNetpoll runs one goroutine per connection on net.Conn.
func runNetpoll(conns []net.Conn, end time.Time) (int64, error) {
	var rt atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.NewPCG(uint64(i), 2)
			var f [6 + payload]byte
			var in [echoLen]byte
			want := append([]byte{0x81, payload}, bytes.Repeat([]byte("e"), payload)...)
			_ = c.SetReadDeadline(end)
			for n := int64(0); ; n++ {
				frame(&f, r)
				if _, err := c.Write(f[:]); err != nil {
					once.Do(func() { first = err })
					return
				}
				if _, err := io.ReadFull(c, in[:]); err != nil {
					if !os.IsTimeout(err) {
						once.Do(func() { first = err })
					}
					rt.Add(n)
					return
				}
				if !bytes.Equal(in[:], want) {
					once.Do(func() { first = fmt.Errorf("unexpected bytes from the server") })
					return
				}
			}
		}()
	}
	wg.Wait()
	return rt.Load(), first
}
