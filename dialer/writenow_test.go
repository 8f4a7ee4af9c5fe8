package dialer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWaitEachChainGorilla: round trips run to completion inside the
// callback (each echo answered from the loop by the next send, with
// SetWaitEnd giving every trip its own timeout), on many connections to
// gorilla's echo server at once; every echo comes back in order.
func TestWaitEachChainGorilla(t *testing.T) {
	srv := gorillaServer(t, websocket.Upgrader{}, echo)
	p := newPoller(t, 2)
	const conns, trips = 40, 500
	var wg sync.WaitGroup
	for k := range conns {
		c := pollDial(t, wsURL(srv))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, got, woken := 0, 0, 0
			var buf []byte
			next := func() []byte {
				buf = fmt.Appendf(buf[:0], "c%d-%d", k, sent)
				sent++
				return buf
			}
			if err := c.WriteText(next()); err != nil {
				t.Error(err)
				return
			}
			fn := func(m Message) bool {
				if want := fmt.Sprintf("c%d-%d", k, got); string(m.Payload) != want {
					t.Errorf("conn %d: got %q, want %q", k, m.Payload, want)
					return true
				}
				got++
				if sent == trips {
					return true
				}
				flushed, err := c.WriteTextNow(next())
				if err != nil {
					t.Errorf("conn %d: WriteTextNow: %v", k, err)
					return true
				}
				c.SetWaitEnd(time.Now().Add(5 * time.Second))
				return !flushed // a frame kept for later: its owner goes on
			}
			for got < trips {
				woken++
				if err := c.WaitEach(p, fn, time.Now().Add(5*time.Second)); err != nil {
					t.Errorf("conn %d: WaitEach after %d echoes: %v", k, got, err)
					return
				}
			}
			if woken > trips/10 {
				t.Logf("conn %d: %d wake-ups for %d round trips", k, woken, trips)
			}
		}()
	}
	wg.Wait()
}

// TestSetWaitEnd: a callback that moves its wait's end keeps the wait
// alive past the first end (messages every 30 ms, each extending the end by
// 80 ms, outlive an end 80 ms after the start), and once it stops
// extending, the wait ends at the last end it set.
func TestSetWaitEnd(t *testing.T) {
	const n = 8
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		for i := range n {
			time.Sleep(30 * time.Millisecond)
			if _, err := nc.Write(frame(0x81, fmt.Appendf(nil, "m%d", i))); err != nil {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	})
	p := newPoller(t, 1)
	c := pollDial(t, url)
	got := 0
	var last time.Time
	fn := func(Message) bool {
		got++
		last = time.Now().Add(80 * time.Millisecond)
		c.SetWaitEnd(last)
		return false
	}
	err := c.WaitEach(p, fn, time.Now().Add(80*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	if got != n {
		t.Fatalf("%d of %d messages before the end", got, n)
	}
	if now := time.Now(); now.Before(last) {
		t.Fatalf("ended %v before the last end set", last.Sub(now))
	}
}

// TestWriteTextNowPartial: a frame larger than the socket takes while the
// server is not reading goes out in part; the rest is kept and written,
// before the next frame, by the next wait; the server gets both frames
// whole and in order. A frame written while a rest is kept queues behind
// it without a system call.
func TestWriteTextNowPartial(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	start := make(chan struct{})
	frames := make(chan []byte, 3)
	url := rawServer(t, nil, func(nc net.Conn, br *bufio.Reader) {
		<-start
		for range 3 {
			op, p, err := readClientFrame(br)
			if err != nil || op != 1 {
				t.Errorf("server: frame op %d, %v", op, err)
				return
			}
			frames <- p
		}
		_, _ = nc.Write(frame(0x81, []byte("done")))
		_, _ = io.Copy(io.Discard, br)
	})
	p := newPoller(t, 1)
	c := pollDial(t, url)
	flushed, err := c.WriteTextNow(big)
	if err != nil || flushed {
		t.Fatalf("WriteTextNow of 4 MiB to a server not reading: flushed %v, %v; want a kept rest", flushed, err)
	}
	for _, m := range []string{"second", "third"} {
		if flushed, err := c.WriteTextNow([]byte(m)); err != nil || flushed {
			t.Fatalf("WriteTextNow behind a kept rest: flushed %v, %v", flushed, err)
		}
	}
	close(start)
	var got string
	if err := c.WaitEach(p, func(m Message) bool { got = string(m.Payload); return true }, time.Now().Add(10*time.Second)); err != nil || got != "done" {
		t.Fatalf("WaitEach: %q, %v", got, err)
	}
	for i, want := range [][]byte{big, []byte("second"), []byte("third")} {
		if p := <-frames; !bytes.Equal(p, want) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(p), len(want))
		}
	}
	if flushed, err := c.WriteTextNow([]byte("after")); err != nil || !flushed {
		t.Fatalf("WriteTextNow after the rest went: flushed %v, %v", flushed, err)
	}
}

// TestWriteTextNowErrors: after our close frame, WriteTextNow fails like
// WriteText; on a connection that is not Pollable it says so.
func TestWriteTextNowErrors(t *testing.T) {
	srv := gorillaServer(t, websocket.Upgrader{}, echo)
	c := pollDial(t, wsURL(srv))
	if err := c.SendClose(1000, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTextNow([]byte("x")); !errors.Is(err, ErrCloseSent) {
		t.Fatalf("after SendClose: %v, want ErrCloseSent", err)
	}
	w := dialWith(t, Options{WrapConn: func(nc net.Conn) net.Conn { return struct{ net.Conn }{nc} }}, wsURL(srv))
	if _, err := w.WriteTextNow([]byte("x")); !errors.Is(err, errNotPollable) {
		t.Fatalf("wrapped connection: %v, want errNotPollable", err)
	}
}

// TestWaitEachChainAllocs: a round trip run to completion in the callback
// (WriteTextNow, SetWaitEnd) allocates nothing.
func TestWaitEachChainAllocs(t *testing.T) {
	cn, msg := pingPongPair(t)
	p := newPoller(t, 1)
	c := newConn(cn, 1, DefaultReadBufferSize, DefaultMaxMessageSize, nil, nil, nil)
	left := 0
	fn := func(Message) bool {
		if left--; left <= 0 {
			return true
		}
		flushed, err := c.WriteTextNow(msg)
		if err != nil {
			t.Fatal(err)
		}
		c.SetWaitEnd(time.Now().Add(10 * time.Second))
		return !flushed
	}
	trips := func() {
		left = 10
		if err := c.WriteText(msg); err != nil {
			t.Fatal(err)
		}
		for left > 0 {
			if err := c.WaitEach(p, fn, time.Now().Add(10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	trips()
	if a := testing.AllocsPerRun(200, trips); a != 0 {
		t.Fatalf("%v allocs per 10 round trips, want 0", a)
	}
}
