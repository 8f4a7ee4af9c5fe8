package dialer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Defaults for zero Options fields.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultReadBufferSize is the per-connection read buffer: 1 KiB holds
	// typical chat and echo frames; larger frames are read into a message
	// buffer grown on demand and released after messages over 4 KiB, so an
	// idle connection keeps only this (bench/vu-memory.sh measures it).
	DefaultReadBufferSize = 1 << 10
	DefaultMaxMessageSize = 16 << 20
	// DefaultControlWriteTimeout bounds the write of a pong, close or ping
	// frame: a server that floods pings and never reads fails the
	// connection after it (*StallError) instead of hanging the reader.
	DefaultControlWriteTimeout = 5 * time.Second
	minReadBufferSize          = 256 // a whole control frame (14+125 bytes) must fit
	// The handshake's buffers are pooled and released after the upgrade.
	handshakeReadBuffer  = 2 << 10
	handshakeWriteBuffer = 2 << 10
)

// Options configure a Dialer. The zero value dials plain ws:// with the
// defaults above.
type Options struct {
	Header           http.Header   // extra request headers; Host overrides the Host header; Upgrade, Connection and Sec-WebSocket-* are ignored
	Subprotocols     []string      // offered in Sec-WebSocket-Protocol, by preference
	ConnectTimeout   time.Duration // TCP (+TLS) connect; default 10s
	HandshakeTimeout time.Duration // HTTP upgrade; default 10s
	TLSConfig        *tls.Config   // for wss://; nil = system roots
	Compression      bool          // offer permessage-deflate (gobwas wsflate)
	Sources          *SourcePool   // nil = kernel picks the source address
	Tap              Tap           // nil = no tracing, zero cost
	ReadBufferSize   int           // per-connection read buffer; default 1 KiB, at least 256
	MaxMessageSize   int           // larger incoming messages fail the connection with 1009; default 16 MiB
	// ControlWriteTimeout bounds how long a pong (answering a ping), close
	// or ping frame may take to be written; past it the server is taken
	// for not reading and the connection fails with a *StallError (kind
	// "stall"). Default 5s.
	ControlWriteTimeout time.Duration
	// RecvBuffer, when positive, sets the socket's receive buffer (SO_RCVBUF,
	// bytes) before connecting, which also turns off the kernel's receive
	// buffer autotuning: a small one stands for a constrained client, and
	// makes a client that stops reading push back on the server quickly.
	RecvBuffer int
	// WrapConn, when set, wraps each connection's socket (after TLS, before
	// the upgrade request): whatever it returns carries the upgrade and
	// every frame. `wsbench inspect` uses it to see the server's bytes as
	// they are read, before this package checks them. nil = no wrapper.
	WrapConn func(net.Conn) net.Conn
}

// setRecvBuffer is a net.Dialer Control hook: it runs on the new socket
// before connect, so the window the kernel advertises follows the buffer.
func (d *Dialer) setRecvBuffer(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, d.o.RecvBuffer)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set receive buffer to %d bytes: %w", d.o.RecvBuffer, serr)
	}
	return nil
}

// bindNoPort is a net.Dialer Control hook for dials from a --source
// address: IP_BIND_ADDRESS_NO_PORT lets bind() take the address without
// reserving a local port, so the port is chosen at connect() for the whole
// 4-tuple. Without it every bind() searches for a port no other socket on
// that address holds, whatever the destination. Best effort: a kernel
// without the option (before Linux 4.2) dials as before.
func bindNoPort(rc syscall.RawConn) {
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}

// control is the net.Dialer Control hook of one dial, or nil when the dial
// needs none.
func (d *Dialer) control(local net.Addr) func(network, address string, rc syscall.RawConn) error {
	switch {
	case local == nil && d.o.RecvBuffer <= 0:
		return nil
	case local == nil:
		return d.setRecvBuffer
	}
	return func(network, address string, rc syscall.RawConn) error {
		bindNoPort(rc)
		if d.o.RecvBuffer > 0 {
			return d.setRecvBuffer(network, address, rc)
		}
		return nil
	}
}

