package cmd

// inspect_live.go is `wsbench inspect ws://…`: a WebSocket client driven by
// stdin whose every frame, both ways, is dumped through the dialer's Tap.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
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

// parseHeaders turns -H 'Name: value' flags into a header.
func parseHeaders(hs []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range hs {
		name, val, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("-H %q: use 'Name: value'", s)
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(val))
	}
	return h, nil
}

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

// openRecord creates the --record trace, or returns nil without one.
func openRecord(o *inspectOptions) (*trace.Writer, error) {
	if o.Record == "" {
		return nil, nil
	}
	if o.RecordMaxBytes < 0 {
		return nil, usageError(fmt.Errorf("--record-max-bytes %d: use 0 (no cap) or more", o.RecordMaxBytes))
	}
	w, err := trace.Create(o.Record, trace.WriterOptions{Conns: 0, MaxBytes: o.RecordMaxBytes})
	if err != nil {
		return nil, usageError(fmt.Errorf("--record: %w", err))
	}
	return w, nil
}

// closeRecord ends the recording, keeping the first error.
func closeRecord(rec *trace.Writer, err error) error {
	if rec == nil {
		return err
	}
	if cerr := rec.Close(); cerr != nil && err == nil {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("--record: %w", cerr)}
	}
	return err
}

func runInspectLive(ctx context.Context, o *inspectOptions, ro inspect.RenderOptions) (err error) {
	hdr, err := parseHeaders(o.Headers)
	if err != nil {
		return usageError(err)
	}
	tlsCfg, err := dialer.TLSConfig(o.Insecure, o.CAFile)
	if err != nil {
		return usageError(err)
	}
	if o.CloseWait <= 0 {
		o.CloseWait = defaultCloseWait
	}
	stdin, stderr := o.Stdin, o.Stderr
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if stderr == nil {
		stderr = io.Discard
	}
	rec, err := openRecord(o)
	if err != nil {
		return err
	}
	defer func() { err = closeRecord(rec, err) }()

	// The server's bytes are rendered as the socket delivers them, before
	// the dialer checks them: a frame that makes the dialer fail the
	// connection is shown before the close it causes.
	raw := &serverBytes{}
	sess := inspect.NewSession(o.Stdout, inspect.SessionOptions{Render: ro, Record: rec, OnViolations: raw.violations})
	raw.sess = sess
	sess.Open(1)
	d := dialer.NewDialer(dialer.Options{
		Header:           hdr,
		Subprotocols:     o.Subprotocols,
		ConnectTimeout:   o.ConnectTimeout,
		HandshakeTimeout: o.HandshakeTimeout,
		TLSConfig:        tlsCfg,
		Compression:      o.Compression,
		Tap:              liveTap{sess: sess.Tap(1), raw: raw},
		WrapConn:         raw.wrap,
	})
	conn, tm, err := d.Dial(ctx, o.File)
	if err != nil {
		if why := notWebSocket(o.File, err); why != "" {
			sess.Note(1, "%s", why)
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect: %s", why)}
		}
		sess.Note(1, "connection failed: %v", err)
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect: %w", err)}
	}
	defer conn.Close()
	sess.Note(1, "connected to %s (%s) in %s: connect %s, handshake %s; subprotocol %q, compression %v",
		o.File, conn.RemoteAddr(), (tm.Connect + tm.Handshake).Round(time.Microsecond),
		tm.Connect.Round(time.Microsecond), tm.Handshake.Round(time.Microsecond), conn.Subprotocol(), conn.Compressed())

	l := &liveConn{o: o, conn: conn, sess: sess, stderr: stderr, readDone: make(chan error, 1)}
	raw.attach(l)
	go l.readLoop()
	err = l.drive(ctx, stdin)
	if serr := sess.Err(); serr != nil && err == nil {
		err = &ExitError{Code: ExitFailure, Err: serr}
	}
	return err
}

