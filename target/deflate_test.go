package target

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/flate"
)

func upgradeRequestExt(path string, exts ...string) string {
	r := upgradeRequest(path)
	r = r[:len(r)-2]
	for _, e := range exts {
		r += "Sec-WebSocket-Extensions: " + e + "\r\n"
	}
	return r + "\r\n"
}

// upgradeDeflate dials path offering exts and returns the connection and
// the server's Sec-WebSocket-Extensions answer.
func upgradeDeflate(t testing.TB, s *Server, path string, exts ...string) (*rawConn, string) {
	t.Helper()
	rc := dialRaw(t, s)
	rc.write([]byte(upgradeRequestExt(path, exts...)))
	resp := rc.response()
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade %s: status %d", path, resp.StatusCode)
	}
	return rc, strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
}

const (
	pmdBoth = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
)

// TestDeflateNegotiation walks offers through a real upgrade: what is
// accepted, with which parameters, and which offers are declined (RFC 7692
// §5, §7.1).
func TestDeflateNegotiation(t *testing.T) {
	s := startTest(t, nil)
	off := startTest(t, func(c *Config) { c.Compression = false })
	for _, tc := range []struct {
		name   string
		srv    *Server
		offers []string
		want   string
	}{
		{"no offer", s, nil, ""},
		{"compression off", off, []string{"permessage-deflate"}, ""},
		{"bare", s, []string{"permessage-deflate"}, pmdBoth},
		{"browser", s, []string{"permessage-deflate; client_max_window_bits"}, pmdBoth},
		{"both no context", s, []string{pmdBoth}, pmdBoth},
		{"server window", s, []string{"permessage-deflate; server_max_window_bits=10"}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_no_context_takeover"},
		{"server window 8", s, []string{"permessage-deflate; server_max_window_bits=8; client_max_window_bits=12"}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_no_context_takeover"},
		{"quoted value", s, []string{`permessage-deflate; server_max_window_bits="12"`}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_no_context_takeover"},
		{"server window without value", s, []string{"permessage-deflate; server_max_window_bits"}, ""},
		{"window 16", s, []string{"permessage-deflate; server_max_window_bits=16"}, ""},
		{"window 7", s, []string{"permessage-deflate; client_max_window_bits=7"}, ""},
		{"leading zero", s, []string{"permessage-deflate; server_max_window_bits=09"}, ""},
		{"unknown parameter", s, []string{"permessage-deflate; mystery"}, ""},
		{"value on a flag", s, []string{"permessage-deflate; client_no_context_takeover=1"}, ""},
		{"duplicate", s, []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, ""},
		{"duplicate bare window", s, []string{"permessage-deflate; client_max_window_bits; client_max_window_bits"}, ""},
		{"first offer declined", s, []string{"permessage-deflate; server_max_window_bits=20, permessage-deflate; server_max_window_bits=11"}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11; client_no_context_takeover"},
		{"other extension first", s, []string{"x-webkit-deflate-frame, permessage-deflate"}, pmdBoth},
		{"second header", s, []string{"x-unknown", "permessage-deflate; client_max_window_bits"}, pmdBoth},
		{"malformed header", s, []string{"permessage-deflate; =", "permessage-deflate"}, pmdBoth},
		{"other extension only", s, []string{"x-webkit-deflate-frame"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/chat", "/echo"} {
				_, got := upgradeDeflate(t, tc.srv, path, tc.offers...)
				if got != tc.want {
					t.Errorf("%s, offer %q: answer %q, want %q", path, tc.offers, got, tc.want)
				}
			}
		})
	}
}

// deflateMsg compresses p as one message without context (tail stripped).
func deflateMsg(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatal("no sync tail")
	}
	return out[:len(out)-4]
}

// inflateMsg inflates a compressed message from the server.
func inflateMsg(t testing.TB, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail[:])))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate the server's message: %v", err)
	}
	return out
}