// Timings are the two phases of a dial.
type Timings struct {
	Connect   time.Duration // TCP (+TLS) connect
	Handshake time.Duration // upgrade request → 101 response
}

// Dialer opens WebSocket connections. It is safe for concurrent Dial calls.
type Dialer struct {
	o     Options
	ws    ws.Dialer // template copied per dial
	flate *flatePool
	last  atomic.Pointer[target] // the last URL dialed, parsed
}

// target is a parsed URL with what dialing it needs.
type target struct {
	raw  string
	u    *url.URL
	addr string      // host:port to connect to
	tls  *tls.Config // nil for ws://
}

// NewDialer builds a Dialer from o, filling in defaults.
func NewDialer(o Options) *Dialer {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = DefaultReadBufferSize
	}
	o.ReadBufferSize = max(o.ReadBufferSize, minReadBufferSize)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.ControlWriteTimeout <= 0 {
		o.ControlWriteTimeout = DefaultControlWriteTimeout
	}
	d := &Dialer{o: o}
	d.ws = ws.Dialer{
		ReadBufferSize:  max(o.ReadBufferSize, handshakeReadBuffer),
		WriteBufferSize: handshakeWriteBuffer,
		Protocols:       o.Subprotocols,
	}
	d.ws.Host, d.ws.Header = renderHeader(o.Header, nil)
	if o.Compression {
		d.ws.Extensions = []httphead.Option{offerDeflate()}
		d.flate = &flatePool{}
	}
	return d
}

// reservedHeader reports the headers the upgrade itself sets (canonical
// form); user values for them are ignored (subprotocols go in
// Options.Subprotocols, Host is taken apart).
func reservedHeader(k string) bool {
	switch k {
	case "Upgrade", "Connection", "Host", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Extensions", "Sec-Websocket-Protocol":
		return true
	}
	return false
}

// renderHeader serialises the extra headers once, so that dials do not
// re-render them; Host is returned apart.
func renderHeader(hs ...http.Header) (host string, out ws.HandshakeHeader) {
	var b bytes.Buffer
	for _, h := range hs {
		for k, vs := range h {
			ck := textproto.CanonicalMIMEHeaderKey(k)
			if ck == "Host" && len(vs) > 0 {
				host = vs[0]
			}
			if reservedHeader(ck) {
				continue
			}
			for _, v := range vs {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
				b.WriteString(ck)
				b.WriteString(": ")
				b.WriteString(v)
				b.WriteString("\r\n")
			}
		}
	}
	if b.Len() == 0 {
		return host, nil
	}
	return host, ws.HandshakeHeaderBytes(b.Bytes())
}

// Dial connects to rawURL (ws:// or wss://) and upgrades the connection.
// Errors name the URL and the phase (connect, handshake); Kind classifies
// them. Timings hold what was measured even when the dial fails.
func (d *Dialer) Dial(ctx context.Context, rawURL string) (*Conn, Timings, error) {
	return d.dial(ctx, rawURL, d.ws.Host, d.ws.Header)
}

// DialHeader is Dial with extra request headers for this connection only
// (e.g. a per-user token), sent after Options.Header.
func (d *Dialer) DialHeader(ctx context.Context, rawURL string, h http.Header) (*Conn, Timings, error) {
	if len(h) == 0 {
		return d.Dial(ctx, rawURL)
	}
	host, hdr := renderHeader(d.o.Header, h)
	return d.dial(ctx, rawURL, host, hdr)
}

