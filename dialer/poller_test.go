package dialer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func newPoller(t *testing.T, n int) *Poller {
	t.Helper()
	p, err := NewPoller(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// pollDial dials url and clears the read deadline dial sets (WaitEach
// keeps its own).
func pollDial(t *testing.T, url string) *Conn {
	t.Helper()
	c := dial(t, Options{}, url)
	_ = c.SetReadDeadline(time.Time{})
	if !c.Pollable() {
		t.Fatal("a plain TCP connection is not Pollable")
	}
	return c
}

// TestWaitEachTrickle: messages arriving one by one, sometimes split and
// sometimes larger than the read buffer, all reach fn in order while the
// caller is parked and a loop reads (a lost wake-up stalls to the end).
func TestWaitEachTrickle(t *testing.T) {
	const n = trickleN
	url := trickleServer(t)
	p := newPoller(t, 2)
	c := pollDial(t, url)
	got := 0
	fn := func(m Message) bool {
		if want := trickleMsg(got); !bytes.Equal(m.Payload, want) {
			t.Errorf("message %d: got %d bytes %.10q, want %.10q", got, len(m.Payload), m.Payload, want)
		}
		got++
		return got%50 == 0 // several waits, each ended by fn
	}
	for got < n {
		if err := c.WaitEach(p, fn, time.Now().Add(20*time.Second)); err != nil {
			t.Fatalf("WaitEach: %v after %d of %d messages", err, got, n)
		}
	}
}

// TestWaitEachEchoGorilla: many connections to a server we did not write
// (gorilla) do round trips at once, each waiting for its echo through two
// loops, as VUs do.
func TestWaitEachEchoGorilla(t *testing.T) {
	srv := gorillaServer(t, websocket.Upgrader{}, echo)
	p := newPoller(t, 2)
	const conns, trips = 40, 300
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for k := range conns {
		c := pollDial(t, wsURL(srv))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range trips {
				want := fmt.Sprintf("c%d-%d", k, i)
				if err := c.WriteText([]byte(want)); err != nil {
					errs <- err
					return
				}
				var got string
				err := c.WaitEach(p, func(m Message) bool { got = string(m.Payload); return true }, time.Now().Add(10*time.Second))
				if err != nil || got != want {
					errs <- fmt.Errorf("conn %d trip %d: got %q, %v; want %q", k, i, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWaitEachDeadline: a wait with nothing to read ends with
// os.ErrDeadlineExceeded, not before its end; the connection stays usable,
// and a later message reaches the next wait. Waits with mixed ends on one
// loop each end at their own (the heap re-arms the loop's deadline).
func TestWaitEachDeadline(t *testing.T) {
	release := make(chan struct{})
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		<-release
		_, _ = nc.Write(frame(0x81, []byte("late")))
		time.Sleep(time.Second)
	})
	p := newPoller(t, 1)
	const n = 12
	cs := make([]*Conn, n)
	for i := range cs {
		cs[i] = pollDial(t, url)
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end := time.Now().Add(time.Duration(20+(i*37)%120) * time.Millisecond)
			err := c.WaitEach(p, func(m Message) bool { t.Errorf("conn %d: message %q before any was sent", i, m.Payload); return true }, end)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("conn %d: got %v, want the deadline", i, err)
			}
			if now := time.Now(); now.Before(end) {
				t.Errorf("conn %d: returned %v before its end", i, end.Sub(now))
			}
		}()
	}
	wg.Wait()
	close(release)
	for i, c := range cs {
		var got string
		err := c.WaitEach(p, func(m Message) bool { got = string(m.Payload); return true }, time.Now().Add(10*time.Second))
		if err != nil || got != "late" {
			t.Fatalf("conn %d after a timeout: got %q, %v", i, got, err)
		}
	}
}

// TestWaitEachBufferedFirst: messages that came in one segment with the one
// that ended the previous wait are handed over by the next wait without
// parking, and a fn that stops mid-batch loses nothing.
func TestWaitEachBufferedFirst(t *testing.T) {
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		_, _ = nc.Write(append(append(frame(0x81, []byte("one")), frame(0x81, []byte("two"))...), frame(0x81, []byte("three"))...))
		time.Sleep(time.Second)
	})
	p := newPoller(t, 1)
	c := pollDial(t, url)
	for _, want := range []string{"one", "two", "three"} {
		var got string
		if err := c.WaitEach(p, func(m Message) bool { got = string(m.Payload); return true }, time.Now().Add(5*time.Second)); err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
}

// TestWaitEachCloseWakes: Close from another goroutine (a cancelled VU's
// hook) wakes a parked wait at once with a closed-connection error, not
// the deadline.
func TestWaitEachCloseWakes(t *testing.T) {
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) { time.Sleep(time.Second) })
	p := newPoller(t, 1)
	c := pollDial(t, url)
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Close()
	}()
	err := c.WaitEach(p, func(Message) bool { return true }, time.Now().Add(time.Hour))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("got %v, want a closed-connection error", err)
	}
	if err2 := c.WaitEach(p, func(Message) bool { return true }, time.Now().Add(time.Hour)); err2 == nil {
		t.Fatal("a wait on a closed connection returned nil")
	}
}