// notWebSocket explains a dial error whose server answered with another
// HTTP status than 101 (a web page, a 404, a proxy): what it answered and
// the first bytes of its body. It is "" for other errors.
func notWebSocket(url string, err error) string {
	var he *dialer.HandshakeError
	if !errors.As(err, &he) || he.Status == 0 || he.Status == 101 {
		return ""
	}
	msg := fmt.Sprintf("%s answered %d %s, not 101 Switching Protocols: no WebSocket here", url, he.Status, he.Reason)
	switch {
	case he.Body != "":
		msg += "; the body starts " + strconv.Quote(firstBytes(he.Body, 120))
	case he.Err != nil:
		msg += " (" + he.Err.Error() + ")"
	}
	return msg
}

// firstBytes is s cut to at most n bytes at a UTF-8 boundary, with "…" when
// cut.
func firstBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// liveConn is one live inspection: stdin drives the writes, a goroutine
// reads (serverBytes shows what it reads), readDone says how reading ended.
type liveConn struct {
	o        *inspectOptions
	conn     *dialer.Conn
	sess     *inspect.Session
	stderr   io.Writer
	readDone chan error
	// failed is the rule the server broke that the dialer tolerates (a
	// masked frame), set by the reading goroutine before readDone.
	failed string
}

// liveTap passes the dialer's handshake and client frames to the Session;
// the server's frames come from serverBytes instead.
type liveTap struct {
	sess dialer.Tap
	raw  *serverBytes
}

func (t liveTap) Handshake(id uint64, request, response []byte) {
	t.sess.Handshake(id, request, response)
	t.raw.upgraded(statusCode(response) == 101)
}

func (t liveTap) Frame(id uint64, dir dialer.Direction, at time.Time, raw []byte) {
	if dir == dialer.ClientToServer {
		t.sess.Frame(id, dir, at, raw)
	}
}

// serverBytes wraps the socket of a live connection: it hands the bytes
// the server sent after its upgrade response to the Session as they are
// read, whatever the dialer then makes of them. Only the dialer's reading
// goroutine calls Read (and the dial, before it), so its state needs no
// lock; violations is called from within Read, through the Session.
type serverBytes struct {
	net.Conn
	sess    *inspect.Session
	state   int    // serverHead, serverWait, serverFrames, serverOff
	head    []byte // the response head so far, to find its end
	pending []byte // frame bytes read with the head, until it is shown
	l       *liveConn
	masked  bool // a masked server frame was just rendered
	failing bool // the connection is being failed for it
}

const (
	serverHead   = iota // reading the upgrade response
	serverWait          // response complete, not yet shown
	serverFrames        // frames: shown as read
	serverOff           // not a WebSocket (no 101): nothing to show
)

func (r *serverBytes) wrap(nc net.Conn) net.Conn {
	r.Conn = nc
	return r
}

func (r *serverBytes) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if n > 0 {
		r.see(p[:n])
	}
	return n, err
}

func (r *serverBytes) see(b []byte) {
	switch r.state {
	case serverHead:
		from := max(0, len(r.head)-3)
		r.head = append(r.head, b...)
		if i := bytes.Index(r.head[from:], []byte("\r\n\r\n")); i >= 0 {
			end := from + i + 4
			r.pending = append(r.pending, r.head[end:]...)
			r.head, r.state = nil, serverWait
		} else if len(r.head) > maxHTTPHead {
			r.head, r.state = nil, serverOff
		}
	case serverWait:
		r.pending = append(r.pending, b...)
	case serverFrames:
		r.frames(b)
	}
}

// upgraded is called once the upgrade response has been shown.
func (r *serverBytes) upgraded(ok bool) {
	if !ok || r.state != serverWait {
		r.state = serverOff
		return
	}
	r.state = serverFrames
	if len(r.pending) > 0 {
		r.frames(r.pending)
		r.pending = nil
	}
}

// attach gives the live connection, once dialed, the means to fail the
// connection for a rule the dialer does not enforce.
func (r *serverBytes) attach(l *liveConn) {
	r.l = l
	r.failMasked()
}

func (r *serverBytes) frames(b []byte) {
	r.sess.Data(1, trace.ServerToClient, time.Now(), b)
	r.failMasked()
}

// violations sees the rules each rendered frame breaks (under the
// Session's lock: it only takes note).
func (r *serverBytes) violations(_ uint64, dir trace.Dir, vs []inspect.Violation) {
	if dir != trace.ServerToClient {
		return
	}
	for _, v := range vs {
		if v.Tag == inspect.TagMaskedServer {
			r.masked = true
		}
	}
}

