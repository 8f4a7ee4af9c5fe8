package target

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type chatMsg struct {
	Op   string `json:"op"`
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
	Seq  int    `json:"seq"`
}

// chatClient dials /chat, sets a nick and joins room, waiting for each answer.
func chatClient(t testing.TB, d *websocket.Dialer, url, nick, room string) *websocket.Conn {
	t.Helper()
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	send := func(v any) {
		if err := c.WriteJSON(v); err != nil {
			t.Fatalf("%s: write: %v", nick, err)
		}
	}
	await := func(op string) {
		for {
			var m chatMsg
			if err := c.ReadJSON(&m); err != nil {
				t.Fatalf("%s: waiting for %s: %v", nick, op, err)
			}
			if m.Op == op {
				return
			}
			if m.Op == "error" {
				t.Fatalf("%s: error while waiting for %s: %+v", nick, op, m)
			}
		}
	}
	send(map[string]any{"op": "nick", "name": nick})
	await("welcome")
	send(map[string]any{"op": "join", "room": room})
	await("joined")
	return c
}

func TestChatThousandConnections(t *testing.T) {
	s := startTest(t, func(c *Config) { c.HistorySize = 0 })
	const conns, rooms = 1000, 10
	d := &websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024}
	cs := make([]*websocket.Conn, conns)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := d.Dial(s.URL("/chat"), nil)
			if err != nil {
				errs <- err
				return
			}
			cs[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial: %v", err)
	}
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	// Set up nicks and rooms (waiting for the joined answers).
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.WriteJSON(map[string]any{"op": "nick", "name": "u" + strconv.Itoa(i)})
			_ = c.WriteJSON(map[string]any{"op": "join", "room": "r" + strconv.Itoa(i%rooms)})
			for {
				var m chatMsg
				if err := c.ReadJSON(&m); err != nil || m.Op == "joined" {
					return
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every member in its room", func() bool { return s.hubStats().Members == conns })
	if v := metricValue(s, "wsbench_room_members"); v != "1000" {
		t.Errorf("metrics room members = %q, want 1000", v)
	}
	if v := metricValue(s, "wsbench_rooms"); v != "10" {
		t.Errorf("metrics rooms = %q, want 10", v)
	}
	// Everyone says one thing; everyone must hear every message of its room.
	perRoom := conns / rooms
	got := make([]int, conns)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			seen := map[string]bool{}
			for len(seen) < perRoom {
				var m chatMsg
				if err := c.ReadJSON(&m); err != nil {
					break
				}
				if m.Op == "said" {
					seen[m.From] = true
				}
			}
			got[i] = len(seen)
		}()
	}
	for i, c := range cs {
		if err := c.WriteJSON(map[string]any{"op": "say", "room": "r" + strconv.Itoa(i%rooms), "text": "hi from " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, n := range got {
		if n != perRoom {
			t.Fatalf("conn %d heard %d of %d room messages", i, n, perRoom)
		}
	}
	if v := metricValue(s, "wsbench_drops_total"); v != "0" {
		t.Errorf("drops = %s with readers keeping up", v)
	}
}

// TestSlowConsumerCutOff: a member that stops reading gets its chatter
// dropped and is closed with 1008, while a fast reader in the same room gets
// everything. With the default 64 KiB kernel send buffer the server's own
// limit applies after well under 1 MB; with the kernel's autotuning (send
// buffer 0) the kernel first absorbs up to a few MB.
func TestSlowConsumerCutOff(t *testing.T) {
	for _, c := range []struct {
		name       string
		sendBuffer int
		n          int
	}{
		{"send-buffer-64KiB", 64 << 10, 240}, // 1.9 MB in all
		{"autotuned", 0, 800},                // 6.4 MB in all
	} {
		t.Run(c.name, func(t *testing.T) { slowConsumerCutOff(t, c.sendBuffer, c.n) })
	}
}

func slowConsumerCutOff(t *testing.T, sendBuffer, n int) {
	s := startTest(t, func(c *Config) {
		c.OutboundLimit = 256 << 10
		c.SlowTimeout = 300 * time.Millisecond
		c.HistorySize = 0
		c.SendBuffer = sendBuffer
		c.CloseTimeout = 20 * time.Second // the slow member reads its 1008 at the end
	})
	d := &websocket.Dialer{}
	// The slow member: a raw socket with a tiny receive buffer that never reads.
	slowAddr, _ := net.ResolveTCPAddr("tcp", s.Addr().String())
	// SO_RCVBUF is set before connect so the advertised window stays tiny.
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := nd.Dial("tcp", slowAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	slow := nc.(*net.TCPConn)
	defer slow.Close()
	sc := &rawConn{t: t, nc: slow}
	sc.br = bufio.NewReader(slow)
	_ = slow.SetDeadline(time.Now().Add(20 * time.Second))
	sc.write([]byte(upgradeRequest("/chat")))
	if r := sc.response(); r.StatusCode != 101 {
		t.Fatal(r.Status)
	}
	sc.write(clientFrame(true, 1, []byte(`{"op":"nick","name":"slow"}`)))
	sc.write(clientFrame(true, 1, []byte(`{"op":"join","room":"lobby"}`)))

	sender := chatClient(t, d, s.URL("/chat"), "sender", "lobby")
	defer sender.Close()
	reader := chatClient(t, d, s.URL("/chat"), "reader", "lobby")
	defer reader.Close()
	waitFor(t, "three members", func() bool { return s.hubStats().Members == 3 })

	text := fmt.Sprintf("%08000d", 0) // 8 KB of text per message
	var wg sync.WaitGroup
	wg.Add(2)
	got := 0
	go func() {
		defer wg.Done()
		_ = reader.SetReadDeadline(time.Now().Add(20 * time.Second))
		for got < n {
			// Not ReadJSON: decoding 8 KB per message is slow enough under
			// the race detector to make this reader a slow consumer too.
			_, p, err := reader.ReadMessage()
			if err != nil {
				t.Errorf("reader: %v", err)
				return
			}
			if !bytes.HasPrefix(p, []byte(`{"op":"said"`)) || !bytes.Contains(p, []byte(`"from":"sender"`)) {
				continue
			}
			i := bytes.LastIndex(p, []byte(`"seq":`))
			if i < 0 {
				t.Errorf("reader: said without seq: %.80s", p)
				return
			}
			rest := p[i+len(`"seq":`):]
			j := bytes.IndexAny(rest, ",}")
			seq, err := strconv.Atoi(string(rest[:max(j, 0)]))
			if err != nil || seq != got {
				t.Errorf("reader got seq %q, want %d", rest[:max(j, 0)], got)
			}
			got++
		}
	}()
	go drain(sender, &wg) // the sender reads its own echoes and acks
	for i := 0; i < n; i++ {
		if err := sender.WriteJSON(map[string]any{"op": "say", "room": "lobby", "text": text, "seq": i}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			// Paced (3.2 MB/s): a burst stays well under the limit for the
			// fast reader even under the race detector, and the run lasts
			// longer than the slow timeout.
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("drops=%s deliveries=%s", metricValue(s, "wsbench_drops_total"), metricValue(s, "wsbench_deliveries_total"))
	waitFor(t, "slow consumer disconnect", func() bool {
		return metricValue(s, "wsbench_slow_consumer_disconnects_total") == "1"
	})
	sender.Close()
	wg.Wait()
	if got != n {
		t.Fatalf("reader got %d of %d messages", got, n)
	}
	if metricValue(s, "wsbench_drops_total") == "0" {
		t.Error("no chatter was dropped for the slow member")
	}
	// The slow member was cut: reading what is buffered ends in the 1008
	// close frame, which the server holds the socket open for.
	for {
		h, p, err := sc.readFrame()
		if err != nil {
			t.Fatalf("slow member: %v before the 1008 close frame", err)
		}
		if h.OpCode == 8 {
			if len(p) < 2 || int(p[0])<<8|int(p[1]) != 1008 {
				t.Fatalf("slow consumer closed with %v", p)
			}
			break
		}
	}
	sc.write(clientFrame(true, 8, []byte{0x03, 0xe8}))
	waitFor(t, "slow member removed from the room", func() bool { return s.hubStats().Members <= 2 })
}

func TestTLSEndToEnd(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := startTest(t, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.MaxMessage = 64 << 10
	})
	if got := s.URL("/chat"); got[:6] != "wss://" {
		t.Fatalf("URL %s", got)
	}
	d := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}
	e, _, err := d.Dial(s.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, p := range []string{"secure", string(make([]byte, 50_000))} {
		if err := e.WriteMessage(websocket.BinaryMessage, []byte(p)); err != nil {
			t.Fatal(err)
		}
		_, got, err := e.ReadMessage()
		if err != nil || string(got) != p {
			t.Fatalf("echo over TLS: %d bytes, %v", len(got), err)
		}
	}
	a := chatClient(t, d, s.URL("/chat"), "alice", "tls")
	defer a.Close()
	b := chatClient(t, d, s.URL("/chat"), "bob", "tls")
	defer b.Close()
	if err := a.WriteJSON(map[string]any{"op": "say", "room": "tls", "text": "over tls"}); err != nil {
		t.Fatal(err)
	}
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m chatMsg
		if err := b.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Op == "said" {
			if m.Text != "over tls" || m.From != "alice" {
				t.Fatalf("said %+v", m)
			}
			break
		}
	}
	// Oversized message over TLS: 1009.
	_ = e.WriteMessage(websocket.BinaryMessage, make([]byte, 100_000))
	if _, _, err := e.ReadMessage(); !websocket.IsCloseError(err, 1009) {
		t.Fatalf("want 1009 over TLS, got %v", err)
	}
	// Graceful shutdown reaches TLS clients too.
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(t.Context()) }()
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := a.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, 1001) {
				t.Fatalf("want 1001 over TLS, got %v", err)
			}
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wsbench test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestHistoryAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	start := func() *Server {
		cfg := DefaultConfig()
		cfg.Addr, cfg.Loops, cfg.HistoryDB, cfg.HistorySize = "127.0.0.1:0", 2, db, 10
		s, err := Start(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := start()
	a := chatClient(t, websocket.DefaultDialer, s1.URL("/chat"), "alice", "keep")
	if err := a.WriteJSON(map[string]any{"op": "say", "room": "keep", "text": "persisted", "id": "m1"}); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct{ Op, ID string }
		if err := a.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Op == "ack" && m.ID == "m1" {
			break
		}
	}
	a.Close()
	if err := s1.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	s2 := start()
	defer s2.Shutdown(t.Context()) //nolint:errcheck
	b, _, err := websocket.DefaultDialer.Dial(s2.URL("/chat"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = b.WriteJSON(map[string]any{"op": "nick", "name": "bob"})
	_ = b.WriteJSON(map[string]any{"op": "join", "room": "keep"})
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m struct {
			Op, Text, From string
			History        bool
		}
		if err := b.ReadJSON(&m); err != nil {
			t.Fatalf("no history after restart: %v", err)
		}
		if m.Op == "said" {
			if !m.History || m.Text != "persisted" || m.From != "alice" {
				t.Fatalf("history message %+v", m)
			}
			return
		}
	}
}