// TestWaitEachPeerClose: the server's close frame and a dropped socket
// end a parked wait with the same errors ReadMessage gives.
func TestWaitEachPeerClose(t *testing.T) {
	p := newPoller(t, 1)
	t.Run("close frame", func(t *testing.T) {
		url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
			time.Sleep(50 * time.Millisecond)
			_, _ = nc.Write(frame(0x88, []byte{0x03, 0xe9, 'b', 'y', 'e'}))
			time.Sleep(time.Second)
		})
		c := pollDial(t, url)
		err := c.WaitEach(p, func(Message) bool { return true }, time.Now().Add(time.Hour))
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("got %v, want *CloseError 1001", err)
		}
	})
	t.Run("dropped", func(t *testing.T) {
		url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
			time.Sleep(50 * time.Millisecond)
			nc.Close()
		})
		c := pollDial(t, url)
		err := c.WaitEach(p, func(Message) bool { return true }, time.Now().Add(time.Hour))
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("got %v, want the dropped connection's error", err)
		}
	})
}

// TestWaitEachPing: pings that arrive while the caller is parked are
// answered by the loop (gorilla's server sees the pongs) and the wait
// goes on.
func TestWaitEachPing(t *testing.T) {
	var pongs atomic.Int32
	srv := gorillaServer(t, websocket.Upgrader{}, func(ws *websocket.Conn, _ *http.Request) {
		ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		for i := range 5 {
			if err := ws.WriteControl(websocket.PingMessage, []byte{byte(i)}, time.Now().Add(time.Second)); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		for pongs.Load() < 5 {
			time.Sleep(5 * time.Millisecond)
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte("done"))
		time.Sleep(time.Second)
	})
	p := newPoller(t, 1)
	c := pollDial(t, wsURL(srv))
	var got string
	if err := c.WaitEach(p, func(m Message) bool { got = string(m.Payload); return true }, time.Now().Add(10*time.Second)); err != nil || got != "done" {
		t.Fatalf("got %q, %v (pongs seen: %d)", got, err, pongs.Load())
	}
}

// TestPollerCloseWakes: closing the Poller ends parked waits with an error
// and later waits fail.
func TestPollerCloseWakes(t *testing.T) {
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) { time.Sleep(time.Second) })
	p, err := NewPoller(2)
	if err != nil {
		t.Fatal(err)
	}
	c := pollDial(t, url)
	go func() {
		time.Sleep(50 * time.Millisecond)
		p.Close()
	}()
	if err := c.WaitEach(p, func(Message) bool { return true }, time.Now().Add(time.Hour)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want the poller's end", err)
	}
	c2 := pollDial(t, url)
	if err := c2.WaitEach(p, func(Message) bool { return true }, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("a wait on a closed Poller returned nil")
	}
}

// TestWaitEachNotPollable: a wrapped connection is refused, not mishandled.
func TestWaitEachNotPollable(t *testing.T) {
	srv := gorillaServer(t, websocket.Upgrader{}, echo)
	c := dial(t, Options{WrapConn: func(nc net.Conn) net.Conn { return struct{ net.Conn }{nc} }}, wsURL(srv))
	if c.Pollable() {
		t.Fatal("a wrapped connection claims to be Pollable")
	}
	if err := c.WaitEach(newPoller(t, 1), func(Message) bool { return true }, time.Now().Add(time.Second)); err == nil {
		t.Fatal("WaitEach on a wrapped connection returned nil")
	}
}

// pingPongPair returns the client side of a loopback pair whose server
// side answers each masked "ping-pong" frame with the same text unmasked,
// allocating nothing (AllocsPerRun counts every goroutine's allocations).
func pingPongPair(t *testing.T) (net.Conn, []byte) {
	cn, sn := loopbackPair(t)
	msg := []byte("ping-pong")
	reply := frame(0x81, msg)
	go func() {
		var in [2 + 4 + len("ping-pong")]byte
		for {
			if _, err := io.ReadFull(sn, in[:]); err != nil {
				return
			}
			if _, err := sn.Write(reply); err != nil {
				return
			}
		}
	}()
	return cn, msg
}

