package inspect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/internal/trace"
)

// recConn records what crosses a client connection, in order.
type recConn struct {
	net.Conn
	mu     sync.Mutex
	events []wireEvent
}

func (c *recConn) add(fromClient bool, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.events); n > 0 && c.events[n-1].fromClient == fromClient {
		c.events[n-1].b = append(c.events[n-1].b, p...)
		return
	}
	c.events = append(c.events, wireEvent{fromClient, bytes.Clone(p)})
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.add(false, p[:n])
	}
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.add(true, p[:n])
	}
	return n, err
}

// loopbackExchange runs a real WebSocket conversation with a gorilla echo
// server on 127.0.0.1 and returns the bytes each way, the server address
// and the client address.
func loopbackExchange(t *testing.T) (events []wireEvent, server, client *net.TCPAddr) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	var rc *recConn
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		rc = &recConn{Conn: c}
		return rc, nil
	}}
	ws, _, err := d.Dial("ws://"+ln.Addr().String()+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80000 bytes: 64-bit length
	msgs := []struct {
		mt int
		p  []byte
	}{
		{websocket.TextMessage, []byte("hello")},
		{websocket.BinaryMessage, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100)},
		{websocket.TextMessage, []byte("héllo wörld")},
		{websocket.BinaryMessage, big},
	}
	for _, m := range msgs {
		if err := ws.WriteMessage(m.mt, m.p); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil || !bytes.Equal(got, m.p) {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(m.p), len(got), err)
		}
	}
	// A fragmented message: gorilla cuts a writer's output at its buffer.
	w, err := ws.NextWriter(websocket.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	frag := strings.Repeat("fragment ", 1000)
	if _, err := io.WriteString(w, frag); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != frag {
		t.Fatalf("echo of the fragmented message: %d bytes, %v", len(got), err)
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after close: %v", err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.events, ln.Addr().(*net.TCPAddr), rc.LocalAddr().(*net.TCPAddr)
}

var timeRE = regexp.MustCompile(`\+\d+\.\d{6}s`)

// frameLines keeps the handshake and frame lines of a text rendering,
// times masked.
func frameLines(s string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l == "" || strings.HasPrefix(l, "-- ") {
			continue
		}
		out = append(out, timeRE.ReplaceAllString(l, "+T"))
	}
	return strings.Join(out, "\n")
}

// directRendering renders the events through a Session, as live mode would.
func directRendering(events []wireEvent, o RenderOptions) (string, RenderStats) {
	var out bytes.Buffer
	s := NewSession(&out, SessionOptions{Render: o})
	req, rest, _ := bytes.Cut(events[0].b, []byte("\r\n\r\n"))
	req = append(req, "\r\n\r\n"...)
	rsp, srest, _ := bytes.Cut(events[1].b, []byte("\r\n\r\n"))
	rsp = append(rsp, "\r\n\r\n"...)
	at := time.Now()
	s.Handshake(1, at, req, rsp)
	s.Data(1, trace.ClientToServer, at, rest)
	s.Data(1, trace.ServerToClient, at, srest)
	for _, e := range events[2:] {
		d := trace.ServerToClient
		if e.fromClient {
			d = trace.ClientToServer
		}
		s.Data(1, d, at, e.b)
	}
	return out.String(), s.Stats()
}

var captureStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestCaptureLoopbackMatchesSession(t *testing.T) {
	events, server, client := loopbackExchange(t)
	if len(events) < 4 || !events[0].fromClient || !bytes.HasPrefix(events[0].b, []byte("GET /echo")) {
		t.Fatalf("unexpected exchange: %d events", len(events))
	}
	conv := newConv(t, captureStart, client.IP.String(), server.IP.String(), uint16(client.Port), uint16(server.Port))
	conversation(t, conv, events, 4, false)
	o := RenderOptions{MaxPayload: 64}
	want, wantStats := directRendering(events, o)
	for name, file := range map[string][]byte{"pcap": writePcap(t, conv.pkts), "pcapng": writePcapng(t, conv.pkts)} {
		var out bytes.Buffer
		st, err := RenderCapture(&out, bytes.NewReader(file), o)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out.String())
		}
		if st.WebSockets != 1 || st.TCPStreams != 1 || st.Frames != wantStats.Frames || st.Violations != 0 || st.Packets != len(conv.pkts) {
			t.Errorf("%s: stats %+v, want 1 WebSocket, %d frames (%d packets)", name, st, wantStats.Frames, len(conv.pkts))
		}
		if got, w := frameLines(out.String()), frameLines(want); got != w {
			t.Errorf("%s: frames differ from the Session rendering of the same bytes:\n--- capture\n%s\n--- session\n%s", name, got, w)
		}
		wantNote := "-- c1 " + client.String() + " > " + server.String() + " WebSocket upgrade"
		if !strings.Contains(out.String(), wantNote) {
			t.Errorf("%s: no %q in\n%s", name, wantNote, out.String())
		}
	}
	if wantStats.Frames < 12 {
		t.Errorf("only %d frames in the exchange", wantStats.Frames)
	}
}

