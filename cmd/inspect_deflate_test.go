package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
)

// TestInspectRelayDeflate: a gorilla client and a gorilla server that both
// compress talk through the relay; the dump shows every message inflated,
// in both directions, without violations, and the recording renders the
// same later.
func TestInspectRelayDeflate(t *testing.T) {
	upAddr, _ := gorillaEchoServer(t, nil, true)
	rec := filepath.Join(t.TempDir(), "deflate.trace")
	addr, out, doneCh, stop := startRelay(t, &inspectOptions{Upstream: "ws://" + upAddr + "/ws", Record: rec, RecordMaxBytes: trace.DefaultMaxBytes})

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, EnableCompression: true}
	conn, rsp, err := d.Dial("ws://"+addr.String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rsp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("compression not negotiated through the relay: %q", rsp.Header.Get("Sec-WebSocket-Extensions"))
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	msgs := []string{
		strings.Repeat("compress me, compress me again; ", 30),
		"short one",
		strings.Repeat("ünïcödé ", 50),
	}
	for _, m := range msgs {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := conn.ReadMessage(); err != nil || string(got) != m {
			t.Fatalf("echo: %v", err)
		}
	}
	bin := bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 100)
	if err := conn.WriteMessage(websocket.BinaryMessage, bin); err != nil {
		t.Fatal(err)
	}
	if _, got, err := conn.ReadMessage(); err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("binary echo: %v", err)
	}
	_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	_, _, _ = conn.ReadMessage()
	conn.Close()
	<-doneCh
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	wantAll(t, s, "   ~  permessage-deflate: client no context takeover, 15-bit window; server no context takeover",
		"RSV=100 OP=0x1(text)", "   infl ", `=>   text "compress me, compress me again; `, `=>   text "short one" (inflated `,
		`=>   text "ünïcödé ünïcödé`, "=>   binary (inflated ")
	for _, dir := range []string{" C>S ", " S>C "} {
		if n := frameLines(s, dir, "RSV=100"); n != 4 {
			t.Errorf("%d compressed frames%s, want 4:\n%s", n, dir, s)
		}
	}
	if n := strings.Count(s, "(inflated "); n != 8 {
		t.Errorf("%d messages shown inflated, want 8:\n%s", n, s)
	}
	if strings.Contains(s, "   !    ") || strings.Contains(s, "compressed (permessage-deflate)") {
		t.Errorf("violations or messages not inflated:\n%s", s)
	}

	// The recording renders the same frames, inflated too.
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if _, err := inspect.Run(context.Background(), &again, inspect.TraceReader{R: bytes.NewReader(b)}, inspect.Options{Render: inspect.RenderOptions{MaxPayload: inspect.DefaultMaxPayload, JSON: true}}); err != nil {
		t.Fatal(err)
	}
	js := again.String()
	if n := strings.Count(js, `"inflated":"`); n != 8 {
		t.Errorf("JSON rendering of the recording: %d inflated messages, want 8:\n%s", n, js)
	}
	wantAll(t, js, `"deflate":{"server_no_context_takeover":true,"client_no_context_takeover":true`, `"text":"short one"`, `"compressed_size":`)
}

// TestInspectLiveDeflate: --compression offers permessage-deflate to a
// gorilla server that compresses; its replies are shown inflated.
func TestInspectLiveDeflate(t *testing.T) {
	upAddr, _ := gorillaEchoServer(t, nil, true)
	long := strings.Repeat("inflate me please ", 20)
	out, _, err := live(t, inspectOptions{File: "ws://" + upAddr + "/ws", Compression: true, MaxPayload: inspect.DefaultMaxPayload}, long+"\nhi\n")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantAll(t, out, "compression true", "   ~  permessage-deflate: ", `=>   text "inflate me please`, `=>   text "hi" (inflated `)
	if n := frameLines(out, " S>C ", "RSV=100 OP=0x1(text)"); n != 2 {
		t.Errorf("%d compressed server frames, want 2:\n%s", n, out)
	}
	if strings.Contains(out, "   !    ") {
		t.Errorf("violations:\n%s", out)
	}
}
