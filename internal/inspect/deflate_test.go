package inspect

import (
	"bytes"
	"compress/flate"
	"strings"
	"testing"

	"github.com/wsbench/wsbench/internal/trace"
)

func TestParseDeflate(t *testing.T) {
	rsp := func(ext ...string) []byte {
		s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		for _, e := range ext {
			s += "Sec-WebSocket-Extensions: " + e + "\r\n"
		}
		return []byte(s + "\r\n")
	}
	std := Deflate{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	cases := []struct {
		name string
		rsp  []byte
		want *Deflate
		err  string
	}{
		{"none", rsp(), nil, ""},
		{"other extension", rsp("x-webkit-deflate-frame"), nil, ""},
		{"plain", rsp("permessage-deflate"), &std, ""},
		{"case and spaces", rsp("  PerMessage-Deflate ;Server_No_Context_Takeover "), &Deflate{ServerNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, ""},
		{"all", rsp("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=\"12\""),
			&Deflate{true, true, 9, 12}, ""},
		{"second header, second element", rsp("x-foo; a=1", "x-bar, permessage-deflate; client_max_window_bits=8"), &Deflate{ServerMaxWindowBits: 15, ClientMaxWindowBits: 8}, ""},
		{"first element wins", rsp("permessage-deflate; server_max_window_bits=10, permessage-deflate"), &Deflate{ServerMaxWindowBits: 10, ClientMaxWindowBits: 15}, ""},
		{"bits out of range", rsp("permessage-deflate; server_max_window_bits=7"), &std, `server_max_window_bits="7": want 8 to 15`},
		{"client bits without value", rsp("permessage-deflate; client_max_window_bits"), &std, "client_max_window_bits without a value"},
		{"repeated", rsp("permessage-deflate; server_no_context_takeover; server_no_context_takeover"), &Deflate{ServerNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, "repeated"},
		{"value on a flag", rsp("permessage-deflate; client_no_context_takeover=1"), &Deflate{ClientNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, "takes no value"},
		{"unknown", rsp("permessage-deflate; foo=bar"), &std, `unknown parameter "foo"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseDeflate(c.rsp)
			switch {
			case c.want == nil && got != nil, c.want != nil && (got == nil || *got != *c.want):
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("error %v, want one containing %q", err, c.err)
			}
			if got != nil && err == nil {
				back, err := ParseDeflate(rsp(got.String()))
				if err != nil || back == nil || *back != *got {
					t.Errorf("String %q parses back to %+v, %v", got.String(), back, err)
				}
			}
		})
	}
}

// compressor is a permessage-deflate sender: sync flush per message, tail
// removed, context kept (takeover) or not.
type compressor struct {
	buf      bytes.Buffer
	w        *flate.Writer
	takeover bool
}

func (c *compressor) msg(t testing.TB, p []byte) []byte {
	t.Helper()
	c.buf.Reset()
	if c.w == nil || !c.takeover {
		w, err := flate.NewWriter(&c.buf, flate.BestSpeed)
		if err != nil {
			t.Fatal(err)
		}
		c.w = w
	}
	if _, err := c.w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(bytes.TrimSuffix(c.buf.Bytes(), []byte{0, 0, 0xff, 0xff}))
}

// TestInflateSlidingWindow: with context takeover the window slides over
// more than 32 KiB of messages; every message inflates to what was sent.
func TestInflateSlidingWindow(t *testing.T) {
	for _, takeover := range []bool{true, false} {
		c := &compressor{takeover: takeover}
		var z inflater
		var total int
		for i := range 60 {
			// Repetitive, so later messages refer back into earlier ones.
			msg := bytes.Repeat([]byte(strings.Repeat("x", i%7)+"message number "+strings.Repeat("y", i%5)), 40+i*3)
			total += len(msg)
			out, err := z.inflate(c.msg(t, msg), takeover, 15)
			if err != nil || !bytes.Equal(out, msg) {
				t.Fatalf("takeover %v message %d: %v, %d bytes back of %d", takeover, i, err, len(out), len(msg))
			}
			if len(z.window) > 1<<15 {
				t.Fatalf("window of %d bytes", len(z.window))
			}
		}
		if total < 3<<15 {
			t.Fatalf("only %d bytes: the window did not slide", total)
		}
	}
}

// TestInflateBomb: a message that inflates past the bound is reported.
func TestInflateBomb(t *testing.T) {
	c := &compressor{}
	comp := c.msg(t, make([]byte, maxInflated+10))
	var z inflater
	if _, err := z.inflate(comp, false, 15); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("bomb: %v", err)
	}
}

// FuzzDeflate: no extension answer or compressed data panics the parser or
// the inflater; what compress/flate compresses (with or without context
// takeover) inflates back exactly, through the Decoder as a sequence of
// frames.
func FuzzDeflate(f *testing.F) {
	f.Add("permessage-deflate", []byte("hello\x00world\x00hello world"), []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
	f.Add("permessage-deflate; server_no_context_takeover; client_no_context_takeover", []byte("a\x00a\x00a"), []byte{0x01, 0x02})
	f.Add("permessage-deflate; client_max_window_bits=8; server_max_window_bits=15", []byte("\x00\x00"), []byte{0x4a, 0x4e, 0x4c, 0x3b, 0xac})
	f.Add("x, permessage-deflate; x=\"1\"; server_max_window_bits", []byte{}, []byte{0xff})
	f.Fuzz(func(t *testing.T, ext string, plain, junk []byte) {
		rsp := []byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: " + ext + "\r\n\r\n")
		p, err := ParseDeflate(rsp)
		if err != nil && p == nil {
			t.Fatalf("an error without parameters: %v", err)
		}
		if p != nil && err == nil {
			back, err := ParseDeflate([]byte("HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: " + p.String() + "\r\n\r\n"))
			if err != nil || back == nil || *back != *p {
				t.Fatalf("%q: String %q parses back to %+v, %v", ext, p.String(), back, err)
			}
		}
		if p == nil {
			return
		}
		// Junk as compressed data: errors at most.
		var z inflater
		_, _ = z.inflate(junk, true, p.ServerMaxWindowBits)
		_, _ = z.inflate(junk, false, p.ClientMaxWindowBits)

		// Real messages, split on NUL, through the Decoder.
		d := NewDecoder()
		if _, err := d.Handshake(1, rsp); err != nil && p == nil {
			t.Fatal(err)
		}
		c := &compressor{takeover: !p.ServerNoContextTakeover}
		for i, msg := range bytes.Split(plain, []byte{0}) {
			comp := c.msg(t, msg)
			raw := make([]byte, 0, len(comp)+10)
			half := len(comp) / 2
			frames := [][]byte{appendTestFrame(raw, false, 4, OpBinary, comp[:half]), appendTestFrame(nil, true, 0, OpContinuation, comp[half:])}
			var a Analysis
			for _, b := range frames {
				fr, _, err := ParseFrame(b)
				if err != nil {
					t.Fatal(err)
				}
				a = d.Frame(1, trace.ServerToClient, &fr)
			}
			if len(a.Violations) > 0 || !bytes.Equal(a.Inflated, msg) {
				t.Fatalf("message %d (%q): inflated %q, violations %v", i, msg, a.Inflated, a.Violations)
			}
		}
	})
}

// appendTestFrame appends an unmasked frame.
func appendTestFrame(b []byte, fin bool, rsv, op uint8, p []byte) []byte {
	return append(b, mkFrame(fin, rsv, op, nil, p, -1)...)
}

// TestCaptureDeflate: compressed messages in a capture are inflated with
// the context carried across messages, as in a trace.
func TestCaptureDeflate(t *testing.T) {
	rsp := strings.Replace(testResponse, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)
	events := []wireEvent{
		{true, append([]byte(testRequest), mkFrame(true, 4, OpText, testKey, unhex(deflateMsg1), -1)...)},
		{false, append([]byte(rsp), mkFrame(true, 4, OpText, nil, unhex(deflateMsg1), -1)...)},
		{true, mkFrame(true, 4, OpText, testKey, unhex(deflateMsg2Ctx), -1)},
		{false, mkFrame(true, 4, OpBinary, nil, unhex(deflateBinCtx), -1)},
	}
	conv := newConv(t, captureStart, "10.0.0.1", "10.0.0.2", 51000, 9999)
	conversation(t, conv, events, -1, false)
	var out bytes.Buffer
	st, err := RenderCapture(&out, bytes.NewReader(writePcap(t, conv.pkts)), RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		`=>   text "Hello, permessage-deflate! Hello, permessage-deflate! Hello again." (inflated 38→66B) utf8=ok`,
		`=>   text "Hello, permessage-deflate! Hello again, and again." (inflated 11→50B) utf8=ok`,
		`=>   binary (inflated 14→22B)`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	if st.Frames != 4 || st.Violations != 0 {
		t.Errorf("stats %+v, want 4 frames and no violations:\n%s", st, s)
	}
}
