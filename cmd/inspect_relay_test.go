package cmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
)

// tapConn records every byte read from and written to a connection.
type tapConn struct {
	net.Conn
	mu          sync.Mutex
	read, wrote bytes.Buffer
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.wrote.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) streams() (read, wrote []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.read.Bytes()), bytes.Clone(c.wrote.Bytes())
}

// tapListener wraps accepted connections in tapConns.
type tapListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*tapConn
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &tapConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, tc)
	l.mu.Unlock()
	return tc, nil
}

// syncBuffer is an output buffer the relay writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// splitHead cuts an HTTP upgrade stream into its head and the frames after.
func splitHead(t *testing.T, b []byte) (head, rest []byte) {
	t.Helper()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no HTTP head in %q", b)
	}
	return b[:i+4], b[i+4:]
}

// checkRelayedBytes checks what the relay passed between cli and the first
// connection srvLn accepted: every byte from server to client, and every
// frame byte from client to server (the upgrade request may be rewritten).
// It returns the request as sent and as received, the client's frames and
// the server's frames.
func checkRelayedBytes(t *testing.T, srvLn *tapListener, cli *tapConn) (cHead, sHead, cFrames, sFrames []byte) {
	t.Helper()
	srvLn.mu.Lock()
	srv := srvLn.conns[0]
	srvLn.mu.Unlock()
	srvRead, srvWrote := srv.streams()
	cliRead, cliWrote := cli.streams()
	if !bytes.Equal(srvWrote, cliRead) {
		t.Errorf("server to client: the server wrote %d bytes, the client read %d different ones", len(srvWrote), len(cliRead))
	}
	cHead, cFrames = splitHead(t, cliWrote)
	sHead, got := splitHead(t, srvRead)
	if !bytes.Equal(cFrames, got) || len(cFrames) == 0 {
		t.Errorf("client to server: the client sent %d bytes of frames, the server got %d different ones", len(cFrames), len(got))
	}
	_, sFrames = splitHead(t, srvWrote)
	return cHead, sHead, cFrames, sFrames
}

// countFrames parses a frame stream to its end.
func countFrames(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		_, size, err := inspect.ParseFrame(b)
		if err != nil {
			t.Fatalf("frame %d: %v", n+1, err)
		}
		b = b[size:]
		n++
	}
	return n
}