// compressible is n bytes of text: a 600-byte block of words drawn at
// random from a small vocabulary, repeated, so there are matches both
// close by and 600 bytes back.
func compressible(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"room ", "said ", "hello ", "wsbench ", "deflate ", "window ", "json ", "frame "}
	var block []byte
	for len(block) < 600 {
		block = append(block, words[rng.IntN(len(words))]...)
		block = append(block, 'a'+byte(rng.IntN(26)))
	}
	block = block[:600]
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, block[:min(len(block), n-len(out))]...)
	}
	return out
}

// TestDeflateEcho: compressed, fragmented-compressed and uncompressed
// messages on a negotiated /echo connection come back equal; the server
// compresses what is worth it and sends short messages plain.
func TestDeflateEcho(t *testing.T) {
	s := startTest(t, nil)
	for _, offer := range []string{"permessage-deflate", "permessage-deflate; server_max_window_bits=9"} {
		rc, ext := upgradeDeflate(t, s, "/echo", offer)
		if ext == "" {
			t.Fatalf("%q not accepted", offer)
		}
		long := compressible(4000)
		comp := deflateMsg(t, long)
		half := len(comp) / 2
		for _, tc := range []struct {
			name     string
			frames   []byte
			want     []byte
			wantComp bool
		}{
			{"compressed", rawFrame(true, rsv1, ws.OpText, true, comp), long, true},
			{"fragmented", append(rawFrame(false, rsv1, ws.OpText, true, comp[:half]), rawFrame(true, 0, ws.OpContinuation, true, comp[half:])...), long, true},
			{"plain", rawFrame(true, 0, ws.OpText, true, long), long, true},
			{"short compressed", rawFrame(true, rsv1, ws.OpText, true, deflateMsg(t, []byte("hi"))), []byte("hi"), false},
			{"binary", rawFrame(true, rsv1, ws.OpBinary, true, deflateMsg(t, bytes.Repeat([]byte{0, 1, 2, 3}, 100))), bytes.Repeat([]byte{0, 1, 2, 3}, 100), true},
			{"empty", rawFrame(true, rsv1, ws.OpText, true, []byte{0}), []byte{}, false},
		} {
			rc.write(tc.frames)
			h, p, err := rc.readFrame()
			if err != nil {
				t.Fatalf("%s %s: %v", offer, tc.name, err)
			}
			if got := h.Rsv&rsv1 != 0; got != tc.wantComp {
				t.Errorf("%s %s: RSV1=%v, want %v", offer, tc.name, got, tc.wantComp)
			}
			if h.Rsv&rsv1 != 0 {
				if len(p) >= len(tc.want) {
					t.Errorf("%s %s: compressed echo of %d bytes for %d", offer, tc.name, len(p), len(tc.want))
				}
				p = inflateMsg(t, p)
			}
			if !bytes.Equal(p, tc.want) {
				t.Errorf("%s %s: echo differs (%d bytes, want %d)", offer, tc.name, len(p), len(tc.want))
			}
		}
	}
	if metricValue(s, "wsbench_compressed_messages_in_total") != "10" {
		t.Errorf("compressed messages in: %s, want 10", metricValue(s, "wsbench_compressed_messages_in_total"))
	}
}

