// Command idleclient is a measuring aid for the reference server's idle cost
// and upgrade rate (BENCHMARKS.md), used until `wsbench run` covers both: it
// opens N upgraded /chat connections to a running `wsbench serve` from W
// goroutines, prints the upgrade rate, and holds the connections open until
// interrupted so the server's RSS can be read from /proc.
//
//	wsbench serve --addr 127.0.0.1:9000 &
//	go run ./target/internal/idleclient -addr 127.0.0.1:9000 -n 19500
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	n := flag.Int("n", 1000, "connections to open")
	workers := flag.Int("w", 64, "concurrent dialers")
	path := flag.String("path", "/chat", "endpoint to upgrade")
	source := flag.String("source", "", "local IP address to dial from (another loopback address gives another 28,000 ephemeral ports)")
	flag.Parse()
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if *source != "" {
		ip := net.ParseIP(*source)
		if ip == nil {
			fmt.Fprintf(os.Stderr, "idleclient: -source %q: not an IP address\n", *source)
			os.Exit(2)
		}
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	var (
		mu    sync.Mutex
		conns []net.Conn
		fails atomic.Int64
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				c, err := upgrade(dialer, *addr, req)
				if err != nil {
					if fails.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "idleclient:", err)
					}
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("open %d failed %d in %v: %.0f upgrades/s\n", len(conns), fails.Load(), el.Round(time.Millisecond), float64(len(conns))/el.Seconds())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	for _, c := range conns {
		_ = c.Close()
	}
}

func upgrade(d *net.Dialer, addr string, req []byte) (net.Conn, error) {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, fmt.Errorf("write upgrade request to %s: %w", addr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read upgrade response from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("upgrade on %s: status %s", addr, resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