func (d *Dialer) dial(ctx context.Context, rawURL, host string, hdr ws.HandshakeHeader) (*Conn, Timings, error) {
	var tm Timings
	t, err := d.target(rawURL)
	if err != nil {
		return nil, tm, fmt.Errorf("dial %s: %w", rawURL, err)
	}
	id := connIDs.Add(1)

	start := time.Now()
	local := d.o.Sources.local()
	// No TCP keepalive probes (Go's default sends them after 15 s idle):
	// a load generator's connections carry what the scenario sends and
	// nothing else, so an idle-timeout in a proxy or the server shows as
	// it would for a real idle client; and turning them on takes four
	// setsockopt calls per dial.
	nd := net.Dialer{Deadline: start.Add(d.o.ConnectTimeout), LocalAddr: local, Control: d.control(local), KeepAlive: -1}
	nc, err := nd.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		tm.Connect = time.Since(start)
		return nil, tm, fmt.Errorf("dial %s: connect: %w", rawURL, err)
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		_ = nc.SetDeadline(nd.Deadline)
		err = tc.HandshakeContext(ctx) // context.AfterFunc inside: no goroutine
		if err != nil {
			tm.Connect = time.Since(start)
			nc.Close()
			return nil, tm, fmt.Errorf("dial %s: tls: %w", rawURL, err)
		}
		nc = tc
	}
	tm.Connect = time.Since(start)
	if d.o.WrapConn != nil {
		nc = d.o.WrapConn(nc)
	}

	hsStart := time.Now()
	_ = nc.SetDeadline(hsStart.Add(d.o.HandshakeTimeout))
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	}
	wd := d.ws
	wd.Host, wd.Header = host, hdr
	var reason string
	var rf refusal
	wd.OnStatusError = func(_ int, r []byte, resp io.Reader) {
		reason = string(r)
		rf = readRefusal(resp)
	}
	tap := d.o.Tap
	if s, ok := tap.(TapSampler); ok && !s.Sample(id) {
		tap = nil
	}
	var rw io.ReadWriter = nc
	var rec *recorder
	if tap != nil {
		rec = &recorder{rw: nc}
		rw = rec
	}
	guard := &headGuard{rw: rw, left: MaxResponseHead + wd.ReadBufferSize}
	br, hs, err := wd.Upgrade(guard, t.u)
	tm.Handshake = time.Since(hsStart)
	cut := stop != nil && !stop() // cancelled: the deadline was poisoned
	// A dial cut by cancellation counts as a handshake timeout when the
	// server had started its answer without finishing it (a dripped 101),
	// or had kept silent for longer than any healthy server would; a dial
	// the run's end merely caught in flight is a plain cancellation.
	started := guard.left < MaxResponseHead+wd.ReadBufferSize
	switch {
	case err != nil && cut && (started || tm.Handshake >= cutAsTimeoutAfter):
		// A run ending while a server drips its 101: what the user sees is
		// an upgrade that did not complete in time, not a silent drop.
		err = fmt.Errorf("%w: cut after %s by cancellation, before a complete upgrade response (%w)",
			ErrHandshakeTimeout, tm.Handshake.Round(time.Millisecond), ctx.Err())
	case cut:
		err = ctx.Err()
	case err != nil && isTimeout(err):
		err = fmt.Errorf("%w: no complete upgrade response within %s: %w", ErrHandshakeTimeout, d.o.HandshakeTimeout, err)
	}
	if rec != nil {
		tap.Handshake(id, rec.req, rec.response())
	}
	var fl *flateConn
	if err == nil && d.flate != nil {
		var on bool
		if on, err = acceptDeflate(hs.Extensions); err == nil && on {
			fl = &flateConn{pool: d.flate}
		} else if err != nil {
			err = &HandshakeError{Status: 101, Reason: err.Error(), Err: err}
		}
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		err = handshakeError(err, reason, rf, guard)
		if br != nil {
			ws.PutReader(br)
		}
		nc.Close()
		if errors.Is(err, ErrHandshakeTimeout) {
			return nil, tm, fmt.Errorf("dial %s: %w", rawURL, err)
		}
		return nil, tm, fmt.Errorf("dial %s: handshake: %w", rawURL, err)
	}

	var buffered []byte
	if br != nil {
		buffered, _ = br.Peek(br.Buffered())
	}
	c := newConn(nc, id, d.o.ReadBufferSize, d.o.MaxMessageSize, fl, tap, buffered)
	if br != nil {
		ws.PutReader(br)
	}
	c.proto = hs.Protocol
	c.cwt = d.o.ControlWriteTimeout
	return c, tm, nil
}