// failMasked fails the connection with 1002 after a masked server frame
// (RFC 6455 5.1), which the dialer tolerates: the close goes out after the
// frame is shown, and the server's answer is awaited for --close-wait.
func (r *serverBytes) failMasked() {
	if !r.masked || r.failing || r.l == nil {
		return
	}
	r.failing = true
	l := r.l
	l.failed = "masked frame from the server"
	_ = l.conn.SendClose(1002, l.failed)
	_ = l.conn.SetReadDeadline(time.Now().Add(l.o.CloseWait))
}

// readLoop reads until the connection ends; frames are shown by the Tap,
// pings are answered by the dialer.
func (l *liveConn) readLoop() {
	for {
		if _, err := l.conn.ReadMessage(); err != nil {
			l.readDone <- err
			return
		}
	}
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
					fmt.Fprintf(l.stderr, "wsbench: read stdin: %v\n", err)
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
				fmt.Fprintf(l.stderr, "wsbench: --binary: %v\n", err)
				return false, nil
			}
			return l.sent(l.conn.WriteBinary(b))
		}
		return l.sent(l.conn.WriteText([]byte(s)))
	}
	cmd, arg, _ := strings.Cut(s, " ")
	switch cmd {
	case "/ping":
		if len(arg) > 125 {
			fmt.Fprintf(l.stderr, "wsbench: /ping: payload of %d bytes (at most 125)\n", len(arg))
			return false, nil
		}
		return l.sent(l.conn.Ping([]byte(arg)))
	case "/close":
		code, reason := uint64(1000), ""
		if f := strings.TrimSpace(arg); f != "" {
			c, rest, _ := strings.Cut(f, " ")
			n, err := strconv.ParseUint(c, 10, 16)
			if err != nil {
				fmt.Fprintf(l.stderr, "wsbench: /close %s: the code is a number 0-65535\n", c)
				return false, nil
			}
			code, reason = n, rest
		}
		return true, l.closeAndWait(uint16(code), reason, "/close")
	case "/raw":
		b, err := decodeHex(arg)
		if err != nil || len(b) == 0 {
			fmt.Fprintf(l.stderr, "wsbench: /raw: give the bytes in hex: %v\n", err)
			return false, nil
		}
		return l.sent(l.conn.WriteRaw(b))
	case "/help":
		fmt.Fprintln(l.stderr, liveHelp)
		return false, nil
	}
	fmt.Fprintf(l.stderr, "wsbench: unknown command %s (/help lists them; //text sends /text)\n", cmd)
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

// ended reports how reading ended: a close handshake is a clean end.
func (l *liveConn) ended(err error) error {
	var ce *dialer.CloseError
	var pe *dialer.ProtocolError
	if l.failed != "" {
		l.sess.Note(1, "the server broke the protocol: %s; sent close 1002", l.failed)
		switch {
		case errors.As(err, &ce):
			l.sess.Note(1, "closed: code %d (%s) reason %q", ce.Code, wsproto.CloseCodeName(ce.Code), ce.Reason)
		case isTimeoutErr(err):
			l.sess.Note(1, "no close from the server within %s", l.o.CloseWait)
		}
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect %s: the server broke the protocol: %s", l.o.File, l.failed)}
	}
	switch {
	case errors.As(err, &ce):
		l.sess.Note(1, "closed: code %d (%s) reason %q", ce.Code, wsproto.CloseCodeName(ce.Code), ce.Reason)
		return nil
	case errors.As(err, &pe):
		l.sess.Note(1, "the server broke the protocol: %s; sent close %d", pe.Reason, pe.Code)
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect %s: %w", l.o.File, err)}
	case isTimeoutErr(err):
		l.sess.Note(1, "no close from the server within %s", l.o.CloseWait)
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect %s: no close handshake within %s: %w", l.o.File, l.o.CloseWait, err)}
	}
	l.sess.Note(1, "connection lost: %v", err)
	return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect %s: %w", l.o.File, err)}
}

func isTimeoutErr(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
