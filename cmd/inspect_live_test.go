package cmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/target"
)

// startEcho starts the reference server on a free loopback port.
func startEcho(t *testing.T) *target.Server {
	t.Helper()
	cfg := target.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Loops = 1
	return startServer(t, cfg)
}

// startServer starts the reference server with cfg and shuts it down when
// the test ends.
func startServer(t *testing.T, cfg target.Config) *target.Server {
	t.Helper()
	srv, err := target.Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

// live runs `wsbench inspect URL` with stdin, bounded in time.
func live(t *testing.T, o inspectOptions, stdin string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.Stdin, o.Stdout, o.Stderr = strings.NewReader(stdin), &out, &errOut
	if o.CloseWait == 0 {
		o.CloseWait = 5 * time.Second
	}
	o.ConnectTimeout, o.HandshakeTimeout = 5*time.Second, 5*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := runInspect(ctx, &o)
	if ctx.Err() != nil {
		t.Fatalf("live inspection did not end by itself:\n%s", out.String())
	}
	return out.String(), errOut.String(), err
}

func wantAll(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// frameLines counts summary lines with all the given parts.
func frameLines(out string, parts ...string) int {
	n := 0
	for l := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			n++
		}
	}
	return n
}

func TestInspectLiveEcho(t *testing.T) {
	srv := startEcho(t)
	url := srv.URL("/echo")

	t.Run("texts, ping, close at end of input", func(t *testing.T) {
		out, stderr, err := live(t, inspectOptions{File: url, Headers: []string{"X-Probe: live"}}, "hello\nwörld\n/ping are-you-there\n//slash\n/help\n/nope\n")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		wantAll(t, out,
			"== +", " c1 handshake", "   > GET /echo HTTP/1.1", "   > X-Probe: live", "   < HTTP/1.1 101 Switching Protocols",
			"-- connected to "+url,
			`=>   text "hello" utf8=ok`, `=>   text "wörld" utf8=ok`, `=>   text "/slash" utf8=ok`,
			`=>   ping payload="are-you-there"`, `=>   pong payload="are-you-there"`,
			`=>   close code=1000(Normal Closure) reason=""`, "-- closed: code 1000")
		// Every text went out masked and came back unmasked, in order.
		for _, dir := range []string{"C>S", "S>C"} {
			if n := frameLines(out, " c1 "+dir+" ", "OP=0x1(text)"); n != 3 {
				t.Errorf("%d text frames %s, want 3:\n%s", n, dir, out)
			}
			if n := frameLines(out, " c1 "+dir+" ", "OP=0x8(close)"); n != 1 {
				t.Errorf("%d close frames %s, want 1:\n%s", n, dir, out)
			}
		}
		if frameLines(out, "C>S", "MASK=1") != frameLines(out, "C>S") || frameLines(out, "S>C", "MASK=0") != frameLines(out, "S>C") {
			t.Errorf("masking: client frames must be masked, server frames not:\n%s", out)
		}
		if strings.Index(out, `text "hello"`) > strings.Index(out, `text "wörld"`) || strings.Contains(out, "   !    ") {
			t.Errorf("out of order or violations:\n%s", out)
		}
		wantAll(t, stderr, "/raw HEX", "unknown command /nope")
	})

	t.Run("close with code and reason", func(t *testing.T) {
		out, _, err := live(t, inspectOptions{File: url}, "hi\n/close 4000 bye\nnever sent\n")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if n := frameLines(out, "C>S", "OP=0x8(close)"); n != 1 {
			t.Errorf("%d client close frames, want 1:\n%s", n, out)
		}
		wantAll(t, out, `=>   close code=4000(Private Use) reason="bye"`, "-- closed: code 4000")
		if strings.Contains(out, "never sent") || frameLines(out, "S>C", "OP=0x8(close)") != 1 {
			t.Errorf("a line after /close went out, or no server close:\n%s", out)
		}
	})

	t.Run("raw broken frame gets 1002", func(t *testing.T) {
		// Text "hello", FIN and RSV1 set, masked with a zero key: no
		// extension was negotiated, so the server must fail the connection.
		out, _, err := live(t, inspectOptions{File: url}, "/raw c1 85 00000000 68656c6c6f\n")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		wantAll(t, out, "C>S @0 11B FIN=1 RSV=100 OP=0x1(text) MASK=1 KEY=00000000 LEN=5(7bit)",
			"   !    rsv-without-extension", `=>   close code=1002(Protocol Error)`, "-- closed: code 1002")
	})

	t.Run("binary hex lines", func(t *testing.T) {
		out, stderr, err := live(t, inspectOptions{File: url, Binary: true}, "00 ff 10\nzz\n")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if n := frameLines(out, "OP=0x2(binary)", "LEN=3(7bit)"); n != 2 {
			t.Errorf("%d binary frames of 3 bytes, want 2 (sent and echoed):\n%s", n, out)
		}
		wantAll(t, out, "   data 00 ff 10 ")
		wantAll(t, stderr, "--binary: hex")
	})

	t.Run("JSON", func(t *testing.T) {
		out, _, err := live(t, inspectOptions{File: url, JSON: true, Opcodes: []string{"text"}}, "json-me\n")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if n := strings.Count(out, `"type":"frame"`); n != 2 || !strings.Contains(out, `"text":"json-me"`) || !strings.Contains(out, `"type":"note"`) {
			t.Errorf("want 2 text frames as JSON and notes:\n%s", out)
		}
	})
}