// scriptedEvents is a fixed conversation (fixed masking keys), for golden
// files: masked text, a 16-bit length binary frame split over segments,
// a fragmented message with an interleaved ping, close with reason.
func scriptedEvents() []wireEvent {
	bin := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 60)
	c2s := func(parts ...[]byte) wireEvent { return wireEvent{true, bytes.Join(parts, nil)} }
	s2c := func(parts ...[]byte) wireEvent { return wireEvent{false, bytes.Join(parts, nil)} }
	return []wireEvent{
		c2s([]byte(testRequest), mkFrame(true, 0, OpText, testKey, []byte("hello"), -1)),
		s2c([]byte(testResponse), mkFrame(true, 0, OpText, nil, []byte("hello"), -1)),
		c2s(mkFrame(true, 0, OpBinary, testKey, bin, -1)),
		s2c(mkFrame(true, 0, OpBinary, nil, bin, -1)),
		c2s(mkFrame(false, 0, OpText, testKey, []byte("frag-"), -1), mkFrame(true, 0, OpPing, testKey, []byte("p"), -1), mkFrame(true, 0, OpContinuation, testKey, []byte("ment"), -1)),
		s2c(mkFrame(true, 0, OpPong, nil, []byte("p"), -1), mkFrame(true, 0, OpText, nil, []byte("frag-ment"), -1)),
		c2s(mkFrame(true, 0, OpClose, testKey, closePayload(1000, "bye"), -1)),
		s2c(mkFrame(true, 0, OpClose, nil, closePayload(1000, "bye"), -1)),
	}
}

// httpConv adds a plain HTTP connection to c's packets.
func httpConv(t testing.TB, at time.Time) *tcpConv {
	c := newConv(t, at, "10.0.0.9", "10.0.0.2", 40001, 80)
	conversation(t, c, []wireEvent{
		{true, []byte("GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n")},
		{false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")},
	}, -1, false)
	return c
}

// interleave merges the packets of several connections by time.
func interleave(convs ...*tcpConv) []capPkt {
	var all []capPkt
	idx := make([]int, len(convs))
	for {
		best := -1
		for i, c := range convs {
			if idx[i] < len(c.pkts) && (best < 0 || c.pkts[idx[i]].ci.Timestamp.Before(convs[best].pkts[idx[best]].ci.Timestamp)) {
				best = i
			}
		}
		if best < 0 {
			return all
		}
		all = append(all, convs[best].pkts[idx[best]])
		idx[best]++
	}
}

// goldenCapture is the scripted WebSocket conversation on port 9999 (with
// disorder and a retransmission) beside a plain HTTP connection.
func goldenCapture(t testing.TB) []byte {
	ws := newConv(t, captureStart.Add(50*time.Microsecond), "10.0.0.1", "10.0.0.2", 51000, 9999)
	conversation(t, ws, scriptedEvents(), 2, false)
	return writePcap(t, interleave(httpConv(t, captureStart), ws))
}

func TestCaptureGolden(t *testing.T) {
	file := goldenCapture(t)
	for _, json := range []bool{false, true} {
		var out bytes.Buffer
		st, err := RenderCapture(&out, bytes.NewReader(file), RenderOptions{MaxPayload: 32, JSON: json})
		if err != nil {
			t.Fatal(err)
		}
		if st.WebSockets != 1 || st.TCPStreams != 2 || st.Frames != 11 {
			t.Errorf("stats %+v, want 2 TCP connections, 1 WebSocket, 11 frames", st)
		}
		name := "capture.txt"
		if json {
			name = "capture.jsonl"
		}
		golden(t, name, out.Bytes())
	}
	// The Session rendering of the same bytes has the same frames.
	var out bytes.Buffer
	if _, err := RenderCapture(&out, bytes.NewReader(file), RenderOptions{MaxPayload: 32, Conns: []uint64{2}}); err != nil {
		t.Fatal(err)
	}
	direct, _ := directRendering(scriptedEvents(), RenderOptions{MaxPayload: 32})
	direct = strings.ReplaceAll(direct, " c1 ", " c2 ")
	if got, want := frameLines(out.String()), frameLines(direct); got != want {
		t.Errorf("frames differ from the Session rendering:\n--- capture\n%s\n--- session\n%s", got, want)
	}
}

func TestCaptureHTTPOnly(t *testing.T) {
	file := writePcap(t, httpConv(t, captureStart).pkts)
	var out bytes.Buffer
	st, err := RenderCapture(&out, bytes.NewReader(file), RenderOptions{})
	if !errors.Is(err, ErrNoWebSocket) {
		t.Fatalf("error %v, want ErrNoWebSocket", err)
	}
	want := "-- c1 10.0.0.9:40001 > 10.0.0.2:80 not WebSocket (HTTP request without Upgrade: websocket (GET /index.html HTTP/1.1)): 43 byte(s) out, 43 back; skipped\n"
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "-- no WebSocket connection in this capture (10 packet(s), 1 TCP connection(s))") {
		t.Errorf("rendering:\n%s\nwant the line %q", out.String(), want)
	}
	if st.WebSockets != 0 || st.TCPStreams != 1 || st.Frames != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCaptureTruncated(t *testing.T) {
	file := goldenCapture(t)
	// Cut inside the data of the last packet that carries payload (the
	// server's close): 54 bytes of headers, then payload.
	var last, lastLen int
	for off := 24; off+16 <= len(file); {
		incl := int(binary.LittleEndian.Uint32(file[off+8:]))
		if incl > 60 { // bare ACKs are padded to 60
			last, lastLen = off, incl
		}
		off += 16 + incl
	}
	cut := last + 16 + lastLen/2
	wantOff := int64(last + 16)
	var out bytes.Buffer
	st, err := RenderCapture(&out, bytes.NewReader(file[:cut]), RenderOptions{})
	var ce *CaptureError
	if !errors.As(err, &ce) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want a *CaptureError for a truncated file", err)
	}
	if ce.Offset != wantOff {
		t.Errorf("error at byte %d, want %d: %v", ce.Offset, wantOff, err)
	}
	text := out.String()
	if !strings.Contains(text, "!! pcap: at byte "+strconv.FormatInt(wantOff, 10)+": expected ") {
		t.Errorf("no error line in\n%s", text)
	}
	if st.Frames == 0 || !strings.Contains(text, `=>   text "hello"`) {
		t.Errorf("frames before the damage not shown (%d frames):\n%s", st.Frames, text)
	}
	if st.Frames >= 11 {
		t.Errorf("%d frames rendered from a truncated capture", st.Frames)
	}
	var js bytes.Buffer
	if _, err := RenderCapture(&js, bytes.NewReader(file[:cut]), RenderOptions{JSON: true}); err == nil {
		t.Fatal("no error in JSON mode")
	}
	if !strings.Contains(js.String(), `"offset":`+strconv.FormatInt(wantOff, 10)) {
		t.Errorf("JSON error has no offset %d:\n%s", wantOff, js.String())
	}
}

