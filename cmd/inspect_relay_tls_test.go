package cmd

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/internal/inspect"
)

// gorillaEchoServer serves a gorilla echo endpoint on /ws, over TLS when
// cert is given. Its listener records the plaintext each connection read
// and wrote.
func gorillaEchoServer(t *testing.T, cert *tls.Certificate, compress bool) (addr string, ln *tapListener) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var inner net.Listener = raw
	if cert != nil {
		inner = tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	}
	ln = &tapListener{Listener: inner}
	up := websocket.Upgrader{EnableCompression: compress, CheckOrigin: func(*http.Request) bool { return true }}
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
		for {
			mt, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, data); err != nil {
				return
			}
		}
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close(); handlers.Wait() })
	return raw.Addr().String(), ln
}

// startRelay runs the relay with o until the test ends; it returns the
// listening address, the output and a channel of finished connections.
func startRelay(t *testing.T, o *inspectOptions) (net.Addr, *syncBuffer, chan uint64, func() error) {
	t.Helper()
	addrCh := make(chan net.Addr, 1)
	doneCh := make(chan uint64, 8)
	out := &syncBuffer{}
	o.Listen, o.Stdout, o.Stderr = "127.0.0.1:0", out, io.Discard
	o.MaxPayload = inspect.DefaultMaxPayload
	o.ConnectTimeout, o.HandshakeTimeout = 5*time.Second, 5*time.Second
	o.OnListen = func(a net.Addr) { addrCh <- a }
	o.OnConnDone = func(id uint64) { doneCh <- id }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	relayErr := make(chan error, 1)
	go func() { relayErr <- runInspect(ctx, o) }()
	stop := func() error { cancel(); return <-relayErr }
	select {
	case a := <-addrCh:
		t.Cleanup(func() { _ = stop() })
		return a, out, doneCh, func() error { err := stop(); relayErr <- err; return err }
	case err := <-relayErr:
		cancel()
		t.Fatalf("relay: %v", err)
	}
	return nil, nil, nil, nil
}

// TestInspectRelayTLS: a gorilla client speaks TLS to the relay (certificate
// files), the relay speaks TLS to a gorilla server (--ca-file): the
// plaintext each side wrote reaches the other byte for byte, and the dump
// decodes it.
func TestInspectRelayTLS(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	upAddr, srvLn := gorillaEchoServer(t, &cert, false)
	addr, out, doneCh, stop := startRelay(t, &inspectOptions{
		Upstream: "wss://" + upAddr + "/ws", CAFile: certFile,
		ListenCert: certFile, ListenKey: keyFile,
	})

	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	var cli *tapConn
	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second, WriteBufferSize: 64,
		NetDialTLSContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			cli = &tapConn{Conn: tc}
			return cli, nil
		},
	}
	conn, _, err := d.Dial("wss://"+addr.String()+"/", nil)
	if err != nil {
		t.Fatalf("dial the relay over TLS: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	long := strings.Repeat("over TLS both ways ", 20)
	for _, m := range []string{"hello", long} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := conn.ReadMessage(); err != nil || string(got) != m {
			t.Fatalf("echo of %d bytes: %q %v", len(m), got, err)
		}
	}
	if err := conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "tls done")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, 1000) {
		t.Fatalf("want the server's close 1000, got %v", err)
	}
	conn.Close()
	<-doneCh
	if err := stop(); err != nil {
		t.Fatalf("relay: %v", err)
	}

	_, _, cFrames, rspFrames := checkRelayedBytes(t, srvLn, cli)
	s := out.String()
	wantAll(t, s, "-- relaying wss://127.0.0.1:", "-- TLS with certificate "+certFile+" for [127.0.0.1]",
		"-- c1 TLS TLS 1.3 ", "no server name (SNI)", " c1 handshake", `=>   text "hello" utf8=ok`,
		"text fragment 1", `=>   close code=1000(Normal Closure) reason="tls done"`)
	if got, want := frameLines(s, " c1 C>S "), countFrames(t, cFrames); got != want {
		t.Errorf("%d client frames shown, %d on the wire:\n%s", got, want, s)
	}
	if got, want := frameLines(s, " c1 S>C "), countFrames(t, rspFrames); got != want {
		t.Errorf("%d server frames shown, %d on the wire:\n%s", got, want, s)
	}
	if strings.Contains(s, "   !    ") {
		t.Errorf("violations:\n%s", s)
	}
}

// TestInspectRelaySelfSigned: --listen-tls-self-signed serves a certificate
// for 127.0.0.1 whose fingerprint the relay prints; a client pinning that
// fingerprint gets through to a plain ws:// upstream. A client that does
// not trust the certificate is refused and the relay says why.
func TestInspectRelaySelfSigned(t *testing.T) {
	upAddr, _ := gorillaEchoServer(t, nil, false)
	addr, out, doneCh, stop := startRelay(t, &inspectOptions{Upstream: "ws://" + upAddr + "/ws", ListenSelfSigned: true})

	// A verifying client fails: nobody trusts the certificate.
	if _, _, err := websocket.DefaultDialer.Dial("wss://"+addr.String()+"/", nil); err == nil {
		t.Fatal("a verifying client accepted the self-signed certificate")
	}
	<-doneCh

	s := out.String()
	i := strings.Index(s, "SHA-256 ")
	if i < 0 {
		t.Fatalf("no fingerprint:\n%s", s)
	}
	want := s[i+8 : i+8+64]
	var seen string
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the certificate is checked by fingerprint below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			if err := c.VerifyHostname("127.0.0.1"); err != nil {
				return err
			}
			if err := c.VerifyHostname("localhost"); err != nil {
				return err
			}
			sum := sha256.Sum256(raw[0])
			seen = hex.EncodeToString(sum[:])
			return nil
		},
	}}
	conn, _, err := d.Dial("wss://"+addr.String()+"/", nil)
	if err != nil {
		t.Fatalf("dial with the pinned fingerprint: %v", err)
	}
	if seen != want {
		t.Errorf("certificate fingerprint %s, the relay printed %s", seen, want)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte("pinned")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := conn.ReadMessage(); err != nil || string(got) != "pinned" {
		t.Fatalf("echo: %q %v", got, err)
	}
	conn.Close()
	<-doneCh
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	wantAll(t, out.String(), "-- TLS with self-signed certificate for [localhost 127.0.0.1 ::1]",
		"-- c1 TLS handshake with the client: ", " c2 handshake", `=>   text "pinned" utf8=ok`)
}

// TestInspectListenTLSFlags: the TLS flags go together the right way.
func TestInspectListenTLSFlags(t *testing.T) {
	for _, o := range []*inspectOptions{
		{Listen: "127.0.0.1:0", Upstream: "ws://127.0.0.1:1/", ListenCert: "c.pem"},
		{Listen: "127.0.0.1:0", Upstream: "ws://127.0.0.1:1/", ListenKey: "k.pem"},
		{Listen: "127.0.0.1:0", Upstream: "ws://127.0.0.1:1/", ListenCert: "c.pem", ListenKey: "k.pem", ListenSelfSigned: true},
		{Listen: "127.0.0.1:0", Upstream: "ws://127.0.0.1:1/", ListenCert: "/nonexistent/c.pem", ListenKey: "/nonexistent/k.pem"},
	} {
		o.Stdout = io.Discard
		err := runInspect(context.Background(), o)
		if ee, ok := err.(*ExitError); !ok || ee.Code != ExitUsage {
			t.Errorf("%+v: %v, want a usage error", o, err)
		}
	}
}