// TestInspectLiveRecord: --record writes a trace whose rendering has
// exactly the frame lines the live dump showed.
func TestInspectLiveRecord(t *testing.T) {
	srv := startEcho(t)
	file := filepath.Join(t.TempDir(), "live.trace")
	out, _, err := live(t, inspectOptions{File: srv.URL("/echo"), Record: file, RecordMaxBytes: trace.DefaultMaxBytes, MaxPayload: inspect.DefaultMaxPayload},
		"one\n/ping p\n"+strings.Repeat("x", 300)+"\n")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var back bytes.Buffer
	if err := runInspect(context.Background(), &inspectOptions{File: file, MaxPayload: inspect.DefaultMaxPayload, Stdout: &back}); err != nil {
		t.Fatalf("%v\n%s", err, back.String())
	}
	keep := func(s string) string {
		var b strings.Builder
		for l := range strings.SplitSeq(s, "\n") {
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "   ") || strings.HasPrefix(l, "==") {
				b.WriteString(l + "\n")
			}
		}
		return b.String()
	}
	if keep(out) != keep(back.String()) || frameLines(out) != 8 {
		t.Errorf("live dump and recording differ (want 8 frames):\n--- live\n%s\n--- recorded\n%s", out, back.String())
	}
	wantAll(t, back.String(), "LEN=300(16bit)", " 1 connection(s)")
}

func TestInspectLiveConnectError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out, _, err := live(t, inspectOptions{File: "ws://" + addr + "/echo"}, "hello\n")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "connect") {
		t.Errorf("refused connection: %v, want exit %d naming the connect phase", err, ExitFailure)
	}
	wantAll(t, out, "-- connection failed: ")

	// A refused upgrade is shown with the server's response.
	srv := startEcho(t)
	out, _, err = live(t, inspectOptions{File: srv.URL("/nope")}, "hello\n")
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "404") {
		t.Errorf("refused upgrade: %v, want exit %d naming the status", err, ExitFailure)
	}
	wantAll(t, out, "   > GET /nope HTTP/1.1", "   < HTTP/1.1 404 Not Found")

	// A server that upgrades, then never answers our close: the wait is
	// bounded by --close-wait and the exit says so.
	mute := muteServer(t)
	out, _, err = live(t, inspectOptions{File: "ws://" + mute + "/x", CloseWait: 300 * time.Millisecond}, "anyone?\n")
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "no close handshake within 300ms") {
		t.Errorf("mute server: %v, want exit %d for the missing close handshake", err, ExitFailure)
	}
	wantAll(t, out, "   < HTTP/1.1 101 Switching Protocols", `=>   text "anyone?"`, "OP=0x8(close) MASK=1", "-- no close from the server within 300ms")
}

// muteServer accepts one WebSocket upgrade, then reads and never answers.
func muteServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
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
		_, _ = c.Write(rsp)
		_, _ = io.Copy(io.Discard, br)
	}()
	return ln.Addr().String()
}

