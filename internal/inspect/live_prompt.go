package inspect

// live_prompt.go is what a live connection sends: stdin read line by line,
// each line a text (or, with --binary, a hex binary) frame, and the
// /ping, /close, /raw and /help commands.

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// liveHelp is what /help prints.
const liveHelp = `commands (any other line is sent as a text frame; --binary: as hex bytes):
  /ping [text]            send a ping with this payload
  /close [code [reason]]  send a close frame (default 1000), wait for the reply, end
  /raw HEX                write these bytes as they are (spaces allowed), e.g. /raw 81 85 00000000 68656c6c6f
  /help                   this list
  //text                  send the text "/text"
end of input sends close 1000 and waits for the server's close`

// decodeHex reads hex bytes, ignoring spaces, colons and a 0x prefix.
func decodeHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "0x")
	s = strings.NewReplacer(" ", "", "\t", "", ":", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("hex %q: %w", s, err)
	}
	return b, nil
}

// drive sends what stdin says until the peer closes, stdin ends or a
// /close completes.
func (l *liveConn) drive(ctx context.Context, stdin io.Reader) error {
	lines := make(chan string)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(lines)
		br := bufio.NewReader(stdin)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				select {
				case lines <- line:
				case <-stop:
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					fmt.Fprintf(l.o.Stderr, "wsbench: read stdin: %v\n", err)
				}
				return
			}
		}
	}()
	for {
		select {
		case err := <-l.readDone:
			return l.ended(err)
		case <-ctx.Done():
			return l.closeAndWait(1001, "", "interrupted")
		case line, ok := <-lines:
			if !ok {
				return l.closeAndWait(1000, "", "end of input")
			}
			done, err := l.line(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
			if done || err != nil {
				return err
			}
		}
	}
}

// line acts on one line of stdin. done reports that the session is over.
func (l *liveConn) line(s string) (done bool, err error) {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		if strings.HasPrefix(s, "//") {
			s = s[1:]
		}
		if l.o.Binary {
			b, err := decodeHex(s)
			if err != nil {
				fmt.Fprintf(l.o.Stderr, "wsbench: --binary: %v\n", err)
				return false, nil
			}
			return l.sent(l.conn.WriteBinary(b))
		}
		return l.sent(l.conn.WriteText([]byte(s)))
	}
	cmd, arg, _ := strings.Cut(s, " ")
	switch cmd {
	case "/ping":
		if len(arg) > wsproto.MaxControlPayload {
			fmt.Fprintf(l.o.Stderr, "wsbench: /ping: payload of %d bytes (at most 125)\n", len(arg))
			return false, nil
		}
		return l.sent(l.conn.Ping([]byte(arg)))
	case "/close":
		code, reason := uint64(1000), ""
		if f := strings.TrimSpace(arg); f != "" {
			c, rest, _ := strings.Cut(f, " ")
			n, err := strconv.ParseUint(c, 10, 16)
			if err != nil {
				fmt.Fprintf(l.o.Stderr, "wsbench: /close %s: the code is a number 0-65535\n", c)
				return false, nil
			}
			code, reason = n, rest
		}
		return true, l.closeAndWait(uint16(code), reason, "/close")
	case "/raw":
		b, err := decodeHex(arg)
		if err != nil || len(b) == 0 {
			fmt.Fprintf(l.o.Stderr, "wsbench: /raw: give the bytes in hex: %v\n", err)
			return false, nil
		}
		return l.sent(l.conn.WriteRaw(b))
	case "/help":
		fmt.Fprintln(l.o.Stderr, liveHelp)
		return false, nil
	}
	fmt.Fprintf(l.o.Stderr, "wsbench: unknown command %s (/help lists them; //text sends /text)\n", cmd)
	return false, nil
}

// sent handles a write's outcome: after the peer's close or a broken
// connection the session ends with what reading says.
func (l *liveConn) sent(err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	if errors.Is(err, dialer.ErrCloseSent) {
		// The close handshake started (the peer's close was answered):
		// reading ends with it.
		return true, l.waitClose()
	}
	_ = l.conn.Close()
	rerr := <-l.readDone
	l.sess.Note(1, "write failed: %v", err)
	return true, l.ended(rerr)
}

// closeAndWait sends a close frame and waits for the peer's.
func (l *liveConn) closeAndWait(code uint16, reason, why string) error {
	if err := l.conn.SendClose(code, reason); err != nil {
		l.sess.Note(1, "%s: sending close: %v", why, err)
	}
	return l.waitClose()
}

// waitClose bounds the wait for the end of reading by --close-wait.
func (l *liveConn) waitClose() error {
	_ = l.conn.SetReadDeadline(time.Now().Add(l.o.CloseWait))
	return l.ended(<-l.readDone)
}
