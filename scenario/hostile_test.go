package scenario

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsbench/wsbench/report"
)

// hostileServer accepts raw TCP connections on 127.0.0.1 and hands each to
// serve (which may do the upgrade itself, or not). rcvbuf, when positive, is
// the receive buffer of the listening socket, which accepted connections
// inherit before their first window is advertised (set after the accept,
// the window already offered stays open).
func hostileServer(t *testing.T, rcvbuf int, serve func(net.Conn)) string {
	t.Helper()
	var lc net.ListenConfig
	if rcvbuf > 0 {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
				serve(nc)
			}()
		}
	}()
	return "ws://" + ln.Addr().String()
}

func runHostile(t *testing.T, src, base string) *report.Results {
	t.Helper()
	p, err := Parse("hostile.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	reg := report.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Every hostile run ends within 10 s; one still going at 15 s is a
	// hang, and its goroutines are what a failure report needs.
	stacks := make(chan []byte, 1)
	watch := time.AfterFunc(15*time.Second, func() {
		b := make([]byte, 1<<20)
		stacks <- b[:runtime.Stack(b, true)]
	})
	defer func() {
		if !watch.Stop() {
			t.Errorf("the run was still going after 15s; its goroutines then:\n%s", <-stacks)
		}
	}()
	start := time.Now()
	if err := Run(ctx, p, RunOptions{BaseURL: base, Registry: reg, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the run took %v", time.Since(start).Round(time.Millisecond)) // shown when a test fails
	if ctx.Err() != nil {
		t.Fatal("the run did not end")
	}
	return reg.Results(report.Meta{})
}

// A server that drips its 101 one byte at a time, in a run shorter than the
// handshake timeout: the upgrade cut by the end of the run is counted as a
// handshake timeout, not dropped silently.
func TestDrippedUpgradeCountedAtRunEnd(t *testing.T) {
	base := hostileServer(t, 0, func(nc net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(nc)); err != nil {
			return
		}
		for _, b := range []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n") {
			if _, err := nc.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	r := runHostile(t, `
vus: 1
duration: 500ms
graceful_stop: 100ms
steps:
  - connect: {handshake_timeout: 30s}
`, base)
	wantCounters(t, r, map[string]int64{"conn.failed.timeout": 1, "errors.handshake": 1, "conn.opened": 0})
}

// A server that floods pings and never reads: an expect keeps its timeout
// (the pong write is bounded by it), and once a pong has waited the
// dialer's control write timeout (5s) the connection fails as a stall,
// counted in the summary; the run ends on time.
func TestPingFloodCountedAsStall(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5s control write timeout")
	}
	// 64 pings of 125 bytes per write.
	ping := []byte(strings.Repeat("\x89\x7d"+strings.Repeat("p", 125), 64))
	// A server receive window of a few KiB: the pongs fill it and the
	// client's send buffer within a few hundred pings, however slowly the
	// client reads (under the race detector too): a pong waits within
	// the first second, and the stall comes ControlWriteTimeout (5s)
	// after it, inside the 7s run.
	base := hostileServer(t, 4<<10, func(nc net.Conn) {
		if _, err := ws.Upgrade(nc); err != nil {
			return
		}
		for {
			if _, err := nc.Write(ping); err != nil {
				return
			}
		}
	})
	r := runHostile(t, `
vus: 1
duration: 7s
graceful_stop: 500ms
steps:
  - connect: {recv_buffer: 4096}
  - expect: {regex: '^never$', timeout: 1s, on_timeout: continue}
  - expect: {regex: '^never$', timeout: 20s}
`, base)
	if n := counter(r, "errors.expect_timeout"); n < 1 {
		t.Errorf("errors.expect_timeout = %d, want the 1s expect to time out while a pong could not be written", n)
	}
	if n := counter(r, "errors.stall"); n < 1 {
		t.Errorf("errors.stall = %d, want the stalled connection counted (counters %v)", n, r.Counters)
	}
}
