package cmd

// inspect_relay.go is `wsbench inspect --listen ADDR --upstream URL`: a
// byte-for-byte TCP relay between real WebSocket clients and a real server
// that feeds a copy of each direction to a live inspect.Session. It never
// re-frames: what one side wrote is exactly what the other side reads,
// except the Host header (and path) of the upgrade request.

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
	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
)

// maxHTTPHead bounds an upgrade request or response head.
const maxHTTPHead = 64 << 10

// relay is a running relay and its connections.
type relay struct {
	o         *inspectOptions
	up        *url.URL
	upAddr    string
	tls       *tls.Config // to the upstream; nil for ws://
	serverTLS *tls.Config // to the clients; nil for plain TCP
	sess      *inspect.Session
	feed      *inspect.Feeder // renders off the copy path
	mu        sync.Mutex
	conns     map[net.Conn]struct{} // open sockets, closed on shutdown
	shutdown  bool
}

func runInspectRelay(ctx context.Context, o *inspectOptions, ro inspect.RenderOptions) (err error) {
	switch {
	case o.Listen == "" || o.Upstream == "":
		return usageError(errors.New("inspect: --listen and --upstream go together"))
	case o.File != "":
		return usageError(fmt.Errorf("inspect: %s: give a trace file, a ws:// URL or --listen with --upstream, not both", o.File))
	case len(o.Headers) > 0 || len(o.Subprotocols) > 0 || o.Binary || o.Compression:
		return usageError(errors.New("inspect: -H, --subprotocol, --binary and --compression are for live mode; the relay forwards the client's request"))
	}
	u, err := url.Parse(o.Upstream)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" {
		return usageError(fmt.Errorf("--upstream %q: want ws://host[:port]/path or wss://…", o.Upstream))
	}
	r := &relay{o: o, up: u, conns: make(map[net.Conn]struct{})}
	if u.Scheme == "wss" {
		if r.tls, err = dialerTLS(o, u.Hostname()); err != nil {
			return usageError(err)
		}
		r.upAddr = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "443"))
	} else {
		r.upAddr = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "80"))
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	serverTLS, tlsNote, err := listenTLS(o)
	if err != nil {
		return usageError(err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect: listen on %s: %w", o.Listen, err)}
	}
	r.serverTLS = serverTLS
	rec, err := openRecord(o)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() { err = closeRecord(rec, err) }()
	r.sess = inspect.NewSession(o.Stdout, inspect.SessionOptions{Render: ro, Record: rec})
	scheme := "ws"
	if serverTLS != nil {
		scheme = "wss"
	}
	r.sess.Note(0, "relaying %s://%s to %s", scheme, ln.Addr(), o.Upstream)
	if tlsNote != "" {
		r.sess.Note(0, "%s", tlsNote)
	}
	r.feed = inspect.NewFeeder(r.sess, o.RenderQueue)
	if o.OnListen != nil {
		o.OnListen(ln.Addr())
	}

	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.shutdown = true
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		ln.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	var id uint64
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
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
			err = &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect: accept on %s: %w", ln.Addr(), aerr)}
			break
		}
		if !r.track(c) {
			c.Close()
			break
		}
		id++
		r.feed.Open(id)
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			r.serve(ctx, id, c)
			if o.OnConnDone != nil {
				o.OnConnDone(id)
			}
		}(id)
	}
	r.mu.Lock()
	r.shutdown = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	wg.Wait()
	r.feed.Close()
	if fs := r.feed.Stats(); fs.DroppedBytes > 0 {
		r.sess.Note(0, "the renderer fell behind: %d byte(s) in %d read(s) relayed but not decoded, shown as %d gap(s)", fs.DroppedBytes, fs.DroppedChunks, fs.Gaps)
	}
	r.sess.Note(0, "relay stopped after %d connection(s)", id)
	if o.OnStats != nil {
		o.OnStats(r.sess.Stats())
	}
	if serr := r.sess.Err(); serr != nil && err == nil {
		err = &ExitError{Code: ExitFailure, Err: serr}
	}
	return err
}

// dialerTLS is the client TLS configuration for a wss:// upstream.
func dialerTLS(o *inspectOptions, host string) (*tls.Config, error) {
	cfg, err := dialer.TLSConfig(o.Insecure, o.CAFile)
	if err != nil {
		return nil, err
	}
	cfg.ServerName = host
	return cfg, nil
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
	head, err := readHTTPHead(cbr)
	if err != nil {
		note("reading the upgrade request: %v", err)
		return
	}
	req := rewriteRequest(head, r.up)

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
	rsp, err := readHTTPHead(ubr)
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

	decode := statusCode(rsp) == 101
	now := time.Now()
	if decode {
		r.feed.Handshake(id, now, req, rsp)
		r.feed.Data(id, trace.ClientToServer, now, earlyC)
		r.feed.Data(id, trace.ServerToClient, now, earlyS)
	} else {
		note("upstream answered %q: relaying without decoding", firstLine(rsp))
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
			if _, werr := dst.Write(buf[:m]); werr != nil {
				r.feed.Note(id, fmt.Sprintf("c%d %s write: %v", id, dir, werr))
				src.Close()
				dst.Close()
				return total
			}
			total += int64(m)
			if decode {
				r.feed.Data(id, dir, time.Now(), buf[:m])
			}
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

// readHTTPHead reads an HTTP request or response head up to and including
// the blank line.
func readHTTPHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if len(head) > maxHTTPHead {
			return nil, fmt.Errorf("HTTP head longer than %d bytes", maxHTTPHead)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("after %d byte(s) of HTTP head: %w", len(head), err)
		}
		if bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")) {
			if len(head) == len(line) {
				return nil, errors.New("empty line instead of a request line")
			}
			return head, nil
		}
	}
}

// rewriteRequest sets the Host header to the upstream's and, when the
// upstream URL has a path, the request target to its path and query. The
// rest of the head is kept byte for byte.
func rewriteRequest(head []byte, up *url.URL) []byte {
	lines := bytes.SplitAfter(head, []byte("\n"))
	out := make([]byte, 0, len(head)+len(up.Host))
	for i, l := range lines {
		switch {
		case i == 0:
			if p := up.RequestURI(); up.Path != "" && up.Path != "/" || up.RawQuery != "" {
				f := bytes.SplitN(l, []byte(" "), 3)
				if len(f) == 3 {
					l = bytes.Join([][]byte{f[0], []byte(p), f[2]}, []byte(" "))
				}
			}
		case len(l) > 5 && bytes.EqualFold(l[:5], []byte("host:")):
			l = []byte("Host: " + up.Host + "\r\n")
		}
		out = append(out, l...)
	}
	return out
}

// statusCode is the status of an HTTP response head, 0 if unreadable.
func statusCode(rsp []byte) int {
	f := bytes.Fields(firstLine(rsp))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(string(f[1]))
	return n
}

func firstLine(b []byte) []byte {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return bytes.TrimSuffix(l, []byte("\r"))
}
