package inspect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// testdata/chromium-chat.har was taken from headless Chromium 148 playing
// the chat session of cmd's TestScenarioFromChromiumHAR with the page's
// own WebSocket, through the DevTools protocol, written as DevTools'
// "Save all as HAR" writes sockets (WSBENCH_KEEP_HAR=FILE go test ./cmd
// -run TestScenarioFromChromiumHAR makes a new one).

// TestHARRender renders a HAR taken from Chromium like any other source.
func TestHARRender(t *testing.T) {
	f, err := OpenFile(filepath.Join("testdata", "chromium-chat.har"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	stats, err := Run(context.Background(), &out, f, Options{Render: RenderOptions{MaxPayload: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Frames != 18 || stats.Violations != 0 {
		t.Errorf("%d frames, %d violations; want the 18 messages of the session and none", stats.Frames, stats.Violations)
	}
	golden(t, "har-chromium.txt", out.Bytes())
	out.Reset()
	f2, _ := OpenFile(filepath.Join("testdata", "chromium-chat.har"))
	defer f2.Close()
	if _, err := Run(context.Background(), &out, f2, Options{Render: RenderOptions{JSON: true, Dirs: []trace.Dir{trace.ClientToServer}}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), `"type":"frame"`); n != 6 {
		t.Errorf("--dir c2s shows %d frames, want the 6 the page sent:\n%s", n, out.String())
	}
}

// frameBytes builds one frame; client frames get a masking key.
func frameBytes(fin bool, op byte, client bool, p []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	key := []byte{1, 2, 3, 4}
	m := byte(0)
	if client {
		m = 0x80
	}
	b = append(b, m|byte(len(p)))
	if client {
		b = append(b, key...)
		for i, c := range p {
			b = append(b, c^key[i&3])
		}
		return b
	}
	return append(b, p...)
}

// TestHARWriteRead: what a Session sees goes into a HAR that ReadHAR gives
// back: whole messages (fragments joined), binary ones in base64, control
// frames left out, times to the microsecond.
func TestHARWriteRead(t *testing.T) {
	hw := NewHARWriter("test")
	s := NewSession(io.Discard, SessionOptions{Observer: hw})
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	s.setStart(t0)
	req := []byte("GET /chat?room=a HTTP/1.1\r\nHost: example.test:8080\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: chat.v1\r\n\r\n")
	rsp := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: chat.v1\r\n\r\n")
	s.Handshake(1, t0, req, rsp)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	s.Data(1, trace.ClientToServer, at(1), frameBytes(true, OpText, true, []byte(`{"op":"nick"}`)))
	s.Data(1, trace.ServerToClient, at(2), frameBytes(false, OpText, false, []byte("frag")))
	s.Data(1, trace.ServerToClient, at(2), frameBytes(true, OpPing, false, []byte("p")))
	s.Data(1, trace.ServerToClient, at(3), frameBytes(true, OpContinuation, false, []byte("mented")))
	s.Data(1, trace.ClientToServer, at(4), frameBytes(true, OpBinary, true, []byte{0, 1, 0xff}))
	s.Data(1, trace.ClientToServer, at(5), frameBytes(true, OpClose, true, []byte{3, 0xe8}))
	var buf bytes.Buffer
	if err := hw.Write(&buf); err != nil {
		t.Fatal(err)
	}
	written := buf.String()
	creator, socks, err := ReadHAR(&buf)
	if err != nil {
		t.Fatalf("%v\n%s", err, written)
	}
	if creator != "wsbench test" || len(socks) != 1 {
		t.Fatalf("creator %q, %d sockets", creator, len(socks))
	}
	sk := socks[0]
	if sk.URL != "ws://example.test:8080/chat?room=a" || sk.Status != 101 || !sk.Started.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("socket %s, status %d, started %s", sk.URL, sk.Status, sk.Started)
	}
	want := []HARMessage{
		{Send: true, At: at(1), Opcode: OpText, Payload: []byte(`{"op":"nick"}`)},
		{At: at(3), Opcode: OpText, Payload: []byte("fragmented")},
		{Send: true, At: at(4), Opcode: OpBinary, Payload: []byte{0, 1, 0xff}},
	}
	if len(sk.Messages) != len(want) {
		t.Fatalf("%d messages, want %d: %+v", len(sk.Messages), len(want), sk.Messages)
	}
	for i, m := range sk.Messages {
		w := want[i]
		if m.Send != w.Send || m.Opcode != w.Opcode || !bytes.Equal(m.Payload, w.Payload) || !m.At.Equal(w.At.Truncate(time.Microsecond)) {
			t.Errorf("message %d: %+v, want %+v", i, m, w)
		}
	}
	if !strings.Contains(written, `"_resourceType": "websocket"`) || !strings.Contains(written, `"time": 1778051289.126456`) {
		t.Errorf("not Chrome's form:\n%s", written)
	}
}

func TestReadHARErrors(t *testing.T) {
	entry := func(msgs string) string {
		return `{"log":{"version":"1.2","entries":[{"startedDateTime":"2026-01-02T03:04:05.678Z","request":{"url":"wss://x/s"},"_resourceType":"websocket","_webSocketMessages":` + msgs + `}]}}`
	}
	cases := []struct{ in, want string }{
		{`{"log":`, "har: at byte 7: not valid JSON"},
		{`{"entries":[]}`, "har: log: no log object: not a HAR file"},
		{entry(`3`), "har: log.entries[0]._webSocketMessages: a number where a []inspect.HARWSMessage belongs"},
		{entry(`[{"type":"sent","time":1,"opcode":1,"data":""}]`), `har: log.entries[0]._webSocketMessages[0].type: "sent": want send or receive`},
		{entry(`[{"type":"send","time":"soon","opcode":1,"data":""}]`), "log.entries[0]: json: invalid number literal"},
		{entry(`[{"type":"send","time":-5,"opcode":1,"data":""}]`), `log.entries[0]._webSocketMessages[0].time: "-5" is not a time in Unix seconds`},
		{entry(`[{"type":"receive","time":1.5,"opcode":2,"data":"!!"}]`), "._webSocketMessages[0].data: binary message data is not base64"},
		{entry(`[{"type":"receive","time":1.5,"opcode":16,"data":""}]`), "opcode: 16 is not a WebSocket opcode"},
		{strings.Replace(entry(`[]`), "2026-01-02T03:04:05.678Z", "yesterday", 1), `log.entries[0].startedDateTime: "yesterday" is not an ISO 8601 date and time`},
	}
	for _, c := range cases {
		_, _, err := ReadHAR(strings.NewReader(c.in))
		var he *HARError
		if !errors.As(err, &he) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadHAR(%s): %v, want a HARError with %q", c.in, err, c.want)
		}
	}
	// Entries that are not sockets never matter.
	_, socks, err := ReadHAR(strings.NewReader(`{"log":{"entries":[{"request":{"url":"https://x/a.png"},"time":"odd"},` + entry(`[]`)[len(`{"log":{"version":"1.2","entries":[`):]))
	if err != nil || len(socks) != 1 {
		t.Errorf("a foreign entry: %v, %d sockets", err, len(socks))
	}
}

func TestParseHARTime(t *testing.T) {
	for in, want := range map[string]int64{
		"1700000000.123456": 1700000000123456000, "1700000000": 1700000000000000000,
		"1700000000.1234567891": 1700000000123456789, "1.7e9": 1700000000000000000, "0.5": 500000000,
	} {
		got, err := ParseHARTime(in)
		if err != nil || got.UnixNano() != want {
			t.Errorf("ParseHARTime(%s) = %d, %v; want %d", in, got.UnixNano(), err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.", "1.2.3", "x", "1e999", "NaN", "99999999999999999999"} {
		if _, err := ParseHARTime(in); err == nil {
			t.Errorf("ParseHARTime(%q) accepted", in)
		}
	}
	at := time.Unix(1700000000, 123456789)
	if got := FormatHARTime(at); got != "1700000000.123456" {
		t.Errorf("FormatHARTime = %s", got)
	}
}

// harSeeds are FuzzReadHAR's seed corpus.
func harSeeds() [][]byte {
	real, _ := os.ReadFile(filepath.Join("testdata", "chromium-chat.har"))
	return [][]byte{
		real,
		[]byte(`{"log":{"entries":[{"startedDateTime":"2026-01-02T03:04:05Z","request":{"url":"ws://h/p","headers":[{"name":"Host","value":"h"}]},"response":{"status":101},"_webSocketMessages":[{"type":"send","time":1767323045.5,"opcode":1,"data":"hi"},{"type":"receive","time":1767323045.25,"opcode":2,"data":"AAE="},{"type":"receive","time":1767323046,"opcode":9,"data":"p"}]}]}}`),
		[]byte(`{"log":{"entries":[{"startedDateTime":"0001-01-01T00:00:00Z","request":{"url":"wss://[::1]:1/"},"_resourceType":"websocket","_webSocketMessages":[{"type":"receive","time":0,"opcode":0,"data":""}]}]}}`),
		[]byte("\xef\xbb\xbf {\"log\":{\"entries\":[]}}"),
		[]byte(`{"log":null}`),
	}
}

// FuzzReadHAR: no input panics the reader or the HAR source; a HAR that
// reads is rendered, and written back by HARWriter, it reads again with
// the same data messages.
func FuzzReadHAR(f *testing.F) {
	for _, s := range harSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, socks, err := ReadHAR(bytes.NewReader(b))
		if err != nil {
			var he *HARError
			if !errors.As(err, &he) {
				t.Fatalf("not a HARError: %v", err)
			}
			return
		}
		hw := NewHARWriter("fuzz")
		if _, err := Run(context.Background(), io.Discard, HARSource{R: bytes.NewReader(b)}, Options{Observer: hw}); err != nil {
			t.Fatalf("HARSource after ReadHAR accepted it: %v", err)
		}
		var out bytes.Buffer
		if err := hw.Write(&out); err != nil {
			t.Fatal(err)
		}
		_, again, err := ReadHAR(&out)
		if err != nil {
			t.Fatalf("the HAR written back does not read: %v\n%s", err, out.String())
		}
		data := func(ss []HARSocket) []string {
			var l []string
			for i, s := range ss {
				for _, m := range s.Messages {
					if m.Opcode == OpText || m.Opcode == OpBinary {
						l = append(l, fmt.Sprintf("%d %v %d %q", i, m.Send, m.Opcode, bytes.ToValidUTF8(m.Payload, []byte("\uFFFD"))))
					}
				}
			}
			slices.Sort(l)
			return l
		}
		// Sockets without an upgrade or a message are not written back.
		if a, b := data(socks), data(again); len(again) <= len(socks) && !slices.Equal(a, b) && len(socks) == len(again) {
			t.Fatalf("data messages differ after a round trip:\n%q\n%q", a, b)
		}
	})
}
