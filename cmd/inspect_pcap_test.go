package cmd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/internal/inspect"
)

// wireConn records the bytes a client connection writes and reads, in
// order, merging consecutive chunks of one direction.
type wireConn struct {
	net.Conn
	mu     sync.Mutex
	chunks []wireChunk
}

type wireChunk struct {
	fromClient bool
	b          []byte
}

func (c *wireConn) add(fromClient bool, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.chunks); n > 0 && c.chunks[n-1].fromClient == fromClient {
		c.chunks[n-1].b = append(c.chunks[n-1].b, p...)
		return
	}
	c.chunks = append(c.chunks, wireChunk{fromClient, bytes.Clone(p)})
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.add(false, p[:n])
	return n, err
}

func (c *wireConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.add(true, p[:n])
	return n, err
}

// echoExchange talks to the reference server's /echo with gorilla and
// returns what crossed the wire each way, and both addresses.
func echoExchange(t *testing.T) ([]wireChunk, *net.TCPAddr, *net.TCPAddr) {
	srv := startEcho(t)
	var wc *wireConn
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		wc = &wireConn{Conn: c}
		return wc, nil
	}}
	ws, _, err := d.Dial(srv.URL("/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"hello", strings.Repeat("long line ", 50)} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := ws.ReadMessage(); err != nil || string(got) != m {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "done"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, 4000) {
		t.Fatalf("after close: %v", err)
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.chunks, wc.RemoteAddr().(*net.TCPAddr), wc.LocalAddr().(*net.TCPAddr)
}

// synthPcap writes the chunks as the Ethernet/IPv4/TCP packets of one
// connection (handshake, 90-byte segments, FIN) to a pcap file.
func synthPcap(t *testing.T, path string, chunks []wireChunk, server, client *net.TCPAddr) []byte {
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	seq := [2]uint32{100, 900000}
	emit := func(fromClient bool, payload []byte, syn, fin bool) {
		at = at.Add(time.Millisecond)
		writeSegment(t, w, client, server, &seq, fromClient, at, payload, syn, fin)
	}
	emit(true, nil, true, false)
	emit(false, nil, true, false)
	emit(true, nil, false, false)
	for _, c := range chunks {
		for b := c.b; len(b) > 0; {
			n := min(90, len(b))
			emit(c.fromClient, b[:n], false, false)
			b = b[n:]
		}
	}
	emit(true, nil, false, true)
	emit(false, nil, false, true)
	emit(true, nil, false, false)
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// writeSegment writes one TCP segment of the connection client↔server to
// w, as an Ethernet/IPv4 packet: from the client when fromClient, numbered
// from seq (the client's next sequence number, then the server's), which
// it advances by the payload (and by one for SYN or FIN).
func writeSegment(t *testing.T, w *pcapgo.Writer, client, server *net.TCPAddr, seq *[2]uint32, fromClient bool, at time.Time, payload []byte, syn, fin bool) {
	t.Helper()
	src, dst, me, peer := client, server, 0, 1
	if !fromClient {
		src, dst, me, peer = server, client, 1, 0
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.IP.To4(), DstIP: dst.IP.To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port), DstPort: layers.TCPPort(dst.Port), Seq: seq[me], Ack: seq[peer],
		SYN: syn, FIN: fin, ACK: !(syn && fromClient), PSH: len(payload) > 0, Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	seq[me] += uint32(len(payload))
	if syn || fin {
		seq[me]++
	}
}

func TestInspectPcap(t *testing.T) {
	chunks, server, client := echoExchange(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "capture.pcap")
	data := synthPcap(t, file, chunks, server, client)

	var out bytes.Buffer
	if err := runInspect(context.Background(), &inspectOptions{File: file, MaxPayload: 16, Stdout: &out}); err != nil {
		t.Fatalf("inspect: %v\n%s", err, out.String())
	}
	text := out.String()
	wantAll(t, text,
		"-- c1 "+client.String()+" > "+server.String()+" WebSocket upgrade",
		"   > GET /echo HTTP/1.1", "   < HTTP/1.1 101 Switching Protocols",
		`=>   close code=4000`, `reason="done"`)
	if n := frameLines(text, "c1 C>S", "OP=0x1(text)", "MASK=1"); n != 2 {
		t.Errorf("%d client text frames, want 2:\n%s", n, text)
	}
	if n := frameLines(text, "c1 S>C", "OP=0x1(text)", "MASK=0"); n != 2 {
		t.Errorf("%d server text frames, want 2:\n%s", n, text)
	}
	if n := frameLines(text, "OP=0x8(close)"); n != 2 {
		t.Errorf("%d close frames, want 2:\n%s", n, text)
	}

	// Filters and --json apply.
	out.Reset()
	o := &inspectOptions{File: file, MaxPayload: 16, Stdout: &out, JSON: true, Dirs: []string{"s2c"}, Opcodes: []string{"text"}}
	if err := runInspect(context.Background(), o); err != nil {
		t.Fatalf("inspect --json: %v", err)
	}
	if n := strings.Count(out.String(), `"type":"frame"`); n != 2 || strings.Contains(out.String(), `"dir":"C>S"`) {
		t.Errorf("--json --dir s2c --opcode text: %d frames:\n%s", n, out.String())
	}

	// Truncated: what precedes the damage is shown, exit status 3.
	cutFile := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cutFile, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := runInspect(context.Background(), &inspectOptions{File: cutFile, MaxPayload: 16, Stdout: &out})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure {
		t.Fatalf("truncated capture: %v, want exit status %d", err, ExitFailure)
	}
	var ce *inspect.CaptureError
	if !errors.As(err, &ce) {
		t.Errorf("truncated capture: %v is not a CaptureError", err)
	}
	wantAll(t, out.String(), "   > GET /echo HTTP/1.1", `=>   text "hello"`, "!! pcap: at byte ")
}

func TestInspectPcapNoWebSocket(t *testing.T) {
	chunks := []wireChunk{
		{true, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{false, []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")},
	}
	file := filepath.Join(t.TempDir(), "http.pcap")
	synthPcap(t, file, chunks, &net.TCPAddr{IP: net.IPv4(10, 1, 1, 1), Port: 8081}, &net.TCPAddr{IP: net.IPv4(10, 1, 1, 2), Port: 33000})
	var out bytes.Buffer
	err := runInspect(context.Background(), &inspectOptions{File: file, Stdout: &out})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitFailure || !errors.Is(err, inspect.ErrNoWebSocket) {
		t.Fatalf("capture without WebSocket: %v, want exit status %d and ErrNoWebSocket", err, ExitFailure)
	}
	wantAll(t, out.String(),
		"-- c1 10.1.1.2:33000 > 10.1.1.1:8081 not WebSocket (HTTP request without Upgrade: websocket (GET / HTTP/1.1)): 27 byte(s) out, 45 back; skipped",
		"-- no WebSocket connection in this capture")
}
