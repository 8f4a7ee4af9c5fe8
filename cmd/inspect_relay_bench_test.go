package cmd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/inspect"
)

// BenchmarkRelayThroughput pushes masked 131-byte text frames (125-byte
// payloads) through the relay, 32 KiB per write, from a raw TCP client to
// a server that discards them, with the text dump going to /dev/null. It
// reports the relay's throughput and how many frames were rendered.
func BenchmarkRelayThroughput(b *testing.B) {
	// The upstream: answers the upgrade, then counts what it reads.
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer upLn.Close()
	var received atomic.Int64
	go func() {
		c, err := upLn.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := inspect.ReadHTTPHead(br); err != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"); err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := br.Read(buf)
			received.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	addrCh := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	relayErr := make(chan error, 1)
	statsCh := make(chan inspect.RenderStats, 1)
	go func() {
		relayErr <- runInspect(ctx, &inspectOptions{
			Listen: "127.0.0.1:0", Upstream: "ws://" + upLn.Addr().String() + "/", MaxPayload: inspect.DefaultMaxPayload,
			Stdout: devnull, Stderr: io.Discard, OnListen: func(a net.Addr) { addrCh <- a },
			OnStats: func(st inspect.RenderStats) { statsCh <- st },
		})
	}()
	addr := <-addrCh
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"); err != nil {
		b.Fatal(err)
	}
	if _, err := inspect.ReadHTTPHead(bufio.NewReader(c)); err != nil {
		b.Fatal(err)
	}
	frame := []byte{0x81, 0xfd, 1, 2, 3, 4}
	for i := range 125 {
		frame = append(frame, byte('a'+i%26)^byte(i%4+1))
	}
	chunk := bytes.Repeat(frame, (32<<10)/len(frame))
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N * len(chunk))
	for received.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := b.Elapsed()
	b.StopTimer()
	c.Close()
	cancel()
	if err := <-relayErr; err != nil {
		b.Fatal(err)
	}
	st := <-statsCh
	frames := b.N * (len(chunk) / len(frame))
	b.ReportMetric(100*float64(st.Frames)/float64(frames), "%rendered")
	b.ReportMetric(float64(st.Frames*len(frame))/1e6/elapsed.Seconds(), "rendered-MB/s")
}
