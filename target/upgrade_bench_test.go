package target

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
)

// BenchmarkUpgrade: one op is a whole connection's life on the upgrade path
// over loopback: connect, send the HTTP upgrade request, read the 101, close.
// Clients bind round robin to 127.0.0.1–127.0.0.16 so the kernel's local
// port search stays cheap, and run in parallel (GOMAXPROCS goroutines, each
// one connection at a time). The clients share the cores with the server,
// so ns/op is the cost of one upgrade to both ends together.
func BenchmarkUpgrade(b *testing.B) {
	s := startTest(b, nil)
	addr := s.Addr().String()
	req := []byte(upgradeRequest("/chat"))
	var next atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 512)
		for pb.Next() {
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+next.Add(1)%16))}
			d := net.Dialer{LocalAddr: src}
			nc, err := d.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := nc.Write(req); err != nil {
				b.Error(err)
				nc.Close()
				return
			}
			n := 0
			for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
				m, err := nc.Read(buf[n:])
				if err != nil {
					b.Error(err)
					nc.Close()
					return
				}
				n += m
			}
			if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
				b.Errorf("answer: %q", buf[:n])
			}
			nc.Close()
		}
	})
}