// TestDeflateViolations: RSV1 where it may not be, bad compressed data and
// a deflate bomb each close the connection with the code RFC 6455 / 7692
// call for.
func TestDeflateViolations(t *testing.T) {
	s := startTest(t, func(c *Config) { c.MaxMessage = 1 << 20 })
	bomb := deflateMsg(t, make([]byte, 8<<20)) // 8 MiB of zeros in ~8 KiB
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	valid := deflateMsg(t, []byte("hello hello hello"))
	final := func() []byte { // a BFINAL block, then more data
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestSpeed)
		w.Write([]byte("done"))
		w.Close()
		return append(b.Bytes(), 0x12, 0x34)
	}()
	for _, tc := range []struct {
		name   string
		offer  bool
		frames []byte
		code   uint16
	}{
		{"RSV1 without negotiation", false, rawFrame(true, rsv1, ws.OpText, true, valid), 1002},
		{"RSV1 on ping", true, rawFrame(true, rsv1, ws.OpPing, true, nil), 1002},
		{"RSV1 on close", true, rawFrame(true, rsv1, ws.OpClose, true, []byte{3, 232}), 1002},
		{"RSV1 on continuation", true, append(rawFrame(false, rsv1, ws.OpText, true, valid[:3]), rawFrame(true, rsv1, ws.OpContinuation, true, valid[3:])...), 1002},
		{"RSV2", true, rawFrame(true, 2, ws.OpText, true, []byte("x")), 1002},
		{"garbage", true, rawFrame(true, rsv1, ws.OpText, true, []byte{0xff, 0xff, 0xff, 0xff, 0x00}), 1007},
		{"data after the final block", true, rawFrame(true, rsv1, ws.OpText, true, final), 1007},
		{"invalid UTF-8 inside", true, rawFrame(true, rsv1, ws.OpText, true, deflateMsg(t, []byte{'a', 0xff, 'b'})), 1007},
		{"bomb", true, rawFrame(true, rsv1, ws.OpText, true, bomb), 1009},
		{"bomb in binary", true, rawFrame(true, rsv1, ws.OpBinary, true, bomb), 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rc *rawConn
			if tc.offer {
				var ext string
				rc, ext = upgradeDeflate(t, s, "/echo", "permessage-deflate")
				if ext == "" {
					t.Fatal("not negotiated")
				}
			} else {
				rc = upgradeRaw(t, s, "/echo")
			}
			rc.write(tc.frames)
			if code := rc.expectClose(); code != tc.code {
				t.Errorf("close %d, want %d", code, tc.code)
			}
		})
	}
	if v := metricValue(s, "wsbench_inflate_failures_total"); v != "4" { // invalid UTF-8 is the message's fault, not the inflate's
		t.Errorf("inflate failures %s, want 4", v)
	}
	if v := metricValue(s, "wsbench_compressed_connections"); v != "0" {
		// closed connections leave the gauge
		waitFor(t, "compressed connections gauge at 0", func() bool { return metricValue(s, "wsbench_compressed_connections") == "0" })
	}
}

// TestDeflateTakeover: within --compression-takeover a client keeps its
// context (and the window it asked for), beyond it the server answers
// client_no_context_takeover; a closed connection frees its place.
func TestDeflateTakeover(t *testing.T) {
	s := startTest(t, func(c *Config) { c.CompressionTakeover = 1 })
	a, ext := upgradeDeflate(t, s, "/echo", "permessage-deflate; client_max_window_bits=10")
	if want := "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"; ext != want {
		t.Fatalf("first connection: %q, want %q", ext, want)
	}
	_, ext = upgradeDeflate(t, s, "/echo", "permessage-deflate; client_max_window_bits=10")
	if want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"; ext != want {
		t.Fatalf("second connection, over the cap: %q, want %q", ext, want)
	}
	if v := metricValue(s, "wsbench_compression_takeover_connections"); v != "1" {
		t.Errorf("takeover gauge %s, want 1", v)
	}

	// One compressor across messages with a 1 KiB window: later messages
	// refer back into earlier ones.
	var buf bytes.Buffer
	w, err := flate.NewWriterWindow(&buf, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	base := compressible(900)
	for i := range 6 {
		msg := append([]byte(strconv.Itoa(i)+":"), base[i*100:]...)
		msg = append(msg, base[:i*100]...)
		buf.Reset()
		w.Write(msg)
		w.Flush()
		comp := buf.Bytes()[:buf.Len()-4]
		if i > 0 && len(comp) > len(msg)/8 {
			t.Fatalf("message %d compressed to %d bytes: the context is not used", i, len(comp))
		}
		a.write(rawFrame(true, rsv1, ws.OpText, true, comp))
		h, p, err := a.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if h.Rsv&rsv1 != 0 {
			p = inflateMsg(t, p)
		}
		if !bytes.Equal(p, msg) {
			t.Fatalf("message %d: echo differs", i)
		}
	}
	a.write(clientFrame(true, ws.OpClose, []byte{3, 232}))
	a.expectClose()
	waitFor(t, "the takeover place freed", func() bool { return metricValue(s, "wsbench_compression_takeover_connections") == "0" })
	_, ext = upgradeDeflate(t, s, "/echo", "permessage-deflate")
	if want := "permessage-deflate; server_no_context_takeover"; ext != want {
		t.Fatalf("after the first closed: %q, want %q", ext, want)
	}
}

