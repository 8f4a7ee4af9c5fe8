package inspect

// source_relay.go is `wsbench inspect --listen ADDR --upstream URL`: a
// byte-for-byte TCP relay between real WebSocket clients and a real server
// that feeds a copy of each direction to the Session through a Feeder. It
// never re-frames: what one side wrote is exactly what the other side
// reads, except the Host header (and path) of the upgrade request.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/internal/trace"
)

// RelayOptions configure a Relay.
type RelayOptions struct {
	Listen           string // accept clients here
	Upstream         string // forward them to this ws:// or wss:// URL
	Insecure         bool   // wss:// upstream: skip certificate verification
	CAFile           string // wss:// upstream: trust this PEM CA file too
	ListenCert       string // serve TLS (wss://) with this PEM certificate…
	ListenKey        string // …and this PEM key
	ListenSelfSigned bool   // serve TLS with a certificate generated in memory
	ConnectTimeout   time.Duration
	HandshakeTimeout time.Duration
	RenderQueue      int               // bytes queued for rendering before the relay passes them over
	OnListen         func(net.Addr)    // called once listening (tests)
	OnConnDone       func(conn uint64) // called when a client's relay ends (tests)
}

// Relay is the relay source.
type Relay struct {
	o         RelayOptions
	up        *url.URL
	upAddr    string
	tls       *tls.Config // to the upstream; nil for ws://
	serverTLS *tls.Config // to the clients; nil for plain TCP
	tlsNote   string      // what serverTLS serves
	ln        net.Listener
}

// NewRelay checks the options: the upstream URL, the TLS files. Its errors
// are the user's to fix.
func NewRelay(o RelayOptions) (*Relay, error) {
	u, err := url.Parse(o.Upstream)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" {
		return nil, fmt.Errorf("--upstream %q: want ws://host[:port]/path or wss://…", o.Upstream)
	}
	r := &Relay{o: o, up: u}
	if u.Scheme == "wss" {
		if r.tls, err = dialer.TLSConfig(o.Insecure, o.CAFile); err != nil {
			return nil, err
		}
		r.tls.ServerName = u.Hostname()
		r.upAddr = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "443"))
	} else {
		r.upAddr = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "80"))
	}
	if r.o.ConnectTimeout <= 0 {
		r.o.ConnectTimeout = 10 * time.Second
	}
	if r.o.HandshakeTimeout <= 0 {
		r.o.HandshakeTimeout = 10 * time.Second
	}
	if r.serverTLS, r.tlsNote, err = ListenTLS(o.ListenCert, o.ListenKey, o.ListenSelfSigned); err != nil {
		return nil, err
	}
	return r, nil
}

// relay is a running relay and its connections.
type relay struct {
	*Relay
	sess     *Session
	feed     *Feeder // renders off the copy path
	mu       sync.Mutex
	conns    map[net.Conn]struct{} // open sockets, closed on shutdown
	shutdown bool
}

// Listen opens the listening socket, so that a caller can learn that the
// address is taken before it starts a recording. Inspect calls it when
// the caller did not.
func (rl *Relay) Listen(ctx context.Context) error {
	if rl.ln != nil {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", rl.o.Listen)
	if err != nil {
		return fmt.Errorf("inspect: listen on %s: %w", rl.o.Listen, err)
	}
	rl.ln = ln
	return nil
}

// Close closes the listening socket, if Listen opened one.
func (rl *Relay) Close() error {
	if rl.ln == nil {
		return nil
	}
	return rl.ln.Close()
}

// Inspect listens (unless Listen did) and relays until ctx is done.
func (rl *Relay) Inspect(ctx context.Context, s *Session) error {
	if err := rl.Listen(ctx); err != nil {
		return err
	}
	ln := rl.ln
	r := &relay{Relay: rl, sess: s, conns: make(map[net.Conn]struct{})}
	scheme := "ws"
	if r.serverTLS != nil {
		scheme = "wss"
	}
	r.sess.Note(0, "relaying %s://%s to %s", scheme, ln.Addr(), r.o.Upstream)
	if r.tlsNote != "" {
		r.sess.Note(0, "%s", r.tlsNote)
	}
	r.feed = NewFeeder(r.sess, r.o.RenderQueue)
	if r.o.OnListen != nil {
		r.o.OnListen(ln.Addr())
	}
	stop := context.AfterFunc(ctx, func() {
		r.closeAll()
		ln.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	n, err := r.accept(ctx, ln, &wg)
	r.closeAll()
	wg.Wait()
	r.feed.Close()
	if fs := r.feed.Stats(); fs.DroppedBytes > 0 {
		r.sess.Note(0, "the renderer fell behind: %d byte(s) in %d read(s) relayed but not decoded, shown as %d gap(s)", fs.DroppedBytes, fs.DroppedChunks, fs.Gaps)
	}
	r.sess.Note(0, "relay stopped after %d connection(s)", n)
	return err
}

// accept serves clients until ctx is done or the listener fails, and
// returns how many it accepted.
func (r *relay) accept(ctx context.Context, ln net.Listener, wg *sync.WaitGroup) (uint64, error) {
	var id uint64
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				return id, nil
			}
			if !errors.Is(aerr, net.ErrClosed) {
				// Out of file descriptors and the like: say so, let
				// connections end, try again.
				r.feed.Note(0, fmt.Sprintf("accept on %s: %v", ln.Addr(), aerr))
				select {
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
				}
				continue
			}
			return id, fmt.Errorf("inspect: accept on %s: %w", ln.Addr(), aerr)
		}
		if !r.track(c) {
			c.Close()
			return id, nil
		}
		id++
		r.feed.Open(id)
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			r.serve(ctx, id, c)
			if r.o.OnConnDone != nil {
				r.o.OnConnDone(id)
			}
		}(id)
	}
}