func TestCaptureGap(t *testing.T) {
	ws := newConv(t, captureStart, "10.0.0.1", "10.0.0.2", 51000, 9999)
	conversation(t, ws, scriptedEvents(), 3, true) // a server segment lost
	// An HTTP connection 5 s later: by then the reassembler has stopped
	// waiting for the lost segment, so the gap is noted before it.
	var out bytes.Buffer
	st, err := RenderCapture(&out, bytes.NewReader(writePcap(t, interleave(ws, httpConv(t, captureStart.Add(5*time.Second))))), RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if g, h := strings.Index(text, " gap of "), strings.Index(text, "not WebSocket"); g < 0 || h < 0 || g > h {
		t.Errorf("the gap is not noted before the next connection:\n%s", text)
	}
	for _, re := range []string{
		`-- \+0\.\d+s c1 S>C gap of 100 byte\(s\) \(missing from the capture\) at stream offset 14; the 7 byte\(s\) of an incomplete frame at stream offset 7 before it are not shown; looking for the next frame boundary`,
		// 7 (text) + 4 (binary header) + 300 (payload): the pong after it.
		`-- \+0\.\d+s c1 S>C resynchronised at stream offset 311: 297 byte\(s\) after the gap passed over`,
		`#\d+ \+0\.\d+s c1 S>C @311 3B FIN=1 RSV=000 OP=0xa\(pong\)`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("no %s in\n%s", re, text)
		}
	}
	// Client frames all decoded, server ones before the gap and after the
	// resync (pong, text, close).
	if st.Frames != 10 || st.Violations != 0 {
		t.Errorf("%d frames, %d violations; want 10 (6 client, 1 + 3 server) and none:\n%s", st.Frames, st.Violations, text)
	}
}

func TestCaptureBadMagic(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []byte
		off  int64
		want string
	}{
		"empty":     {nil, 0, "expected a pcap or pcapng magic number"},
		"short":     {[]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0}, 4, "the rest of the 24-byte pcap file header"},
		"version":   {append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 9, 0}, make([]byte, 18)...), 4, "pcap major version 2"},
		"ng-length": {[]byte{0x0a, 0x0d, 0x0d, 0x0a, 8, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a}, 4, "a pcapng block length"},
	} {
		var out bytes.Buffer
		_, err := RenderCapture(&out, bytes.NewReader(tc.in), RenderOptions{})
		var ce *CaptureError
		if !errors.As(err, &ce) || ce.Offset != tc.off || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a CaptureError at byte %d with %q", name, err, tc.off, tc.want)
		}
	}
}

