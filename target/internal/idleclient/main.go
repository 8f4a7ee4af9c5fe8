// Command idleclient is a measuring aid for the reference server's idle cost
// and upgrade rate (BENCHMARKS.md), used until `wsbench run` covers both: it
// opens N upgraded /chat connections to a running `wsbench serve` from W
// goroutines, prints the upgrade rate, and holds the connections open until
// interrupted so the server's RSS can be read from /proc.
//
//	wsbench serve --addr 127.0.0.1:9000 &
//	go run ./target/internal/idleclient -addr 127.0.0.1:9000 -n 19500
//
// With -ext it offers an extension (permessage-deflate) and fails a
// connection the server answers without one; with -send K -size B each
// connection then sends K text messages of B bytes (compressed when
// -ext was answered) to /echo and reads their echoes before going idle,
// so a server keeping a client's compression context holds its window.
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	n := flag.Int("n", 1000, "connections to open")
	workers := flag.Int("w", 64, "concurrent dialers")
	path := flag.String("path", "/chat", "endpoint to upgrade")
	ext := flag.String("ext", "", "Sec-WebSocket-Extensions to offer (e.g. permessage-deflate); a connection answered without one fails")
	send := flag.Int("send", 0, "messages each connection sends (to /echo) and reads back before going idle")
	size := flag.Int("size", 1000, "bytes per message of -send")
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
	hdr := ""
	if *ext != "" {
		hdr = "Sec-WebSocket-Extensions: " + *ext + "\r\n"
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + hdr + "\r\n")
	plain, compressed := messages(*size)
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
				c, err := upgrade(dialer, *addr, req, *ext != "")
				if err == nil && *send > 0 {
					msg := plain
					if *ext != "" {
						msg = compressed
					}
					if err = exchange(c, msg, *send); err != nil {
						c.Close()
					}
				}
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

func upgrade(d *net.Dialer, addr string, req []byte, wantExt bool) (net.Conn, error) {
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
	if wantExt && resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		c.Close()
		return nil, fmt.Errorf("upgrade on %s: the offered extension was declined", addr)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// messages builds one masked text frame of n bytes of chat-like text, plain
// and compressed (RSV1, RFC 7692, no context needed to inflate it). The
// masking key is zero, so the payload goes out as is.
func messages(n int) (plain, compressed []byte) {
	words := []string{"hello ", "room ", "said ", "from ", "member ", "wsbench ", "deflate ", "the "}
	var text strings.Builder
	for i := 0; text.Len() < n; i++ {
		text.WriteString(words[(i*7+i/3)%len(words)])
		fmt.Fprint(&text, i%97, " ")
	}
	p := []byte(text.String()[:n])
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	z := bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
	return frame(0x81, p), frame(0xc1, z)
}

func frame(b0 byte, p []byte) []byte {
	out := []byte{b0}
	switch n := len(p); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, 0, 0, 0, 0)
	return append(out, p...)
}

// exchange sends msg k times and reads k frames back (discarded).
func exchange(c net.Conn, msg []byte, k int) error {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	br := bufio.NewReaderSize(c, 4096)
	for range k {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		var h [10]byte
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			return err
		}
		if h[0]&0x0f != 1 {
			return errors.New("echo: not a text frame (closed?)")
		}
		n := int64(h[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, h[2:4]); err != nil {
				return err
			}
			n = int64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			if _, err := io.ReadFull(br, h[2:10]); err != nil {
				return err
			}
			n = int64(binary.BigEndian.Uint64(h[2:10]))
		}
		if _, err := io.CopyN(io.Discard, br, n); err != nil {
			return err
		}
	}
	return nil
}
