package inspect

// source_live.go is `wsbench inspect ws://…`: a WebSocket client whose
// every frame, both ways, is rendered as it crosses the wire: the client's
// through the dialer's Tap, the server's as the socket delivers them
// (serverBytes), before the dialer checks them. What it sends comes from
// stdin (live_prompt.go).

import (
	"bytes"
	"context"
	"crypto/tls"
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
	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// DefaultCloseWait bounds the wait for the server's close reply.
const DefaultCloseWait = 5 * time.Second

// The live source's defaults and limits are the dialer's, so that callers
// of this package need not import the dialer for them.
const (
	DefaultConnectTimeout   = dialer.DefaultConnectTimeout
	DefaultHandshakeTimeout = dialer.DefaultHandshakeTimeout
	// MaxResponseHead bounds the server's upgrade response head; past it
	// the live source fails with ErrResponseHeadTooLarge.
	MaxResponseHead = dialer.MaxResponseHead
)

// ErrResponseHeadTooLarge is the live source's error for an upgrade
// response head over MaxResponseHead (the dialer's error, not a copy).
var ErrResponseHeadTooLarge = dialer.ErrResponseHeadTooLarge

// LiveOptions configure a Live source.
type LiveOptions struct {
	URL              string   // ws:// or wss://
	Headers          []string // extra upgrade request headers, "Name: value"
	Subprotocols     []string
	Insecure         bool   // skip TLS certificate verification
	CAFile           string // trust this PEM CA file too
	ConnectTimeout   time.Duration
	HandshakeTimeout time.Duration
	Binary           bool          // stdin lines are hex, sent as binary frames
	Compression      bool          // offer permessage-deflate
	CloseWait        time.Duration // how long to wait for the peer's close reply; 0 = DefaultCloseWait
	Stdin            io.Reader     // the lines to send; nil = none
	Stderr           io.Writer     // prompt messages; nil = discarded
}

// Live is one live connection driven by stdin.
type Live struct {
	o      LiveOptions
	header http.Header
	tls    *tls.Config
}

// NewLive checks the options (headers, TLS files). Its errors are the
// user's to fix.
func NewLive(o LiveOptions) (*Live, error) {
	hdr, err := parseHeaders(o.Headers)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := dialer.TLSConfig(o.Insecure, o.CAFile)
	if err != nil {
		return nil, err
	}
	if o.CloseWait <= 0 {
		o.CloseWait = DefaultCloseWait
	}
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return &Live{o: o, header: hdr, tls: tlsCfg}, nil
}

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

// Inspect connects, shows the handshake, then sends what stdin says until
// the peer closes, stdin ends or a /close completes. A close handshake is
// a clean end; a failed connection, or one that ends without it, is the
// error.
func (lv *Live) Inspect(ctx context.Context, s *Session) error {
	// The server's bytes are rendered as the socket delivers them, before
	// the dialer checks them: a frame that makes the dialer fail the
	// connection is shown before the close it causes.
	raw := &serverBytes{sess: s}
	s.setOnViolations(raw.violations)
	s.Open(1)
	d := dialer.NewDialer(dialer.Options{
		Header:           lv.header,
		Subprotocols:     lv.o.Subprotocols,
		ConnectTimeout:   lv.o.ConnectTimeout,
		HandshakeTimeout: lv.o.HandshakeTimeout,
		TLSConfig:        lv.tls,
		Compression:      lv.o.Compression,
		Tap:              liveTap{sess: s.Tap(1), raw: raw},
		WrapConn:         raw.wrap,
	})
	conn, tm, err := d.Dial(ctx, lv.o.URL)
	if err != nil {
		if why := notWebSocket(lv.o.URL, err); why != "" {
			s.Note(1, "%s", why)
			return fmt.Errorf("inspect: %s", why)
		}
		s.Note(1, "connection failed: %v", err)
		return fmt.Errorf("inspect: %w", err)
	}
	defer conn.Close()
	s.Note(1, "connected to %s (%s) in %s: connect %s, handshake %s; subprotocol %q, compression %v",
		lv.o.URL, conn.RemoteAddr(), (tm.Connect + tm.Handshake).Round(time.Microsecond),
		tm.Connect.Round(time.Microsecond), tm.Handshake.Round(time.Microsecond), conn.Subprotocol(), conn.Compressed())

	l := &liveConn{o: &lv.o, conn: conn, sess: s, readDone: make(chan error, 1)}
	raw.attach(l)
	go l.readLoop()
	return l.drive(ctx, lv.o.Stdin)
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
	o        *LiveOptions
	conn     *dialer.Conn
	sess     *Session
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
	t.raw.upgraded(StatusCode(response) == 101)
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
	sess    *Session
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
		} else if len(r.head) > MaxHTTPHead {
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
func (r *serverBytes) violations(_ uint64, dir trace.Dir, vs []Violation) {
	if dir != trace.ServerToClient {
		return
	}
	for _, v := range vs {
		if v.Tag == TagMaskedServer {
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
		return fmt.Errorf("inspect %s: the server broke the protocol: %s", l.o.URL, l.failed)
	}
	switch {
	case errors.As(err, &ce):
		l.sess.Note(1, "closed: code %d (%s) reason %q", ce.Code, wsproto.CloseCodeName(ce.Code), ce.Reason)
		return nil
	case errors.As(err, &pe):
		l.sess.Note(1, "the server broke the protocol: %s; sent close %d", pe.Reason, pe.Code)
		return fmt.Errorf("inspect %s: %w", l.o.URL, err)
	case isTimeoutErr(err):
		l.sess.Note(1, "no close from the server within %s", l.o.CloseWait)
		return fmt.Errorf("inspect %s: no close handshake within %s: %w", l.o.URL, l.o.CloseWait, err)
	}
	l.sess.Note(1, "connection lost: %v", err)
	return fmt.Errorf("inspect %s: %w", l.o.URL, err)
}

func isTimeoutErr(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
