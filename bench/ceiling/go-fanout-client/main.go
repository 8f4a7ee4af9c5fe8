// Command go-fanout-client is fanout-client.c's WebSocket mode written in
// Go: the floor of what a Go program pays to read a fan-out room, so that
// bench/ceiling.sh can tell the cost of the language runtime from the cost
// of wsbench's own design.
//
// CONNS connections to 127.0.0.1:PORT, bound round-robin to SOURCES
// loopback addresses (127.0.0.2, 127.0.0.3, …), each upgraded (the 101 and
// its Sec-WebSocket-Accept checked); then it reads fanout-server.c's
// 100-byte text frames and records now minus the frame's JSON "ts" for
// each, until it has CONNS × COUNT of them, and prints the delivery-latency
// percentiles in the C reader's format. Two ways to wait:
//
//	-mode epoll    one goroutine locked to its thread, blocking in
//	               epoll_wait (level-triggered), then reads of exactly 100
//	               bytes on raw descriptors: the C reader's loop;
//	-mode netpoll  one goroutine per connection on net.Conn: the runtime's
//	               netpoller and scheduler do the waiting.
//
// -keep (epoll mode) leaves the sockets in the runtime's netpoller as well,
// as wsbench's event loops do (they read sockets that net.Conn still
// holds): every arrival is then also an event for the runtime to take.
//
// -park (epoll mode) waits as wsbench's event loops do: the epoll set is an
// *os.File in the runtime's netpoller and the loop parks there until the
// set is readable, then takes its events without blocking; without it the
// loop blocks in epoll_wait on its own thread, as the C reader does.
//
// -touch K (epoll mode) gives every connection a chain of K separately
// allocated 256-byte objects, allocated so that no two of one connection's
// objects are near each other in memory, and walks it (a load and a store
// in each) for every delivery: what reaching a connection's state through
// K pointers costs, the layout question behind issue 14.
//
// -work (epoll mode) does per delivery what a wsbench room member does, on
// one record per connection kept in a slice by descriptor: one pass over
// the JSON for op, from, seq and ts, the op matched, the sequence checked
// against the sender's last, the latency recorded in an HdrHistogram (the
// library wsbench uses, 3 significant figures). Its percentiles are still
// printed from the exact latencies, like the C reader's.
//
// -others N starts N goroutines (-1: one per connection) that stay parked
// on a channel receive beside the loop, as wsbench's virtual users wait
// while its loops read for them; -timers gives each of them a pending
// timer an hour away as well (a program with timers makes the runtime
// block in its poller with a timeout, not just sleep). What a blocking
// loop costs in a program with other goroutines, not alone.
//
// usage: go-fanout-client [-mode epoll|netpoll] [-keep] [-park] [-touch K] [-work] [-others N [-timers]] PORT CONNS COUNT SOURCES
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/wsbench/wsbench/internal/ceilingws"
)

// frameLen is the size of fanout-server.c's ws-mode frames.
const frameLen = 100

// obj is one link of a connection's -touch chain.
type obj struct {
	next *obj
	n    uint64
	_    [30]uint64
}

