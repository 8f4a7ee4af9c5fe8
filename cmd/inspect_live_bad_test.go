package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/inspect"
)

// badServer upgrades one connection, sends bad (raw frame bytes) — in the
// same write as the 101 response when withHead — then reads client frames
// until a close, whose code it reports, answers it and hangs up.
func badServer(t *testing.T, bad []byte, withHead bool) (addr string, closeCode <-chan uint16) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan uint16, 1)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		defer close(codes)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		rsp, err := upgradeResponse(br)
		if err != nil {
			return
		}
		if withHead {
			rsp = append(rsp, bad...)
		}
		if _, err := c.Write(rsp); err != nil {
			return
		}
		if !withHead {
			if _, err := c.Write(bad); err != nil {
				return
			}
		}
		for {
			var h [2]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			n := int(h[1] & 0x7f) // client control frames: 7-bit lengths
			p := make([]byte, 4+n)
			if _, err := io.ReadFull(br, p); err != nil {
				return
			}
			for i := range n {
				p[4+i] ^= p[i&3]
			}
			if h[0]&0xf == inspect.OpClose {
				code := uint16(1005)
				if n >= 2 {
					code = binary.BigEndian.Uint16(p[4:])
				}
				codes <- code
				_, _ = c.Write([]byte{0x88, 0x02, byte(code >> 8), byte(code)})
				return
			}
		}
	}()
	return ln.Addr().String(), codes
}

// TestInspectLiveBadServer: a server frame that breaks RFC 6455 is shown
// with its violation tags before the close it causes, and the close carries
// the code RFC 6455 asks for.
func TestInspectLiveBadServer(t *testing.T) {
	cases := []struct {
		name     string
		bad      []byte
		withHead bool
		tag      string
		code     uint16
	}{
		{"masked server frame", []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}, false, inspect.TagMaskedServer, 1002},
		{"masked server frame with the 101", []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}, true, inspect.TagMaskedServer, 1002},
		{"reserved opcode", []byte{0x83, 0x02, 'h', 'i'}, false, inspect.TagReservedOpcode, 1002},
		{"reserved opcode with the 101", []byte{0x8b, 0x00}, true, inspect.TagReservedOpcode, 1002},
		{"RSV without extension", []byte{0xa1, 0x02, 'h', 'i'}, false, inspect.TagRSVWithoutExt, 1002},
		{"bad UTF-8", []byte{0x81, 0x04, 'a', 0xff, 'b', 'c'}, false, inspect.TagInvalidUTF8, 1007},
		{"bad UTF-8 across fragments", []byte{0x01, 0x02, 'o', 0xc3, 0x80, 0x02, 0x28, 'x'}, false, inspect.TagInvalidUTF8, 1007},
		{"fragmented ping", []byte{0x09, 0x01, 'p'}, false, inspect.TagFragmentedControl, 1002},
		{"stray continuation", []byte{0x80, 0x01, 'x'}, false, inspect.TagBadContinuation, 1002},
		{"invalid close code", []byte{0x88, 0x02, 0x03, 0xed}, false, inspect.TagInvalidCloseCode, 1002},
		{"64-bit length with the top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, false, inspect.TagLengthMSBSet, 1002},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr, codes := badServer(t, c.bad, c.withHead)
			// stdin stays open: the session ends because of the server.
			stdin, stdinW := io.Pipe()
			defer stdinW.Close()
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := runInspect(ctx, &inspectOptions{
				File: "ws://" + addr + "/", MaxPayload: inspect.DefaultMaxPayload, CloseWait: 5 * time.Second,
				ConnectTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
				Stdin: stdin, Stdout: &out, Stderr: io.Discard,
			})
			s := out.String()
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != ExitFailure {
				t.Errorf("exit: %v, want status %d", err, ExitFailure)
			}
			got, ok := <-codes
			if !ok || got != c.code {
				t.Errorf("the server got close code %d (%v), want %d:\n%s", got, ok, c.code, s)
			}
			// The bad frame, its tag, then our close with the code.
			tagAt := strings.Index(s, "   !    "+c.tag+": ")
			closeAt := strings.Index(s, "C>S")
			codeAt := strings.Index(s, "=>   close code="+strconv.Itoa(int(c.code)))
			if tagAt < 0 || closeAt < 0 || codeAt < 0 || !(tagAt < closeAt && closeAt < codeAt) {
				t.Errorf("want the %s frame and its tag before our close %d:\n%s", c.tag, c.code, s)
			}
			if testing.Verbose() {
				t.Log(s)
			}
			undecodable := strings.Contains(s, " S>C not a WebSocket frame stream any more: ")
			if frameLines(s, " S>C ") == 0 && !undecodable || !strings.Contains(s, "-- the server broke the protocol: ") {
				t.Errorf("no server frame or no protocol note:\n%s", s)
			}
		})
	}
}