// TestDeflateGorillaChat: gorilla clients with compression and a plain
// client share a room; every member reads every message, and the server
// builds one compressed frame per broadcast, not one per member.
func TestDeflateGorillaChat(t *testing.T) {
	s := startTest(t, nil)
	var conns []*websocket.Conn
	for i := range 4 {
		d := websocket.Dialer{EnableCompression: i < 3, HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.Dial(s.URL("/chat"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); (got != "") != (i < 3) {
			t.Fatalf("client %d: extension answer %q", i, got)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		send := func(v any) {
			b, _ := json.Marshal(v)
			if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
				t.Fatal(err)
			}
		}
		send(map[string]string{"op": "nick", "name": "u" + strconv.Itoa(i)})
		send(map[string]string{"op": "join", "room": "deflate"})
		readContaining(t, c, `"op":"joined"`)
		conns = append(conns, c)
	}
	before := metricValue(s, "wsbench_compressed_frames_total")
	text := strings.Repeat("all of you, compressed once; ", 20)
	b, _ := json.Marshal(map[string]string{"op": "say", "room": "deflate", "text": text})
	if err := conns[0].WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		msg := readContaining(t, c, `"op":"said"`)
		if !strings.Contains(msg, text) {
			t.Errorf("client %d: %s", i, msg)
		}
	}
	after := metricValue(s, "wsbench_compressed_frames_total")
	b0, _ := strconv.Atoi(before)
	a0, _ := strconv.Atoi(after)
	if a0-b0 != 1 {
		t.Errorf("compressed frames built for one broadcast to 3 compressed members: %d, want 1", a0-b0)
	}
}

// readContaining reads text messages until one contains want.
func readContaining(t testing.TB, c *websocket.Conn, want string) string {
	t.Helper()
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if strings.Contains(string(p), want) {
			return string(p)
		}
	}
}

