package dialer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

func TestProtocolViolations(t *testing.T) {
	cases := []struct {
		name  string
		send  []byte
		code  uint16
		max   int
		flate bool
	}{
		{name: "fragmented ping", send: frame(0x09, []byte("p")), code: 1002},
		{name: "reserved data opcode", send: frame(0x83, []byte("x")), code: 1002},
		{name: "reserved control opcode", send: frame(0x8b, nil), code: 1002},
		{name: "RSV1 without extension", send: frame(0xc1, []byte("x")), code: 1002},
		{name: "RSV2", send: frame(0xa1, []byte("x")), code: 1002},
		{name: "control frame over 125 bytes", send: frame(0x89, make([]byte, 126)), code: 1002},
		{name: "continuation without start", send: frame(0x80, []byte("x")), code: 1002},
		{name: "new message inside fragmented one", send: append(frame(0x01, []byte("a")), frame(0x81, []byte("b"))...), code: 1002},
		{name: "invalid UTF-8 text", send: frame(0x81, []byte{0xff, 0xfe}), code: 1007},
		{name: "invalid UTF-8 across fragments", send: append(frame(0x01, []byte{0xe2, 0x82}), frame(0x80, []byte{0x28})...), code: 1007},
		{name: "close with 1-byte body", send: frame(0x88, []byte{3}), code: 1002},
		{name: "close with reserved code", send: frame(0x88, []byte{0x03, 0xed}), code: 1002}, // 1005
		{name: "close reason not UTF-8", send: frame(0x88, []byte{0x03, 0xe8, 0xff}), code: 1007},
		{name: "message over the limit", send: frame(0x82, make([]byte, 3000)), code: 1009, max: 2048},
		{name: "fragments over the limit", send: append(frame(0x02, make([]byte, 1500)), frame(0x80, make([]byte, 1500))...), code: 1009, max: 2048},
		{name: "64-bit length with top bit", send: []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, code: 1002},
		{name: "RSV1 on continuation with deflate", send: append(frame(0x01, []byte("a")), frame(0xc0, []byte("b"))...), code: 1002, flate: true},
		{name: "corrupt deflate data", send: frame(0xc1, []byte{0xff, 0xff, 0xff}), code: 1007, flate: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gotClose := make(chan []byte, 1)
			url := rawServer(t, tc.send, func(nc net.Conn, br *bufio.Reader) {
				op, p, err := readClientFrame(br)
				if err != nil || op != 0x8 {
					gotClose <- nil
					return
				}
				gotClose <- p
			})
			var c *Conn
			if tc.flate {
				// The raw server does not negotiate: build the Conn by hand.
				nc, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/"))
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				_, _ = nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
				br := bufio.NewReader(nc)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				buffered, _ := br.Peek(br.Buffered())
				c = newConn(nc, 1, 2048, DefaultMaxMessageSize, &flateConn{pool: &flatePool{}}, nil, buffered)
			} else {
				c = dial(t, Options{MaxMessageSize: tc.max}, url)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.ReadMessage()
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got %v, want ProtocolError %d", err, tc.code)
			}
			if Kind(err) != KindProtocol {
				t.Fatalf("Kind = %s", Kind(err))
			}
			p := <-gotClose
			if len(p) < 2 || binary.BigEndian.Uint16(p) != tc.code {
				t.Fatalf("server got close body %q, want code %d", p, tc.code)
			}
			if _, err2 := c.ReadMessage(); err2 != err {
				t.Fatalf("error not sticky: %v", err2)
			}
		})
	}
}

func TestMaskedServerFrameTolerated(t *testing.T) {
	payload := []byte("masked by a non-compliant server")
	key := [4]byte{1, 2, 3, 4}
	masked := append([]byte(nil), payload...)
	ws.Cipher(masked, key, 0)
	f := append([]byte{0x81, 0x80 | byte(len(masked))}, key[:]...)
	f = append(f, masked...)
	url := rawServer(t, f, func(net.Conn, *bufio.Reader) { time.Sleep(50 * time.Millisecond) })
	c := dial(t, Options{}, url)
	m, err := c.ReadMessage()
	if err != nil || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("got %q %v", m.Payload, err)
	}
}