func main() {
	mode := flag.String("mode", "epoll", "epoll or netpoll")
	touch := flag.Int("touch", 0, "objects walked per delivery (epoll mode)")
	park := flag.Bool("park", false, "wait in the runtime's netpoller, not in epoll_wait (epoll mode)")
	work := flag.Bool("work", false, "do a wsbench member's work per delivery (epoll mode)")
	keep := flag.Bool("keep", false, "leave the sockets in the runtime's netpoller too (epoll mode)")
	others := flag.Int("others", 0, "goroutines parked on channels beside the loop, one per connection when -1")
	timers := flag.Bool("timers", false, "each -others goroutine also waits for a timer an hour away")
	flag.Parse()
	if flag.NArg() != 4 {
		fmt.Fprintln(os.Stderr, "usage: go-fanout-client [-mode epoll|netpoll] [-keep] [-park] [-touch K] [-work] [-others N [-timers]] PORT CONNS COUNT SOURCES")
		os.Exit(2)
	}
	port := flag.Arg(0)
	n, err1 := strconv.Atoi(flag.Arg(1))
	count, err2 := strconv.Atoi(flag.Arg(2))
	nsrc, err3 := strconv.Atoi(flag.Arg(3))
	if err1 != nil || err2 != nil || err3 != nil || n < 1 || count < 1 || nsrc < 1 || nsrc > 250 || *touch < 0 || *others < -1 {
		fmt.Fprintln(os.Stderr, "bad CONNS, COUNT, SOURCES, -touch or -others")
		os.Exit(2)
	}
	conns := make([]net.Conn, n)
	for i := range conns {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%nsrc))}
		c, err := ceilingws.Upgrade(port, "/chat", local)
		if err != nil {
			fmt.Fprintf(os.Stderr, "upgrade of connection %d: %v\n", i, err)
			os.Exit(1)
		}
		conns[i] = c
	}
	if *others < 0 {
		*others = n
	}
	stop := make(chan struct{})
	for range *others {
		go func() {
			var t <-chan time.Time
			if *timers {
				tm := time.NewTimer(time.Hour)
				defer tm.Stop()
				t = tm.C
			}
			select {
			case <-t:
			case <-stop:
			}
		}()
	}
	var d []int64
	var err error
	switch *mode {
	case "epoll":
		d, err = runEpoll(conns, count, *touch, *keep, *park, *work)
	case "netpoll":
		d, err = runNetpoll(conns, count)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	close(stop)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if len(d) == 0 {
		os.Exit(1)
	}
	slices.Sort(d)
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	fmt.Printf("client: %d deliveries  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		len(d), ms(d[len(d)/2]), ms(d[len(d)*9/10]), ms(d[len(d)*99/100]), ms(d[len(d)-1]))
}

// latency is now minus the "ts" of one frame (its JSON after a two-byte
// header), or -1 when the frame has none.
func latency(f []byte) int64 {
	i := bytes.Index(f[2:], []byte(`"ts":`))
	if i < 0 {
		return -1
	}
	var t0 int64
	for _, b := range f[2+i+5:] {
		if b < '0' || b > '9' {
			break
		}
		t0 = t0*10 + int64(b-'0')
	}
	return time.Now().UnixNano() - t0
}

// runEpoll is the C reader's loop on raw descriptors: dups of the
// connections', which leave the runtime's netpoller when closed, or with
// keep the connections' own, which stay there.
func runEpoll(conns []net.Conn, count, touch int, keep, park, work bool) ([]int64, error) {
	defer runtime.KeepAlive(conns)
	if !park {
		// Parked goroutines move between threads; a locked one would make
		// every wake-up a hand-off to its own thread.
		runtime.LockOSThread()
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	events := uint32(unix.EPOLLIN)
	if park {
		events |= unix.EPOLLET // read below reads until a short read
	}
	fds, err := ceilingws.Register(ep, conns, keep, events)
	if err != nil {
		return nil, err
	}
	// The chains, allocated object k of every connection at a time: a
	// connection's objects lie len(conns) objects apart.
	head := make([]*obj, slices.Max(fds)+1)
	prev := make([]*obj, len(fds))
	for k := 0; k < touch; k++ {
		for i, fd := range fds {
			o := new(obj)
			if k == 0 {
				head[fd] = o
			} else {
				prev[i].next = o
			}
			prev[i] = o
		}
	}
	total := len(conns) * count
	d := make([]int64, 0, total)
	var buf [4096]byte
	part := make([][]byte, len(head)) // a frame's first bytes, by descriptor
	var mem []member                  // -work: a record per connection, by descriptor
	var hist *hdrhistogram.Histogram
	if work {
		mem = make([]member, len(head))
		hist = hdrhistogram.New(1, int64(time.Minute), 3)
	}
	record := func(d *[]int64, frame []byte, fd int) error {
		if work {
			return mem[fd].deliver(d, frame, hist)
		}
		return recordTouch(d, frame, head[fd])
	}
	// read reads what fd holds, once (a read that fills buf is repeated:
	// the socket may hold more), and records every whole frame in it.
	read := func(fd int) error {
		for {
			n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			if e == unix.EAGAIN {
				return nil
			}
			if e != 0 || n == 0 {
				return fmt.Errorf("read: %v", e)
			}
			in := buf[:n]
			if p := part[fd]; len(p) > 0 {
				k := min(frameLen-len(p), len(in))
				p = append(p, in[:k]...)
				in = in[k:]
				if part[fd] = p; len(p) < frameLen {
					continue
				}
				part[fd] = p[:0]
				if err := record(&d, p, fd); err != nil {
					return err
				}
			}
			for ; len(in) >= frameLen; in = in[frameLen:] {
				if err := record(&d, in[:frameLen], fd); err != nil {
					return err
				}
			}
			if len(in) > 0 {
				part[fd] = append(part[fd][:0], in...)
			}
			if int(n) < len(buf) {
				return nil
			}
		}
	}
	evs := make([]unix.EpollEvent, 1024)
	handle := func(k int) error {
		for i := 0; i < k; i++ {
			if err := read(int(evs[i].Fd)); err != nil {
				return err
			}
		}
		return nil
	}
	if !park {
		for len(d) < total {
			k, err := unix.EpollWait(ep, evs, 5000)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return d, err
			}
			if k == 0 {
				return d, fmt.Errorf("no message for 5 s after %d of %d", len(d), total)
			}
			if err := handle(k); err != nil {
				return d, err
			}
		}
		return d, nil
	}
	// park: wsbench's loop (ceilingws.Park).
	err = ceilingws.Park(ep, evs, 5*time.Second, func(k int) (bool, error) {
		err := handle(k)
		return len(d) >= total, err
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("no message for 5 s after %d of %d", len(d), total)
	}
	return d, err
}

// recordTouch walks a connection's -touch chain and records one frame's
// latency.
func recordTouch(d *[]int64, frame []byte, o *obj) error {
	for ; o != nil; o = o.next {
		o.n++
	}
	l := latency(frame)
	if l < 0 {
		return fmt.Errorf("a message without ts")
	}
	*d = append(*d, l)
	return nil
}

// runNetpoll reads each connection on a goroutine of its own.
func runNetpoll(conns []net.Conn, count int) ([]int64, error) {
	per := make([][]int64, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [frameLen]byte
			d := make([]int64, 0, count)
			for range count {
				if _, err := io.ReadFull(c, buf[:]); err != nil {
					errs[i] = err
					break
				}
				l := latency(buf[:])
				if l < 0 {
					errs[i] = fmt.Errorf("a message without ts")
					break
				}
				d = append(d, l)
			}
			per[i] = d
		}()
	}
	wg.Wait()
	return slices.Concat(per...), firstErr(errs)
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// member is a connection's record for -work: the last sender seen and its
// last sequence number, and what the checks found.
type member struct {
	from    [16]byte
	fromLen int
	seq     int64
	gaps    int64
	n       int64
}

// deliver is a wsbench member's work on one frame (its JSON after a
// two-byte header): one pass over the object's members for op, from, seq
// and ts, then the checks and the histogram.
func (m *member) deliver(d *[]int64, frame []byte, h *hdrhistogram.Histogram) error {
	var op, from []byte
	var seq, ts int64
	var haveTS bool
	b := frame[2:]
	i := bytes.IndexByte(b, '{') + 1
	for i > 0 && i < len(b) {
		// a key
		for i < len(b) && b[i] != '"' && b[i] != '}' {
			i++
		}
		if i >= len(b) || b[i] == '}' {
			break
		}
		k0 := i + 1
		k1 := k0 + bytes.IndexByte(b[k0:], '"')
		if k1 < k0 {
			break
		}
		key := b[k0:k1]
		i = k1 + 1
		for i < len(b) && (b[i] == ':' || b[i] == ' ') {
			i++
		}
		if i >= len(b) {
			break
		}
		if b[i] == '"' { // a string value
			v0 := i + 1
			v1 := v0 + bytes.IndexByte(b[v0:], '"')
			if v1 < v0 {
				break
			}
			switch string(key) {
			case "op":
				op = b[v0:v1]
			case "from":
				from = b[v0:v1]
			}
			i = v1 + 1
			continue
		}
		var v int64 // a number
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			v = v*10 + int64(b[i]-'0')
		}
		switch string(key) {
		case "seq":
			seq = v
		case "ts":
			ts, haveTS = v, true
		}
	}
	if string(op) != "said" || !haveTS {
		return fmt.Errorf("a message without op said or ts")
	}
	if m.fromLen == len(from) && string(m.from[:m.fromLen]) == string(from) {
		if seq != m.seq+1 {
			m.gaps++
		}
	} else {
		m.fromLen = copy(m.from[:], from)
	}
	m.seq = seq
	m.n++
	l := time.Now().UnixNano() - ts
	_ = h.RecordValue(max(l, 1))
	*d = append(*d, l)
	return nil
}
