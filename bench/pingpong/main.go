// Command pingpong is the raw-socket baseline for wsbench's low-load echo
// latency (BENCHMARKS.md, issue 3): a plain TCP echo server and one client on
// 127.0.0.1, in one process, exchanging a 64-byte message one at a time (no
// WebSocket framing, no JSON, no pacing unless -every is set) and printing the
// round trip's p50/p99 in microseconds. It sits beside `wsbench run` of
// bench/echo-lowload.yaml; nothing in wsbench imports it. With -serve ADDR it
// is only the echo server, and with -addr ADDR only the client, so the two
// sides can run in separate processes as wsbench run and wsbench serve do.
//
// With -conns N (> 1) it measures throughput instead: N connections each
// exchanging back to back for -duration, printing round trips per second —
// the ceiling a plain Go TCP echo reaches on this machine, beside wsbench's
// /echo figures.
//
//	go run ./bench/pingpong -n 100000
//	go run ./bench/pingpong -n 1000 -every 10ms
//	pingpong -serve 127.0.0.1:9500 & pingpong -addr 127.0.0.1:9500 -n 1000 -every 10ms
//	pingpong -serve 127.0.0.1:9500 & pingpong -addr 127.0.0.1:9500 -conns 50 -duration 10s
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"
)

func main() {
	n := flag.Int("n", 100000, "round trips to time")
	size := flag.Int("size", 64, "message size in bytes")
	warm := flag.Int("warmup", 1000, "untimed round trips first")
	every := flag.Duration("every", 0, "pace: start a round trip every this long (0 = back to back)")
	serveAddr := flag.String("serve", "", "only run the echo server, on this address (until killed)")
	addr := flag.String("addr", "", "only run the client, against the echo server on this address")
	conns := flag.Int("conns", 1, "throughput mode when > 1: this many connections exchanging back to back")
	dur := flag.Duration("duration", 10*time.Second, "throughput mode: how long to run")
	flag.Parse()
	var err error
	switch {
	case *serveAddr != "":
		err = serveOnly(*serveAddr, *size)
	case *conns > 1:
		err = throughput(*addr, *conns, *size, *dur)
	default:
		err = run(*addr, *n, *size, *warm, *every)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingpong:", err)
		os.Exit(1)
	}
}

// serveOnly echoes, for one client after another, until the process is killed.
func serveOnly(addr string, size int) error {
	if size < 1 {
		return fmt.Errorf("need -size ≥ 1 (got %d)", size)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		go echo(c, size)
	}
}

// throughput runs conns connections, each exchanging size-byte messages back
// to back for d, and prints the round trips per second of all of them.
func throughput(addr string, conns, size int, d time.Duration) error {
	if size < 1 || d <= 0 {
		return fmt.Errorf("need -size ≥ 1 and -duration > 0 (got %d, %v)", size, d)
	}
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen on 127.0.0.1: %w", err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go echo(c, size)
			}
		}()
		addr = ln.Addr().String()
	}
	counts := make([]int64, conns)
	errs := make(chan error, conns)
	start := time.Now()
	end := start.Add(d)
	for k := range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return fmt.Errorf("dial %s: %w", addr, err)
		}
		go func() {
			defer c.Close()
			msg, buf := make([]byte, size), make([]byte, size)
			for time.Now().Before(end) {
				if _, err := c.Write(msg); err != nil {
					errs <- fmt.Errorf("write to %s: %w", addr, err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- fmt.Errorf("read from %s: %w", addr, err)
					return
				}
				counts[k]++
			}
			errs <- nil
		}()
	}
	var total int64
	for range conns {
		if err := <-errs; err != nil {
			return err
		}
	}
	for _, n := range counts {
		total += n
	}
	el := time.Since(start)
	fmt.Printf("pingpong: %d connections, %d-byte messages back to back for %v: %d round trips, %.0f round trips/s\n",
		conns, size, el.Round(time.Millisecond), total, float64(total)/el.Seconds())
	return nil
}

// echo sends each size-byte message of c back unchanged until c goes away.
func echo(c net.Conn, size int) {
	defer c.Close()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// run times n round trips against addr, or against an echo server of its
// own on a free loopback port when addr is empty.
func run(addr string, n, size, warm int, every time.Duration) error {
	if n < 1 || size < 1 || warm < 0 {
		return fmt.Errorf("need -n ≥ 1, -size ≥ 1, -warmup ≥ 0 (got %d, %d, %d)", n, size, warm)
	}
	where := "in-process server"
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen on 127.0.0.1: %w", err)
		}
		defer ln.Close()
		go func() { _ = serve(ln, size) }()
		addr = ln.Addr().String()
	} else {
		where = "server " + addr
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = 'e'
	}
	buf := make([]byte, size)
	rtt := make([]time.Duration, n)
	next := time.Now()
	for i := -warm; i < n; i++ {
		if every > 0 {
			next = next.Add(every)
			time.Sleep(time.Until(next))
		}
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("write to %s: %w", c.RemoteAddr(), err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return fmt.Errorf("read from %s: %w", c.RemoteAddr(), err)
		}
		if i >= 0 {
			rtt[i] = time.Since(t0)
		}
	}
	slices.Sort(rtt)
	us := func(q float64) float64 { return float64(rtt[int(q*float64(n-1))].Nanoseconds()) / 1e3 }
	fmt.Printf("pingpong: %d round trips of %d bytes over TCP (%s, every %v): min %.1f µs, p50 %.1f µs, p90 %.1f µs, p99 %.1f µs, max %.1f µs\n",
		n, size, where, every, us(0), us(0.5), us(0.9), us(0.99), us(1))
	return nil
}

// serve accepts one client and echoes each of its size-byte messages back
// unchanged until it goes away. Only a failed accept is an error.
func serve(ln net.Listener, size int) error {
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
	}
	defer c.Close()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return nil
		}
		if _, err := c.Write(buf); err != nil {
			return nil
		}
	}
}