// target parses rawURL, reusing the last parse when the URL repeats (the
// common case: every virtual user dials the same URL).
func (d *Dialer) target(rawURL string) (*target, error) {
	if t := d.last.Load(); t != nil && t.raw == rawURL {
		return t, nil
	}
	u, err := url.ParseRequestURI(rawURL)
	if err != nil {
		return nil, err
	}
	t := &target{raw: rawURL, u: u}
	port := u.Port()
	switch u.Scheme {
	case "ws", "http":
		port = cmp.Or(port, "80")
	case "wss", "https":
		port = cmp.Or(port, "443")
		cfg := d.o.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		t.tls = cfg
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want ws or wss)", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("no host in URL")
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	d.last.Store(t)
	return t, nil
}

// cutAsTimeoutAfter is how long an upgrade may have waited for its answer
// when the context ends before the dial counts as a handshake timeout
// rather than as cancelled.
const cutAsTimeoutAfter = time.Second

// ErrHandshakeTimeout is the cause of a dial error when the upgrade
// response did not arrive in full within Options.HandshakeTimeout, or
// before the dial's context was cancelled (then the error also wraps
// context.Canceled). Kind reports it as "timeout".
var ErrHandshakeTimeout = errors.New("handshake timeout")

// handshakeError turns what ws.Dialer.Upgrade returned into a
// *HandshakeError, except I/O failures, which keep their own kind. rf is
// what a refusal said, g what was read of the response.
func handshakeError(err error, reason string, rf refusal, g *headGuard) error {
	var se ws.StatusError
	var he *HandshakeError
	switch {
	case errors.As(err, &he):
		return err
	case errors.As(err, &se):
		return &HandshakeError{Status: int(se), Reason: reason, Body: rf.body, Err: headErr(rf.err)}
	case errors.Is(err, ErrResponseHeadTooLarge):
		if g.is101 {
			return &HandshakeError{Status: 101, Reason: err.Error(), Err: err}
		}
		return &HandshakeError{Reason: err.Error(), Err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &HandshakeError{Reason: "connection closed before the upgrade response", Err: err}
	case errors.Is(err, ws.ErrHandshakeBadUpgrade), errors.Is(err, ws.ErrHandshakeBadConnection),
		errors.Is(err, ws.ErrHandshakeBadSecAccept), errors.Is(err, ws.ErrHandshakeBadSubProtocol),
		errors.Is(err, ws.ErrHandshakeBadExtensions):
		return &HandshakeError{Status: 101, Reason: err.Error(), Err: err}
	case errors.Is(err, ws.ErrHandshakeBadProtocol):
		// HTTP/1.0 (a plain web server): say what it answered, as for a
		// refusal, from what g kept.
		if rf, ok := g.notUpgrade(); ok {
			return &HandshakeError{Status: rf.status, Reason: rf.reason, Body: rf.body}
		}
		return &HandshakeError{Reason: err.Error(), Err: err}
	case errors.Is(err, ws.ErrMalformedResponse):
		return &HandshakeError{Reason: "not an HTTP response: it starts with " + g.startsWith(), Err: err}
	}
	return err
}

// headErr keeps ErrResponseHeadTooLarge from reading a refusal, the one
// failure there worth reporting.
func headErr(err error) error {
	if errors.Is(err, ErrResponseHeadTooLarge) {
		return ErrResponseHeadTooLarge
	}
	return nil
}

// refusalBodyMax bounds how much of a refused upgrade's response body is
// kept for the error message.
const refusalBodyMax = 256