// TestDeflateGorillaEcho: gorilla's own compression (compress/flate on both
// ends of its side) against the server, over many sizes.
func TestDeflateGorillaEcho(t *testing.T) {
	s := startTest(t, nil)
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(s.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.EnableWriteCompression(true)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var wg sync.WaitGroup
	sizes := []int{0, 1, 63, 64, 65, 125, 126, 1000, 65535, 65536, 200000}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, n := range sizes {
			if err := c.WriteMessage(websocket.TextMessage, compressible(n)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for _, n := range sizes {
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, compressible(n)) {
			t.Fatalf("echo of %d bytes differs (%d)", n, len(p))
		}
	}
	wg.Wait()
}

// BenchmarkDeliverCompressed is BenchmarkDeliver with every member
// compressing: one broadcast builds one compressed frame whatever the
// room's size, so allocs/op (0 in steady state) and the deflate work per
// op stay flat from 10 to 1000 members; only the queueing grows.
func BenchmarkDeliverCompressed(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run("members="+strconv.Itoa(n), func(b *testing.B) {
			s := offlineServer(b, 1<<20)
			own := &listOwner{}
			ids := make([]uint64, n)
			for i := range ids {
				c := s.offlineConn(own)
				c.pmd = &pmdConn{serverBits: maxWindowBits, clientBits: maxWindowBits}
				ids[i] = c.id
			}
			sc := newScratch()
			payload := []byte(`{"op":"said","room":"bench","from":"x","text":"hello everyone, this is a chat message of a usual length","srv_ts":1700000000000000000}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.deliver(ids, payload, true)
				own.flushAll(sc)
			}
			b.StopTimer()
			b.ReportMetric(float64(n), "deliveries/op")
			b.ReportMetric(float64(s.m.pmd.deflated.Load())/float64(b.N), "deflates/op")
		})
	}
}

// TestDeliverCompressedOnce: a broadcast to compressed members builds one
// compressed frame and allocates no more for 1000 members than for 10
// (the benchmark above shows the same with timings).
func TestDeliverCompressedOnce(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{10, 1000} {
		s := offlineServer(t, 1<<20)
		own := &listOwner{}
		ids := make([]uint64, n)
		for i := range ids {
			c := s.offlineConn(own)
			c.pmd = &pmdConn{serverBits: maxWindowBits, clientBits: maxWindowBits}
			ids[i] = c.id
		}
		sc := newScratch()
		payload := []byte(`{"op":"said","room":"r","from":"x","text":"hello everyone, hello everyone, hello everyone"}`)
		allocs[n] = testing.AllocsPerRun(50, func() {
			s.deliver(ids, payload, true)
			own.flushAll(sc)
		})
		if got := s.m.pmd.deflated.Load(); got != 51 { // AllocsPerRun's warm-up run + 50
			t.Errorf("%d members: %d compressed frames for 51 broadcasts", n, got)
		}
	}
	if raceEnabled {
		return // the pools drop items at random under -race
	}
	if allocs[1000] > allocs[10]+0.5 || allocs[1000] > 1 {
		t.Errorf("allocations per broadcast grow with the room: %v", allocs)
	}
}

// BenchmarkDeflateMessage is the work compression adds per message: one
// deflate of a typical `said` (once per broadcast, whatever the room) and
// one inflate of a typical client `say` (once per received message).
func BenchmarkDeflateMessage(b *testing.B) {
	said := []byte(`{"op":"said","room":"hall","from":"speaker-3","text":"news from the hall: the deflate run says hello to every member of the room","ts":"1765056000123456789","seq":"42","srv_ts":1765056000123459999}`)
	b.Run("deflate-said", func(b *testing.B) {
		var pp pmdPools
		w := &appendWriter{}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := pp.deflate(w, said, maxWindowBits); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(said)), "bytes-in")
		b.ReportMetric(float64(len(w.b)), "bytes-out")
	})
	say := deflateMsg(b, []byte(`{"op":"say","room":"hall","text":"news from the hall: the deflate run says hello to every member of the room","ts":"1765056000123456789","seq":"42"}`))
	b.Run("inflate-say", func(b *testing.B) {
		in := &inflater{}
		st := &pmdConn{serverBits: maxWindowBits, clientBits: maxWindowBits}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, fe := in.inflate(say, st, 1<<20); fe != nil {
				b.Fatal(fe)
			}
		}
	})
}

// TestDeflateTLS: the wss:// path (crypto/tls, one goroutine per
// connection) runs the same connection code: negotiation, compressed echo,
// and the bomb's 1009.
func TestDeflateTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startTest(t, func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	rc := dialTLSRaw(t, s, pool)
	rc.write([]byte(upgradeRequestExt("/echo", "permessage-deflate")))
	resp := rc.response()
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Extensions") != pmdBoth {
		t.Fatalf("upgrade over TLS: %d %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	long := compressible(3000)
	rc.write(rawFrame(true, rsv1, ws.OpText, true, deflateMsg(t, long)))
	h, p, err := rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if h.Rsv&rsv1 == 0 || !bytes.Equal(inflateMsg(t, p), long) {
		t.Fatalf("compressed echo over TLS: RSV=%d, %d bytes", h.Rsv, len(p))
	}
	rc.write(rawFrame(true, rsv1, ws.OpText, true, deflateMsg(t, make([]byte, 2<<20))))
	if code := rc.expectClose(); code != 1009 {
		t.Fatalf("bomb over TLS: close %d, want 1009", code)
	}
}

func dialTLSRaw(t testing.TB, s *Server, pool *x509.CertPool) *rawConn {
	t.Helper()
	nc, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial (TLS): %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// BenchmarkNegotiateDeflate is what an offer adds to an upgrade: parsing a
// browser's offer and building the answer.
func BenchmarkNegotiateDeflate(b *testing.B) {
	s := offlineServer(b, 1<<20)
	exts := [][]byte{[]byte("permessage-deflate; client_max_window_bits")}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, line := s.negotiateDeflate(exts)
		if p == nil || len(line) == 0 {
			b.Fatal("declined")
		}
		s.m.pmd.conns.Add(-1)
	}
}