func TestIsCapture(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"\xd4\xc3\xb2\xa1", true}, {"\xa1\xb2\xc3\xd4", true}, {"\x4d\x3c\xb2\xa1", true}, {"\xa1\xb2\x3c\x4d", true},
		{"\x0a\x0d\x0d\x0a", true}, {"WSBTRACE", false}, {"\xd4\xc3", false}, {"", false},
	} {
		if got := IsCapture([]byte(tc.in)); got != tc.want {
			t.Errorf("IsCapture(%q) = %v", tc.in, got)
		}
	}
}

// TestCaptureLinkTypes: the same conversation captured as raw IP and on a
// BSD loopback (macOS lo0) renders the same frames as over Ethernet.
func TestCaptureLinkTypes(t *testing.T) {
	ws := newConv(t, captureStart, "10.0.0.1", "10.0.0.2", 51000, 9999)
	conversation(t, ws, scriptedEvents(), 2, false)
	var want bytes.Buffer
	if _, err := RenderCapture(&want, bytes.NewReader(writePcap(t, ws.pkts)), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		link   layers.LinkType
		prefix []byte
	}{
		"raw":  {layers.LinkTypeRaw, nil},
		"null": {layers.LinkTypeNull, []byte{2, 0, 0, 0}},
	} {
		var file bytes.Buffer
		w := pcapgo.NewWriter(&file)
		if err := w.WriteFileHeader(65536, tc.link); err != nil {
			t.Fatal(err)
		}
		for _, p := range ws.pkts {
			ipPkt := p.data[14:]
			ipPkt = ipPkt[:int(binary.BigEndian.Uint16(ipPkt[2:]))] // no Ethernet padding
			data := append(bytes.Clone(tc.prefix), ipPkt...)
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.ci.Timestamp, CaptureLength: len(data), Length: len(data)}, data); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		st, err := RenderCapture(&out, &file, RenderOptions{})
		if err != nil || st.Frames != 11 {
			t.Fatalf("%s: %d frames, %v\n%s", name, st.Frames, err, out.String())
		}
		if got, w := frameLines(out.String()), frameLines(want.String()); got != w {
			t.Errorf("%s: frames differ from the Ethernet capture:\n%s\n--- want\n%s", name, got, w)
		}
	}
}

// TestCaptureNanoAndBigEndian: a nanosecond pcap and a big-endian one
// render like the usual little-endian microsecond file.
func TestCaptureNanoAndBigEndian(t *testing.T) {
	ws := newConv(t, captureStart, "10.0.0.1", "10.0.0.2", 51000, 9999)
	conversation(t, ws, scriptedEvents(), -1, false)
	micro := writePcap(t, ws.pkts)
	var want bytes.Buffer
	if _, err := RenderCapture(&want, bytes.NewReader(micro), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	var nano bytes.Buffer
	w := pcapgo.NewWriterNanos(&nano)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range ws.pkts {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	// Big-endian: swap every header field of the microsecond file.
	be := bytes.Clone(micro)
	swap := func(b []byte) {
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	swap(be[0:4])
	swap(be[4:6])
	swap(be[6:8])
	for i := 8; i < 24; i += 4 {
		swap(be[i : i+4])
	}
	for off := 24; off < len(be); {
		incl := int(binary.LittleEndian.Uint32(be[off+8:]))
		for i := 0; i < 16; i += 4 {
			swap(be[off+i : off+i+4])
		}
		off += 16 + incl
	}
	for name, file := range map[string][]byte{"nanosecond": nano.Bytes(), "big-endian": be} {
		var out bytes.Buffer
		if _, err := RenderCapture(&out, bytes.NewReader(file), RenderOptions{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if out.String() != want.String() {
			t.Errorf("%s: rendering differs:\n%s\n--- want\n%s", name, out.String(), want.String())
		}
	}
}

func TestEndpointIPv6(t *testing.T) {
	ip := layers.NewIPEndpoint(net.ParseIP("2001:db8::1"))
	port := layers.NewTCPPortEndpoint(8080)
	if got := endpoint(ip, port); got != "[2001:db8::1]:8080" {
		t.Errorf("endpoint = %q", got)
	}
	if got := endpoint(layers.NewIPEndpoint(net.IPv4(10, 0, 0, 1)), port); got != "10.0.0.1:8080" {
		t.Errorf("endpoint = %q", got)
	}
}