// upgradeResponse reads a client's upgrade request from br and returns the
// 101 response that accepts it, for test servers that then misbehave.
func upgradeResponse(br *bufio.Reader) ([]byte, error) {
	head, err := inspect.ReadHTTPHead(br)
	if err != nil {
		return nil, err
	}
	var key string
	for l := range strings.SplitSeq(string(head), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Sec-WebSocket-Key") {
			key = strings.TrimSpace(v)
		}
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"), nil
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsbench inspect test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestInspectTLS: live mode and a relay to a wss:// upstream, trusting
// the server through --ca-file or --insecure.
func TestInspectTLS(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	cfg := target.DefaultConfig()
	cfg.Addr, cfg.Loops, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", 1, certFile, keyFile
	srv := startServer(t, cfg)
	url := srv.URL("/echo")
	if !strings.HasPrefix(url, "wss://") {
		t.Fatalf("TLS server URL %s", url)
	}

	_, _, err := live(t, inspectOptions{File: url}, "x\n")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "tls") {
		t.Errorf("untrusted certificate: %v, want exit %d naming tls", err, ExitFailure)
	}
	for _, o := range []inspectOptions{{File: url, CAFile: certFile}, {File: url, Insecure: true}} {
		out, _, err := live(t, o, "over-tls\n")
		if err != nil || frameLines(out, "OP=0x1(text)") != 2 || !strings.Contains(out, `text "over-tls"`) {
			t.Errorf("ca-file %q insecure %v: %v\n%s", o.CAFile, o.Insecure, err, out)
		}
	}

	// Relay: plain ws:// for the client, wss:// upstream.
	addrCh := make(chan net.Addr, 1)
	doneCh := make(chan uint64, 1)
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	relayErr := make(chan error, 1)
	go func() {
		relayErr <- runInspect(ctx, &inspectOptions{
			Listen: "127.0.0.1:0", Upstream: url, CAFile: certFile, Stdout: out,
			OnListen: func(a net.Addr) { addrCh <- a }, OnConnDone: func(id uint64) { doneCh <- id },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-addrCh:
	case err := <-relayErr:
		t.Fatal(err)
	}
	lout, _, err := live(t, inspectOptions{File: "ws://" + addr.String() + "/"}, "via-relay\n")
	if err != nil {
		t.Fatalf("live through the relay: %v\n%s", err, lout)
	}
	select {
	case <-doneCh:
	case <-ctx.Done():
		t.Fatal("relayed connection did not end")
	}
	cancel()
	if err := <-relayErr; err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if frameLines(s, " c1 ", "OP=0x1(text)") != 2 || frameLines(s, " c1 ", "OP=0x8(close)") != 2 || !strings.Contains(s, "   > GET /echo HTTP/1.1") {
		t.Errorf("relay to wss:// upstream:\n%s", s)
	}
}

// TestInspectLiveCobra drives live mode through the command line.
func TestInspectLiveCobra(t *testing.T) {
	srv := startEcho(t)
	file := filepath.Join(t.TempDir(), "cobra.trace")
	root := NewRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader("from-cobra\n/close 4001\n"))
	root.SetArgs([]string{"inspect", srv.URL("/echo"), "-H", "X-Token: t1", "--subprotocol", "chat", "--close-wait", "3s",
		"--connect-timeout", "3s", "--handshake-timeout", "3s", "--record", file, "--dir", "c2s"})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	wantAll(t, s, "   > X-Token: t1", "   > Sec-WebSocket-Protocol: chat", `text "from-cobra"`, "close code=4001")
	if frameLines(s, "S>C") != 0 || frameLines(s, "C>S") != 2 {
		t.Errorf("--dir c2s: want only the 2 client frames:\n%s", s)
	}
	if st, err := os.Stat(file); err != nil || st.Size() <= int64(trace.HeaderSize) {
		t.Errorf("--record: %v", err)
	}

	root = NewRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"inspect", "--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:1/", "extra.trace"})
	if err := root.Execute(); err == nil {
		t.Error("a relay with a trace file argument: want an error")
	}
}
