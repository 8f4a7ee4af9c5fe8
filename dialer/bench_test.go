package dialer

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// loopbackPair returns the client and server ends of a TCP connection on
// 127.0.0.1.
func loopbackPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server = <-acc
	if server == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// BenchmarkWriteText64 sends 64-byte text frames over loopback TCP: one
// masked frame, one write syscall, 0 allocs/op.
func BenchmarkWriteText64(b *testing.B) {
	cn, sn := loopbackPair(b)
	go func() { _, _ = io.Copy(io.Discard, sn) }()
	c := newConn(cn, 1, DefaultReadBufferSize, DefaultMaxMessageSize, nil, nil, nil)
	p := bytes.Repeat([]byte("x"), 64)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.WriteText(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadText64 receives 64-byte text frames over loopback TCP from a
// peer writing them as fast as it can: 0 allocs/op.
func BenchmarkReadText64(b *testing.B) {
	cn, sn := loopbackPair(b)
	one := frame(0x81, bytes.Repeat([]byte("y"), 64))
	burst := bytes.Repeat(one, 256)
	go func() {
		for {
			if _, err := sn.Write(burst); err != nil {
				return
			}
		}
	}()
	c := newConn(cn, 1, DefaultReadBufferSize, DefaultMaxMessageSize, nil, nil, nil)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m, err := c.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Payload) != 64 || m.Op != ws.OpText {
			b.Fatalf("got %v %d bytes", m.Op, len(m.Payload))
		}
	}
}

// BenchmarkReadPingAnswer reads a ping (answered with a pong write inside
// ReadMessage) or a 1-byte text per op: 0 allocs/op.
func BenchmarkReadPingAnswer(b *testing.B) {
	cn, sn := loopbackPair(b)
	ping := frame(0x89, bytes.Repeat([]byte("p"), 16))
	text := frame(0x81, []byte("t"))
	msg := append(append([]byte(nil), ping...), text...)
	go func() { _, _ = io.Copy(io.Discard, sn) }()
	go func() {
		for {
			if _, err := sn.Write(msg); err != nil {
				return
			}
		}
	}()
	c := newConn(cn, 1, DefaultReadBufferSize, DefaultMaxMessageSize, nil, nil, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// fakeConn is a net.Conn that reads a fixed byte stream and discards
// writes, for fuzzing and allocation tests without sockets.
type fakeConn struct {
	r       *bytes.Reader
	written int
}

func (f *fakeConn) Read(p []byte) (int, error)         { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error)        { f.written += len(p); return len(p), nil }
func (f *fakeConn) Close() error                       { return nil }
func (f *fakeConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (f *fakeConn) SetDeadline(_ time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(_ time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(_ time.Time) error { return nil }

func TestSteadyStateAllocs(t *testing.T) {
	one := frame(0x81, bytes.Repeat([]byte("y"), 64))
	stream := bytes.Repeat(one, 2000)
	c := newConn(&fakeConn{r: bytes.NewReader(stream)}, 1, DefaultReadBufferSize, DefaultMaxMessageSize, nil, nil, nil)
	p := bytes.Repeat([]byte("x"), 64)
	_ = c.WriteText(p) // grows the write buffer once
	n := testing.AllocsPerRun(1000, func() {
		if _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteText(p); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs per read+write, want 0", n)
	}
}