func TestTLS(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		echo(c, r)
	}))
	defer s.Close()
	url := "wss" + strings.TrimPrefix(s.URL, "https")

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := s.Certificate()
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	insecure, err := TLSConfig(true, "")
	if err != nil {
		t.Fatal(err)
	}
	withCA, err := TLSConfig(false, caFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*tls.Config{"insecure": insecure, "ca file": withCA} {
		t.Run(name, func(t *testing.T) {
			c, tm, err := NewDialer(Options{TLSConfig: cfg}).Dial(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tm.Connect <= 0 {
				t.Fatalf("connect time %v", tm.Connect)
			}
			if err := c.WriteText([]byte("over tls")); err != nil {
				t.Fatal(err)
			}
			m, err := c.ReadMessage()
			if err != nil || string(m.Payload) != "over tls" {
				t.Fatalf("got %q %v", m.Payload, err)
			}
		})
	}
	t.Run("unknown authority", func(t *testing.T) {
		_, _, err := NewDialer(Options{}).Dial(context.Background(), url)
		if Kind(err) != KindTLS {
			t.Fatalf("got %v (kind %s), want tls", err, Kind(err))
		}
	})
	t.Run("plain server", func(t *testing.T) {
		plain := gorillaServer(t, websocket.Upgrader{}, echo)
		_, _, err := NewDialer(Options{TLSConfig: insecure}).Dial(context.Background(), "wss"+strings.TrimPrefix(plain.URL, "http"))
		if Kind(err) != KindTLS {
			t.Fatalf("got %v (kind %s), want tls", err, Kind(err))
		}
	})
	if _, err := TLSConfig(false, filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("missing CA file accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(empty, []byte("no pem here"), 0o600)
	if _, err := TLSConfig(false, empty); err == nil {
		t.Fatal("CA file without certificates accepted")
	}
}

func TestCompression(t *testing.T) {
	up := websocket.Upgrader{EnableCompression: true}
	s := gorillaServer(t, up, func(c *websocket.Conn, r *http.Request) {
		c.EnableWriteCompression(true)
		echo(c, r)
	})
	tap := &recTap{}
	c := dial(t, Options{Compression: true, Tap: tap}, wsURL(s))
	if !c.Compressed() {
		t.Fatal("permessage-deflate not negotiated")
	}
	msgs := [][]byte{
		bytes.Repeat([]byte(`{"op":"say","room":"lobby","text":"hello hello hello"}`), 200), // ~11 KiB
		[]byte("short"),
		{},
		bytes.Repeat([]byte{7}, 70<<10),
	}
	for i, p := range msgs {
		var err error
		if i == 3 {
			err = c.WriteBinary(p)
		} else {
			err = c.WriteText(p)
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m.Payload, p) {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(m.Payload), len(p))
		}
	}
	fr := tap.snapshot()
	if len(fr) == 0 || fr[0].raw[0]&0x40 == 0 {
		t.Fatal("first client frame is not marked compressed (RSV1)")
	}
	if n := len(fr[0].raw); n > len(msgs[0])/4 {
		t.Fatalf("compressible message went out as %d bytes", n)
	}
	var serverCompressed bool
	for _, f := range fr {
		if f.dir == ServerToClient && f.raw[0]&0x40 != 0 {
			serverCompressed = true
		}
	}
	if !serverCompressed {
		t.Fatal("no compressed frame from the server: inflate untested")
	}
	if !strings.Contains(string(tap.req), "permessage-deflate") {
		t.Fatalf("offer missing from request:\n%s", tap.req)
	}

	t.Run("declined", func(t *testing.T) {
		s := gorillaServer(t, websocket.Upgrader{}, echo)
		c := dial(t, Options{Compression: true}, wsURL(s))
		if c.Compressed() {
			t.Fatal("compression on although the server declined")
		}
		if err := c.WriteText([]byte("plain")); err != nil {
			t.Fatal(err)
		}
		if m, err := c.ReadMessage(); err != nil || string(m.Payload) != "plain" {
			t.Fatalf("got %q %v", m.Payload, err)
		}
	})
}

func TestTapRecordsWire(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	tap := &recTap{}
	c := dial(t, Options{Tap: tap}, wsURL(s))
	if err := c.WriteText([]byte("hello tap")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(tap.req, []byte("GET / HTTP/1.1\r\n")) || !bytes.Contains(tap.req, []byte("Sec-WebSocket-Key: ")) {
		t.Fatalf("request:\n%s", tap.req)
	}
	if !bytes.HasPrefix(tap.rsp, []byte("HTTP/1.1 101 ")) || !bytes.HasSuffix(tap.rsp, []byte("\r\n\r\n")) {
		t.Fatalf("response:\n%s", tap.rsp)
	}
	fr := tap.snapshot()
	if len(fr) != 2 || fr[0].dir != ClientToServer || fr[1].dir != ServerToClient {
		t.Fatalf("frames %+v", fr)
	}
	raw := fr[0].raw
	if raw[0] != 0x81 || raw[1] != 0x80|9 || len(raw) != 2+4+9 {
		t.Fatalf("client frame header % x", raw[:2])
	}
	payload := append([]byte(nil), raw[6:]...)
	if string(payload) == "hello tap" {
		t.Fatal("client payload on the wire is not masked")
	}
	ws.Cipher(payload, [4]byte(raw[2:6]), 0)
	if string(payload) != "hello tap" {
		t.Fatalf("unmasked client payload %q", payload)
	}
	if !bytes.Equal(fr[1].raw, frame(0x81, []byte("hello tap"))) {
		t.Fatalf("server frame % x", fr[1].raw)
	}
}

func TestTapHandshakeOnFailure(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusUnauthorized)
	})
	tap := &recTap{}
	_, _, err := NewDialer(Options{Tap: tap}).Dial(context.Background(), wsURL(s))
	if Kind(err) != KindHandshake {
		t.Fatalf("got %v", err)
	}
	if !bytes.HasPrefix(tap.rsp, []byte("HTTP/1.1 401")) {
		t.Fatalf("response recorded: %q", tap.rsp)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestKind(t *testing.T) {
	cases := []struct {
		err  error
		want ErrorKind
	}{
		{err: nil, want: ""},
		{err: fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), want: KindRefused},
		{err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}, want: KindReset},
		{err: &net.OpError{Op: "write", Err: syscall.EPIPE}, want: KindReset},
		{err: fmt.Errorf("x: %w", timeoutErr{}), want: KindTimeout},
		{err: context.DeadlineExceeded, want: KindTimeout},
		{err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nope.invalid"}}, want: KindDNS},
		{err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, want: KindTLS},
		{err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, want: KindTLS},
		{err: x509.HostnameError{}, want: KindTLS},
		{err: &HandshakeError{Status: 500}, want: KindHandshake},
		{err: &HandshakeError{Status: 0, Err: errors.New("EOF-ish")}, want: KindHandshake},
		{err: &CloseError{Code: 1001}, want: KindClosed},
		{err: net.ErrClosed, want: KindClosed},
		{err: ErrCloseSent, want: KindClosed},
		{err: &ProtocolError{Code: 1002}, want: KindProtocol},
		{err: errors.New("something else"), want: KindOther},
	}
	for _, tc := range cases {
		if got := Kind(tc.err); got != tc.want {
			t.Errorf("Kind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestParseSources(t *testing.T) {
	cases := []struct {
		spec    string
		want    []string
		wantErr bool
	}{
		{spec: "127.0.0.1", want: []string{"127.0.0.1"}},
		{spec: "127.0.0.1-127.0.0.3", want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{spec: "127.0.0.0/30", want: []string{"127.0.0.0", "127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{spec: "127.0.0.5, 127.0.1.1-127.0.1.2", want: []string{"127.0.0.5", "127.0.1.1", "127.0.1.2"}},
		{spec: "::1", want: []string{"::1"}},
		{spec: "127.0.0.3-127.0.0.1", wantErr: true},
		{spec: "127.0.0.1-::1", wantErr: true},
		{spec: "10.0.0.0/8", wantErr: true},
		{spec: "not-an-ip", wantErr: true},
		{spec: "", wantErr: true},
	}
	for _, tc := range cases {
		p, err := ParseSources(tc.spec)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tc.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		var got []string
		for _, a := range p.Addrs() {
			got = append(got, a.String())
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q: got %v, want %v", tc.spec, got, tc.want)
		}
		// Round robin wraps.
		for i := range 2 * len(tc.want) {
			if a := p.Next().String(); a != tc.want[i%len(tc.want)] {
				t.Errorf("%q: Next #%d = %s", tc.spec, i, a)
			}
		}
	}
}

// evenTap traces only even-numbered connections.
type evenTap struct{ recTap }

func (e *evenTap) Sample(conn uint64) bool { return conn%2 == 0 }

func TestTapSampler(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	tap := &evenTap{}
	d := NewDialer(Options{Tap: tap})
	for range 4 {
		c, _, err := d.Dial(context.Background(), wsURL(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteText([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if n := len(tap.snapshot()); n != 4 { // 2 sampled connections × 2 frames
		t.Fatalf("%d frames traced, want 4", n)
	}
}
