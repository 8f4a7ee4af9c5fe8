package dialer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// trickleN messages come from trickleServer.
const trickleN = 300

// trickleMsg is trickleServer's message i: "m<i>", and in the middle one
// larger than the read buffer.
func trickleMsg(i int) []byte {
	if i == trickleN/2 {
		return bytes.Repeat([]byte("b"), 3*DefaultReadBufferSize)
	}
	return []byte(fmt.Sprintf("m%d", i))
}

// trickleServer sends trickleN messages one at a time, each as its own
// segment, sometimes right after the previous one and sometimes after a
// pause, and every seventh split over two writes.
func trickleServer(t *testing.T) string {
	return rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		for i := range trickleN {
			f := frame(0x81, trickleMsg(i))
			if i%7 == 3 {
				_, _ = nc.Write(f[:1])
				time.Sleep(time.Millisecond)
				f = f[1:]
			}
			if _, err := nc.Write(f); err != nil {
				return
			}
			if i%3 == 0 {
				time.Sleep(200 * time.Microsecond)
			}
		}
		time.Sleep(time.Second)
	})
}

// TestReadEachTrickle sends messages one at a time, each as its own
// segment, sometimes right after the previous one and sometimes after a
// pause, so the reader parks after short reads again and again: every
// message must arrive (a lost wake-up would stall until the deadline),
// in order, including a message split over two writes and one larger than
// the read buffer.
func TestReadEachTrickle(t *testing.T) {
	const n = trickleN
	url := trickleServer(t)
	c := dial(t, Options{}, url)
	if c.rawReader() == nil {
		t.Fatal("a plain TCP connection has no RawConn: ReadEach would not use its own read loop")
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := 0
	err := c.ReadEach(func(m Message) bool {
		if want := trickleMsg(got); !bytes.Equal(m.Payload, want) {
			t.Fatalf("message %d: got %d bytes %.10q, want %.10q", got, len(m.Payload), m.Payload, want)
		}
		got++
		return got == n
	})
	if err != nil || got != n {
		t.Fatalf("ReadEach: %v after %d of %d messages", err, got, n)
	}
}

// TestReadEachDeadlineAndBuffered: a ReadEach that times out leaves the
// connection usable, a message already buffered is handed over even after
// the deadline passed, and fn can stop in the middle of a batch.
func TestReadEachDeadlineAndBuffered(t *testing.T) {
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		time.Sleep(200 * time.Millisecond)
		_, _ = nc.Write(append(append(frame(0x81, []byte("one")), frame(0x81, []byte("two"))...), frame(0x81, []byte("three"))...))
		time.Sleep(time.Second)
	})
	c := dial(t, Options{}, url)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	err := c.ReadEach(func(Message) bool { t.Fatal("no message yet"); return true })
	if !errors.Is(err, os.ErrDeadlineExceeded) || Kind(err) != KindTimeout {
		t.Fatalf("got %v, want the deadline's timeout", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	if err := c.ReadEach(func(m Message) bool { got = append(got, string(m.Payload)); return true }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	_ = c.SetReadDeadline(time.Unix(1, 0)) // passed: only buffered messages come
	for range 2 {
		if err := c.ReadEach(func(m Message) bool { got = append(got, string(m.Payload)); return true }); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(got) != "[one two three]" {
		t.Fatalf("got %v", got)
	}
	err = c.ReadEach(func(Message) bool { t.Fatal("nothing more was sent"); return true })
	if Kind(err) != KindTimeout {
		t.Fatalf("got %v, want a timeout", err)
	}
}

// TestReadEachPeerClose: the peer's close frame ends ReadEach with the
// *CloseError, and every later call returns it.
func TestReadEachPeerClose(t *testing.T) {
	url := rawServer(t, nil, func(nc net.Conn, _ *bufio.Reader) {
		_, _ = nc.Write(frame(0x81, []byte("hi")))
		time.Sleep(20 * time.Millisecond)
		_, _ = nc.Write(frame(0x88, []byte{0x03, 0xe8, 'b', 'y', 'e'}))
		time.Sleep(200 * time.Millisecond)
	})
	c := dial(t, Options{}, url)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n := 0
	err := c.ReadEach(func(Message) bool { n++; return false })
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 || ce.Reason != "bye" || n != 1 {
		t.Fatalf("got %v after %d messages, want the peer's close 1000 bye after 1", err, n)
	}
	if err2 := c.ReadEach(func(Message) bool { return true }); err2 != err {
		t.Fatalf("second call: %v", err2)
	}
}

// TestReadEachAllocs: handing buffered messages over allocates nothing.
func TestReadEachAllocs(t *testing.T) {
	cn, sn := loopbackPair(t)
	burst := bytes.Repeat(frame(0x81, bytes.Repeat([]byte("y"), 64)), 64)
	go func() {
		for {
			if _, err := sn.Write(burst); err != nil {
				return
			}
		}
	}()
	c := newConn(cn, 1, DefaultReadBufferSize, DefaultMaxMessageSize, nil, nil, nil)
	k := 0
	fn := func(Message) bool { k++; return k%8 == 0 }
	_ = c.ReadEach(fn)
	if a := testing.AllocsPerRun(500, func() {
		if err := c.ReadEach(fn); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("%v allocs per ReadEach of 8 messages, want 0", a)
	}
}