// TestWaitEachAllocs: a round trip through WaitEach allocates nothing once
// the connection is registered.
func TestWaitEachAllocs(t *testing.T) {
	cn, msg := pingPongPair(t)
	p := newPoller(t, 1)
	c := newConn(cn, 1, DefaultReadBufferSize, DefaultMaxMessageSize, nil, nil, nil)
	fn := func(Message) bool { return true }
	trip := func() {
		if err := c.WriteText(msg); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitEach(p, fn, time.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	trip()
	if a := testing.AllocsPerRun(500, trip); a != 0 {
		t.Fatalf("%v allocs per round trip, want 0", a)
	}
}

// TestWaitEachLoopNotStalled: a server that pings and never reads (a
// hostile peer) must not stall the loop it shares with other connections:
// the loop's pongs give up after loopWriteSlack and are finished later.
// With a short ControlWriteTimeout the flooded connection fails with a
// *StallError (written from inside the loop, which then must not deadlock).
func TestWaitEachLoopNotStalled(t *testing.T) {
	p := newPoller(t, 1) // one loop for both connections
	srv := gorillaServer(t, websocket.Upgrader{}, echo)
	t.Run("neighbour served", func(t *testing.T) {
		flooded := dialWith(t, Options{ControlWriteTimeout: time.Minute, WrapConn: smallSendBuffer}, pingFlood(t))
		done := make(chan error, 1)
		go func() {
			done <- flooded.WaitEach(p, func(Message) bool { return false }, time.Now().Add(8*time.Second))
		}()
		c := pollDial(t, wsURL(srv))
		for i := range 100 {
			if err := c.WriteText([]byte("x")); err != nil {
				t.Fatal(err)
			}
			// A loop blocked on the flooded connection's pong (up to a
			// minute) would let this two-second wait expire.
			if err := c.WaitEach(p, func(Message) bool { return true }, time.Now().Add(2*time.Second)); err != nil {
				t.Fatalf("round trip %d beside the flooded connection: %v", i, err)
			}
		}
		flooded.Close()
		<-done
	})
	t.Run("stall fails the connection", func(t *testing.T) {
		flooded := dialWith(t, Options{ControlWriteTimeout: 300 * time.Millisecond, WrapConn: smallSendBuffer}, pingFlood(t))
		var err error
		for range 100 {
			if err = flooded.WaitEach(p, func(Message) bool { return false }, time.Now().Add(10*time.Second)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			break
		}
		var se *StallError
		if !errors.As(err, &se) {
			t.Fatalf("got %v, want *StallError", err)
		}
	})
}

func dialWith(t *testing.T, o Options, url string) *Conn {
	t.Helper()
	c := dial(t, o, url)
	_ = c.SetReadDeadline(time.Time{})
	return c
}

// TestWaitEachStress: many connections on two loops, messages arriving at
// random moments, waits with short random ends that fn sometimes ends
// early, and now and then a plain ReadMessage between waits: every message
// must reach a reader exactly once and in order, and a wait returns nil
// only when fn said so.
func TestWaitEachStress(t *testing.T) {
	const conns, msgs = 200, 150
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		for i := range msgs {
			if _, err := nc.Write(frame(0x81, []byte(fmt.Sprint(i)))); err != nil {
				return
			}
			if i%5 != 0 {
				time.Sleep(time.Duration(i%4) * 500 * time.Microsecond)
			}
		}
		time.Sleep(2 * time.Second)
	})
	p := newPoller(t, 2)
	var wg sync.WaitGroup
	for k := range conns {
		c := pollDial(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			next, stop := 0, false
			check := func(m Message) {
				if got := string(m.Payload); got != fmt.Sprint(next) {
					t.Errorf("conn %d: got message %q, want %d", k, got, next)
				}
				next++
			}
			for round := 0; next < msgs; round++ {
				if round%17 == 16 {
					_ = c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
					m, err := c.ReadMessage()
					_ = c.SetReadDeadline(time.Time{})
					if err == nil {
						check(m)
					} else if !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Errorf("conn %d: ReadMessage: %v", k, err)
						return
					}
					continue
				}
				stop = false
				want := 1 + (k+round)%3
				seen := 0
				err := c.WaitEach(p, func(m Message) bool {
					check(m)
					seen++
					stop = seen == want
					return stop
				}, time.Now().Add(time.Duration(1+(k*7+round)%10)*time.Millisecond))
				switch {
				case err == nil && !stop:
					t.Errorf("conn %d: a wait returned nil though fn did not end it", k)
					return
				case err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
					t.Errorf("conn %d: WaitEach: %v after %d messages", k, err, next)
					return
				}
				if t.Failed() {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, lp := range p.loops {
		if err := lp.checkHeap(); err != nil {
			t.Errorf("loop %d: %v", i, err)
		}
	}
}

// checkHeap verifies the deadline heap: each entry's hidx is its index, no
// registration is in it twice, and parents are due no later than children.
func (lp *loop) checkHeap() error {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	seen := map[*pollWait]bool{}
	for i, pw := range lp.timers {
		if seen[pw] {
			return fmt.Errorf("entry %d: registration twice in the heap", i)
		}
		seen[pw] = true
		if pw.hidx != i {
			return fmt.Errorf("entry %d: hidx %d", i, pw.hidx)
		}
		if i > 0 && lp.timers[(i-1)/2].due > pw.due {
			return fmt.Errorf("entry %d: due before its parent", i)
		}
	}
	return nil
}

// TestWaitEachPongCutIsNotTheEnd: a pong the loop gives up on after
// loopWriteSlack (a server that stops reading for a while, or, under load,
// a loop descheduled past that slack) is not the wait's end: the wait goes
// on, its waiter finishes the pong within ControlWriteTimeout, and the
// awaited message still ends it with nil. Before the fix the wait ended
// with a timeout long before its end, which a scenario counted as an
// expect timeout (seen in CI: TestChainMatchesSteps).
func TestWaitEachPongCutIsNotTheEnd(t *testing.T) {
	p := newPoller(t, 1)
	ping := frame(0x89, []byte(strings.Repeat("p", 125)))
	burst := make([]byte, 0, 64*len(ping))
	for range 64 {
		burst = append(burst, ping...)
	}
	finished := make(chan struct{})
	url := rawServer(t, nil, func(nc net.Conn, br *bufio.Reader) {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		// Once the client is parked (its loop reads), 1,024 pings (their
		// pongs are far more than the client's send buffer and this read
		// buffer hold), read by nobody for 300 ms, then the message the
		// client waits for.
		time.Sleep(200 * time.Millisecond)
		go func() {
			time.Sleep(300 * time.Millisecond)
			_, _ = io.Copy(io.Discard, br)
		}()
		for range 16 {
			if _, err := nc.Write(burst); err != nil {
				return
			}
		}
		_, _ = nc.Write(frame(0x81, []byte("done")))
		select { // open until the client has its answer
		case <-finished:
		case <-time.After(30 * time.Second):
		}
	})
	c := dialWith(t, Options{ControlWriteTimeout: 5 * time.Second, WrapConn: smallSendBuffer}, url)
	start := time.Now()
	// A generous end: under the race detector every pong may be cut, and
	// each cut costs a hand-off between loop and waiter (1,024 of them).
	err := c.WaitEach(p, func(m Message) bool { return string(m.Payload) == "done" }, start.Add(20*time.Second))
	close(finished)
	if err != nil {
		t.Fatalf("wait ended after %v with %v, want nil (the awaited message)", time.Since(start).Round(time.Millisecond), err)
	}
}

// TestWaitEachCloseUnderFlood closes connections from other goroutines
// while the loops read floods of numbered messages for their waiters, and
// opens new ones in their place, which get the closed ones' descriptor
// numbers. The loop reads a waiter's descriptor itself (readLoop), so this
// is the check that it never reads one after Close: every connection must
// see its own numbers in order from 0, and every wait must end with the
// close, not with a protocol or sequence error.
func TestWaitEachCloseUnderFlood(t *testing.T) {
	const rounds, conns = 6, 40
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		for i := 0; ; i++ {
			if _, err := nc.Write(frame(0x81, []byte(fmt.Sprint(i)))); err != nil {
				return
			}
			if i%64 == 63 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	})
	p := newPoller(t, 2)
	for round := range rounds {
		var wg sync.WaitGroup
		for k := range conns {
			c := pollDial(t, url)
			wg.Add(2)
			go func() {
				defer wg.Done()
				next := 0
				err := c.WaitEach(p, func(m Message) bool {
					if got := string(m.Payload); got != fmt.Sprint(next) {
						t.Errorf("round %d conn %d: got message %q, want %d", round, k, got, next)
						return true
					}
					next++
					return false
				}, time.Now().Add(10*time.Second))
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("round %d conn %d: wait ended with %v after %d messages, want the close", round, k, err, next)
				}
			}()
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(1+(round*conns+k)%7) * time.Millisecond)
				_ = c.Close()
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}