// closeAll closes every open socket and refuses new ones.
func (r *relay) closeAll() {
	r.mu.Lock()
	r.shutdown = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
}

// track registers an open socket, or reports false during shutdown.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// serve relays one client: the upgrade exchange, then bytes both ways.
func (r *relay) serve(ctx context.Context, id uint64, client net.Conn) {
	defer r.untrack(client)
	note := func(format string, args ...any) {
		r.feed.Note(id, fmt.Sprintf("c%d "+format, append([]any{id}, args...)...))
	}
	note("accepted from %s", client.RemoteAddr())
	_ = client.SetDeadline(time.Now().Add(r.o.HandshakeTimeout))
	if r.serverTLS != nil {
		tc := tls.Server(client, r.serverTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			note("TLS handshake with the client: %v", err)
			return
		}
		st := tc.ConnectionState()
		sni := "no server name (SNI)"
		if st.ServerName != "" {
			sni = "server name " + strconv.Quote(st.ServerName)
		}
		note("TLS %s %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), sni)
		client = tc
	}
	cbr := bufio.NewReaderSize(client, 4<<10)
	head, err := ReadHTTPHead(cbr)
	if err != nil {
		note("reading the upgrade request: %v", err)
		return
	}
	req := RewriteRequest(head, r.up)

	nd := net.Dialer{Timeout: r.o.ConnectTimeout}
	up, err := nd.DialContext(ctx, "tcp", r.upAddr)
	if err == nil && r.tls != nil {
		tc := tls.Client(up, r.tls)
		_ = up.SetDeadline(time.Now().Add(r.o.ConnectTimeout))
		if err = tc.HandshakeContext(ctx); err != nil {
			up.Close()
		}
		up = tc
	}
	if err != nil {
		note("upstream %s: %v", r.o.Upstream, err)
		_, _ = io.WriteString(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	if !r.track(up) {
		up.Close()
		return
	}
	defer r.untrack(up)
	_ = up.SetDeadline(time.Now().Add(r.o.HandshakeTimeout))
	earlyC := take(cbr) // client bytes sent right after its request
	if _, err := up.Write(append(req, earlyC...)); err != nil {
		note("upstream %s: sending the upgrade request: %v", r.o.Upstream, err)
		return
	}
	ubr := bufio.NewReaderSize(up, 4<<10)
	rsp, err := ReadHTTPHead(ubr)
	if err != nil {
		note("upstream %s: reading the upgrade response: %v", r.o.Upstream, err)
		return
	}
	earlyS := take(ubr)
	if _, err := client.Write(append(rsp, earlyS...)); err != nil {
		note("sending the upgrade response to the client: %v", err)
		return
	}
	_ = client.SetDeadline(time.Time{})
	_ = up.SetDeadline(time.Time{})

	decode := StatusCode(rsp) == 101
	now := time.Now()
	if decode {
		r.feed.Handshake(id, now, req, rsp)
		r.feed.Data(id, trace.ClientToServer, now, earlyC)
		r.feed.Data(id, trace.ServerToClient, now, earlyS)
	} else {
		note("upstream answered %q: relaying without decoding", statusLine(rsp))
	}

	var wg sync.WaitGroup
	var n [2]int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		n[trace.ClientToServer] = r.pipe(id, trace.ClientToServer, up, client, decode)
	}()
	go func() {
		defer wg.Done()
		n[trace.ServerToClient] = r.pipe(id, trace.ServerToClient, client, up, decode)
	}()
	wg.Wait()
	note("closed: %d byte(s) client to server, %d byte(s) server to client after the upgrade",
		n[trace.ClientToServer]+int64(len(earlyC)), n[trace.ServerToClient]+int64(len(earlyS)))
}

// pipe copies src to dst unchanged and shows a copy of each chunk. At the
// end of src it half-closes dst so the other direction can finish; on an
// error it closes both.
func (r *relay) pipe(id uint64, dir trace.Dir, dst, src net.Conn, decode bool) int64 {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		m, err := src.Read(buf)
		if m > 0 {
			// Shown before passing them on, at the time they arrived: the
			// peer's answer may come back (and be shown by the other
			// direction's goroutine) before this Write returns, and a
			// recording must have the request first.
			if decode {
				r.feed.Data(id, dir, time.Now(), buf[:m])
			}
			if _, werr := dst.Write(buf[:m]); werr != nil {
				r.feed.Note(id, fmt.Sprintf("c%d %s write: %v", id, dir, werr))
				src.Close()
				dst.Close()
				return total
			}
			total += int64(m)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
					return total
				}
			} else if !errors.Is(err, net.ErrClosed) {
				r.feed.Note(id, fmt.Sprintf("c%d %s read: %v", id, dir, err))
			}
			src.Close()
			dst.Close()
			return total
		}
	}
}

// take removes and returns the bytes a bufio.Reader holds.
func take(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	out := bytes.Clone(b)
	_, _ = br.Discard(len(b))
	return out
}
