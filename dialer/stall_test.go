package dialer

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// pingFlood is a raw server that, after the upgrade, sends 125-byte pings
// as fast as it can and never reads.
func pingFlood(t *testing.T) string {
	t.Helper()
	ping := frame(0x89, []byte(strings.Repeat("p", 125)))
	burst := make([]byte, 0, 64*len(ping))
	for range 64 {
		burst = append(burst, ping...)
	}
	return rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		for {
			if _, err := nc.Write(burst); err != nil {
				return
			}
		}
	})
}

// smallSendBuffer makes the client's socket fill up quickly.
func smallSendBuffer(nc net.Conn) net.Conn {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return nc
}

// A server that floods pings and never reads fails the connection with a
// stall once a pong cannot be written within ControlWriteTimeout, instead
// of blocking the reader for good.
func TestPingFloodStalls(t *testing.T) {
	url := pingFlood(t)
	c := dial(t, Options{ControlWriteTimeout: 300 * time.Millisecond, WrapConn: smallSendBuffer}, url)
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	var err error
	for err == nil {
		_, err = c.ReadMessage()
	}
	var se *StallError
	if !errors.As(err, &se) || se.Frame != 0xa {
		t.Fatalf("ReadMessage: %v, want a StallError on a pong", err)
	}
	if Kind(err) != KindStall || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Kind = %s (deadline error: %v), want stall and not a read timeout", Kind(err), errors.Is(err, os.ErrDeadlineExceeded))
	}
	if _, err2 := c.ReadMessage(); err2 != err {
		t.Errorf("the stall is not sticky: %v", err2)
	}
	if err := c.WriteText([]byte("x")); !errors.As(err, &se) {
		t.Errorf("WriteText after a stall: %v, want the StallError", err)
	}
	if err := c.SendClose(1000, ""); !errors.As(err, &se) {
		t.Errorf("SendClose after a stall: %v, want the StallError", err)
	}
}

// A read with a deadline returns at its deadline even while a pong waits to
// be written: an expect keeps its timeout. The pong is finished later, and
// the stall is declared only once ControlWriteTimeout has passed since it
// was begun.
func TestPongWaitKeepsReadDeadline(t *testing.T) {
	url := pingFlood(t)
	c := dial(t, Options{ControlWriteTimeout: time.Second, WrapConn: smallSendBuffer}, url)
	var err error
	for err == nil {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = c.ReadMessage()
	}
	var se *StallError
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &se) {
		t.Fatalf("ReadMessage with a 100ms deadline: %v, want a read timeout first (the pong write bounded by the read deadline)", err)
	}
	if !c.hasPend.Load() {
		t.Fatal("no pong waiting to be finished after the read timed out")
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		if _, err = c.ReadMessage(); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	if !errors.As(err, &se) {
		t.Fatalf("later ReadMessage: %v, want the StallError", err)
	}
}

// dripServer sends the 101 response head one byte every gap.
func dripServer(t *testing.T, gap time.Duration) string {
	t.Helper()
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	return headServerFunc(t, func(nc net.Conn) {
		for i := range len(resp) {
			if _, err := nc.Write([]byte{resp[i]}); err != nil {
				return
			}
			time.Sleep(gap)
		}
	})
}

// A 101 dripped byte by byte is a handshake timeout at HandshakeTimeout,
// and also when the dial's context ends first (a run shorter than the
// timeout): never a silent cancellation.
func TestDrippedUpgradeTimesOut(t *testing.T) {
	url := dripServer(t, 50*time.Millisecond)
	_, _, err := NewDialer(Options{HandshakeTimeout: 300 * time.Millisecond}).Dial(context.Background(), url)
	if !errors.Is(err, ErrHandshakeTimeout) || Kind(err) != KindTimeout {
		t.Fatalf("dripped 101 with a 300ms handshake timeout: %v (kind %s), want a handshake timeout", err, Kind(err))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err = NewDialer(Options{HandshakeTimeout: time.Minute}).Dial(ctx, url)
	if !errors.Is(err, ErrHandshakeTimeout) || !errors.Is(err, context.DeadlineExceeded) || Kind(err) != KindTimeout {
		t.Fatalf("dripped 101 cut by the context: %v (kind %s), want a handshake timeout wrapping the context's end", err, Kind(err))
	}
	if !strings.Contains(err.Error(), "cut after") {
		t.Errorf("error %q does not say the upgrade was cut", err)
	}
}

// A reader blocked writing a pong returns when another goroutine moves the
// read deadline into the past (how a virtual user stops its helper reader),
// with a read timeout, not after ControlWriteTimeout with a stall.
func TestReadDeadlineStopsPongWrite(t *testing.T) {
	url := pingFlood(t)
	c := dial(t, Options{ControlWriteTimeout: 5 * time.Second, WrapConn: smallSendBuffer}, url)
	_ = c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := c.ReadMessage(); err != nil {
				done <- err
				return
			}
		}
	}()
	// Wait until the reader is stuck in a pong write.
	for still := 0; still < 20; {
		if c.inReadWrite.Load() {
			still++
		} else {
			still = 0
		}
		select {
		case err := <-done:
			t.Fatalf("the reader ended before blocking on a pong: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = c.SetReadDeadline(time.Unix(1, 0))
	err := <-done
	var se *StallError
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &se) {
		t.Fatalf("ReadMessage: %v, want a timeout from the read deadline, not a stall", err)
	}
	if !c.hasPend.Load() {
		t.Error("the cut pong was not kept to be finished later")
	}
}

// An upgrade the context ends while the server has not answered yet, and
// only briefly, is a cancellation (a run's end catching a dial in flight),
// not a handshake timeout; one kept waiting past cutAsTimeoutAfter is.
func TestSilentUpgradeCut(t *testing.T) {
	url := headServerFunc(t, func(nc net.Conn) { time.Sleep(3 * cutAsTimeoutAfter) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := NewDialer(Options{HandshakeTimeout: time.Minute}).Dial(ctx, url)
	if err == nil || errors.Is(err, ErrHandshakeTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent server, dial cut after 100ms: %v, want the context's end, not a handshake timeout", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), cutAsTimeoutAfter+200*time.Millisecond)
	defer cancel()
	_, _, err = NewDialer(Options{HandshakeTimeout: time.Minute}).Dial(ctx, url)
	if !errors.Is(err, ErrHandshakeTimeout) || Kind(err) != KindTimeout {
		t.Fatalf("silent server, dial cut after %s: %v, want a handshake timeout", cutAsTimeoutAfter+200*time.Millisecond, err)
	}
}

// The same stall inside ReadEach, where the read runs in raw.Read's
// callback: closing the socket there would wait for that very call, so the
// close happens after it returns (this deadlocked before).
func TestPingFloodStallsReadEach(t *testing.T) {
	c := dial(t, Options{ControlWriteTimeout: 300 * time.Millisecond, WrapConn: smallSendBuffer}, pingFlood(t))
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	err := c.ReadEach(func(Message) bool { return false })
	var se *StallError
	if !errors.As(err, &se) || se.Frame != 0xa {
		t.Fatalf("ReadEach: %v, want a StallError on a pong", err)
	}
	if _, err := c.ReadMessage(); !errors.As(err, &se) {
		t.Fatalf("after the stall, ReadMessage: %v, want the same StallError", err)
	}
}
