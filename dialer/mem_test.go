package dialer

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"runtime"
	"sync"
	"testing"
)

// lightServer upgrades connections with no heap buffers of its own (the
// request is read into a stack array), so that heap growth while dialing is
// the client's.
func lightServer(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	var mu sync.Mutex
	var conns []net.Conn
	tb.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf [1024]byte
				n := 0
				for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) && n < len(buf) {
					m, err := nc.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
				}
				const keyHdr = "Sec-WebSocket-Key: "
				i := bytes.Index(buf[:n], []byte(keyHdr))
				if i < 0 {
					return
				}
				key := buf[i+len(keyHdr):]
				key = key[:bytes.IndexByte(key, '\r')]
				h := sha1.Sum(append(key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"...))
				var rsp [256]byte
				r := append(rsp[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
				r = base64.StdEncoding.AppendEncode(r, h[:])
				r = append(r, "\r\n\r\n"...)
				if _, err := nc.Write(r); err != nil {
					return
				}
				_, _ = nc.Read(buf[:]) // park until closed
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// BenchmarkConnHeap dials 500 idle connections and reports the heap they
// hold, per connection (B/conn: the Conn, its read buffer, the net.Conn;
// includes the in-process server's own net.Conn, ~0.3 KiB).
func BenchmarkConnHeap(b *testing.B) {
	url := lightServer(b)
	d := NewDialer(Options{})
	const n = 500
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]*Conn, 0, n)
		for range n {
			c, _, err := d.Dial(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}