// TestInspectRelayGorilla puts the relay between a gorilla client and a
// gorilla server: fragmented messages and pings both ways must reach each
// side byte for byte, and the dump and the recording must show them.
func TestInspectRelayGorilla(t *testing.T) {
	// Upstream: a gorilla echo server on /ws that pings each client first.
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvLn := &tapListener{Listener: raw}
	// Origin is a foreign site: the default check would refuse it.
	up := websocket.Upgrader{ReadBufferSize: 256, WriteBufferSize: 64, CheckOrigin: func(*http.Request) bool { return true }}
	var handlers sync.WaitGroup
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := c.WriteControl(websocket.PingMessage, []byte("srv-ping"), time.Now().Add(5*time.Second)); err != nil {
			return
		}
		for {
			mt, rd, err := c.NextReader()
			if err != nil {
				return // the default close handler has answered a close
			}
			wr, err := c.NextWriter(mt)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(srvLn) }()
	defer hs.Close()

	// The relay.
	dir := t.TempDir()
	recFile := filepath.Join(dir, "relay.trace")
	addrCh := make(chan net.Addr, 1)
	doneCh := make(chan uint64, 4)
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	relayErr := make(chan error, 1)
	go func() {
		relayErr <- runInspect(ctx, &inspectOptions{
			Listen: "127.0.0.1:0", Upstream: "ws://" + raw.Addr().String() + "/ws",
			MaxPayload: inspect.DefaultMaxPayload, Record: recFile, RecordMaxBytes: trace.DefaultMaxBytes,
			ConnectTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
			Stdout: out, Stderr: io.Discard,
			OnListen:   func(a net.Addr) { addrCh <- a },
			OnConnDone: func(id uint64) { doneCh <- id },
		})
	}()
	var relayAddr net.Addr
	select {
	case relayAddr = <-addrCh:
	case err := <-relayErr:
		t.Fatalf("relay: %v", err)
	case <-ctx.Done():
		t.Fatal("relay did not start")
	}
	waitDone := func(want uint64) {
		t.Helper()
		select {
		case id := <-doneCh:
			if id != want {
				t.Fatalf("connection %d ended, want %d", id, want)
			}
		case <-ctx.Done():
			t.Fatalf("relay of connection %d did not end:\n%s", want, out.String())
		}
	}

	// Client 1: gorilla with a small write buffer, so long messages go out
	// fragmented.
	var cli *tapConn
	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second, WriteBufferSize: 64, ReadBufferSize: 256,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cli = &tapConn{Conn: c}
			return cli, nil
		},
	}
	conn, _, err := d.Dial("ws://"+relayAddr.String()+"/anything", http.Header{"Origin": {"http://example.test"}})
	if err != nil {
		t.Fatalf("dial through the relay: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var pongs []string
	conn.SetPongHandler(func(s string) error { pongs = append(pongs, s); return nil })
	long := strings.Repeat("fragmented-text ", 40)
	bin := bytes.Repeat([]byte{0, 1, 2, 0xff}, 75)
	msgs := []struct {
		op   int
		data []byte
	}{{websocket.TextMessage, []byte("hello")}, {websocket.TextMessage, []byte(long)}, {websocket.BinaryMessage, bin}}
	for i, m := range msgs {
		if err := conn.WriteMessage(m.op, m.data); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := conn.WriteControl(websocket.PingMessage, []byte("cli-ping"), time.Now().Add(5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, m := range msgs {
		op, data, err := conn.ReadMessage()
		if err != nil || op != m.op || !bytes.Equal(data, m.data) {
			t.Fatalf("echo %d: op %d, %d bytes, %v", i, op, len(data), err)
		}
	}
	if err := conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "done")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, 1000) {
		t.Fatalf("want the server's close 1000, got %v", err)
	}
	conn.Close()
	if len(pongs) != 1 || pongs[0] != "cli-ping" {
		t.Errorf("pongs %q, want the answer to cli-ping", pongs)
	}
	waitDone(1)
	handlers.Wait()

	// Client 2: a second connection gets the next number.
	conn2, _, err := websocket.DefaultDialer.Dial("ws://"+relayAddr.String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn2.WriteMessage(websocket.TextMessage, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := conn2.ReadMessage(); err != nil || string(data) != "second" {
		t.Fatalf("second client: %q %v", data, err)
	}
	conn2.Close() // no close handshake: the relay sees the TCP close
	waitDone(2)

	cancel()
	if err := <-relayErr; err != nil {
		t.Fatalf("relay: %v", err)
	}

	// Bytes in == bytes out, both ways, except the rewritten Host and path.
	cHead, sHead, cFrames, rspFrames := checkRelayedBytes(t, srvLn, cli)
	upURL, _ := url.Parse("ws://" + raw.Addr().String() + "/ws")
	if want := inspect.RewriteRequest(cHead, upURL); !bytes.Equal(sHead, want) {
		t.Errorf("upgrade request as received:\n%s\nwant:\n%s", sHead, want)
	}
	if !bytes.HasPrefix(sHead, []byte("GET /ws HTTP/1.1\r\n")) || !bytes.Contains(sHead, []byte("\r\nHost: "+raw.Addr().String()+"\r\n")) ||
		!bytes.Contains(sHead, []byte("\r\nOrigin: http://example.test\r\n")) {
		t.Errorf("rewritten request:\n%s", sHead)
	}
	nC, nS := countFrames(t, cFrames), countFrames(t, rspFrames)
	if nC < 8 {
		t.Errorf("%d client frames: the long messages were not fragmented", nC)
	}

	// The dump shows every frame of connection 1, in both directions.
	s := out.String()
	if got := frameLines(s, " c1 C>S "); got != nC {
		t.Errorf("dump: %d client frames of c1, the wire had %d:\n%s", got, nC, s)
	}
	if got := frameLines(s, " c1 S>C "); got != nS {
		t.Errorf("dump: %d server frames of c1, the wire had %d:\n%s", got, nS, s)
	}
	wantAll(t, s, "-- relaying ws://", " c1 handshake", "   > GET /ws HTTP/1.1", "   < HTTP/1.1 101 Switching Protocols",
		`=>   ping payload="srv-ping"`, `=>   pong payload="srv-ping"`, `=>   ping payload="cli-ping"`, `=>   pong payload="cli-ping"`,
		`=>   text "hello" utf8=ok`, "text fragment 1", "(last)", "=>   binary fragment 1",
		`=>   close code=1000(Normal Closure) reason="done"`,
		" c2 handshake", `=>   text "second" utf8=ok`, "-- c2 closed: ", "relay stopped after 2 connection(s)")
	if frameLines(s, "C>S", "FRAG=") < 2 || frameLines(s, "C>S", "MASK=1") != frameLines(s, "C>S") {
		t.Errorf("want fragmented, masked client frames:\n%s", s)
	}
	if strings.Contains(s, "   !    ") {
		t.Errorf("violations in a conforming conversation:\n%s", s)
	}

	// The recording holds the same bytes.
	f, err := openTrace(recFile)
	if err != nil {
		t.Fatal(err)
	}
	var recC, recS []byte
	for {
		r, err := f.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == trace.KindFrame && r.Conn == 1 {
			if r.Dir == trace.ClientToServer {
				recC = append(recC, r.Raw...)
			} else {
				recS = append(recS, r.Raw...)
			}
		}
	}
	if !bytes.Equal(recC, cFrames) || !bytes.Equal(recS, rspFrames) {
		t.Errorf("recording of c1: %d/%d bytes C>S, %d/%d S>C, or different", len(recC), len(cFrames), len(recS), len(rspFrames))
	}
}

func openTrace(path string) (*trace.Reader, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return trace.NewReader(bytes.NewReader(b))
}

// TestInspectRelayUpstreamDown: a client gets 502 when the upstream cannot
// be reached, and the relay keeps running.
func TestInspectRelayUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	addrCh := make(chan net.Addr, 1)
	doneCh := make(chan uint64, 1)
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	relayErr := make(chan error, 1)
	go func() {
		relayErr <- runInspect(ctx, &inspectOptions{
			Listen: "127.0.0.1:0", Upstream: "ws://" + dead + "/", Stdout: out,
			ConnectTimeout: 2 * time.Second, HandshakeTimeout: 2 * time.Second,
			OnListen: func(a net.Addr) { addrCh <- a }, OnConnDone: func(id uint64) { doneCh <- id },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-addrCh:
	case err := <-relayErr:
		t.Fatal(err)
	}
	_, rsp, err := websocket.DefaultDialer.Dial("ws://"+addr.String()+"/", nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || rsp == nil || rsp.StatusCode != http.StatusBadGateway {
		t.Errorf("dial through a relay to a dead upstream: %v, want 502", err)
	}
	<-doneCh
	cancel()
	if err := <-relayErr; err != nil {
		t.Fatal(err)
	}
	wantAll(t, out.String(), "-- c1 accepted from ", "-- c1 upstream ws://"+dead+"/: ", "connection refused")
}

// TestInspectRelayBrokenServer: the relay shows what a broken server sends
// (which a client would refuse to read), whatever the TCP chunking, and
// passes it on unchanged.
func TestInspectRelayBrokenServer(t *testing.T) {
	bad := []byte{
		0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2, // masked server frame
		0x83, 0x00, // reserved opcode 0x3
		0x01, 0x7e, 0x00, 0x02, 'o', 'k', // non-minimal 16-bit length, FIN=0
		0x89, 0x01, 'p', // ping inside the fragmented message: fine
		0x81, 0x00, // a new text message while one is unfinished
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upDone := make(chan struct{})
	defer func() { upLn.Close(); <-upDone }()
	go func() {
		defer close(upDone)
		c, err := upLn.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := inspect.ReadHTTPHead(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		for i := range bad { // one byte per write: frames arrive in pieces
			if _, err := c.Write(bad[i : i+1]); err != nil {
				return
			}
		}
	}()

	addrCh := make(chan net.Addr, 1)
	doneCh := make(chan uint64, 1)
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	relayErr := make(chan error, 1)
	go func() {
		relayErr <- runInspect(ctx, &inspectOptions{
			Listen: "127.0.0.1:0", Upstream: "ws://" + upLn.Addr().String(), Stdout: out,
			OnListen: func(a net.Addr) { addrCh <- a }, OnConnDone: func(id uint64) { doneCh <- id },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-addrCh:
	case err := <-relayErr:
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-doneCh
	cancel()
	if err := <-relayErr; err != nil {
		t.Fatal(err)
	}
	if _, frames := splitHead(t, got); !bytes.Equal(frames, bad) {
		t.Errorf("client got % x, server sent % x", frames, bad)
	}
	s := out.String()
	wantAll(t, s, "   > GET /x HTTP/1.1", "   > Host: "+upLn.Addr().String(),
		"!    masked-server-frame", "!    reserved-opcode", "!    non-minimal-length", "!    bad-continuation",
		`=>   ping payload="p"`, "-- c1 closed: 0 byte(s) client to server, 21 byte(s) server to client")
	if n := frameLines(s, " c1 S>C "); n != 5 {
		t.Errorf("%d server frames shown, want 5:\n%s", n, s)
	}
}

// TestInspectRelayListenTaken: a relay whose address is taken fails with
// exit 3 before it creates the --record file.
func TestInspectRelayListenTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rec := filepath.Join(t.TempDir(), "relay.trace")
	var out bytes.Buffer
	err = runInspect(context.Background(), &inspectOptions{
		Listen: ln.Addr().String(), Upstream: "ws://127.0.0.1:1/", Record: rec, RecordMaxBytes: trace.DefaultMaxBytes, Stdout: &out,
	})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Fatalf("relay on a taken address: %v, want exit %d naming the address", err, ExitFailure)
	}
	if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--record file after a failed listen: %v, want none", err)
	}
}
