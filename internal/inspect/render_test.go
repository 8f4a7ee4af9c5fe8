package inspect

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

const ms = time.Millisecond

// renderCases are hand-made traces whose text and JSON renderings are
// checked against golden files.
func renderCases() []struct {
	name  string
	trace []byte
	opts  RenderOptions
} {
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}
	bin := make([]byte, 20)
	for i := range bin {
		bin[i] = byte(i * 13)
	}
	std := func() *builder { return newBuilder().handshake(1, 0, testRequest, testResponse) }
	withExt := func(ext string) string {
		return strings.Replace(testResponse, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: "+ext+"\r\n\r\n", 1)
	}
	deflateRsp := withExt("permessage-deflate; client_max_window_bits=15")
	deflateNoCtxRsp := withExt("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10")
	deflateBadRsp := withExt("x-other, permessage-deflate; server_max_window_bits=20; bogus")
	C, S := trace.ClientToServer, trace.ServerToClient
	type tc = struct {
		name  string
		trace []byte
		opts  RenderOptions
	}
	return []tc{
		{"masked-text", std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpText, testKey, []byte("hello"), -1)).
			frame(1, S, 2*ms, mkFrame(true, 0, OpText, nil, []byte("hello"), -1)).
			end(3*ms, 1), RenderOptions{}},
		{"binary", std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpBinary, testKey, bin, -1)).
			frame(1, S, 2*ms, mkFrame(true, 0, OpBinary, nil, bin, -1)).
			end(3*ms, 1), RenderOptions{}},
		{"length-forms", std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpText, testKey, seq(125), -1)).
			frame(1, S, 2*ms, mkFrame(true, 0, OpText, nil, seq(300), -1)).
			frame(1, S, 3*ms, mkFrame(true, 0, OpBinary, nil, seq(70000), -1)).
			end(4*ms, 1), RenderOptions{MaxPayload: 20}},
		{"fragmented-ping", std().
			frame(1, C, 1*ms, mkFrame(false, 0, OpText, testKey, []byte("Hel"), -1)).
			frame(1, C, 2*ms, mkFrame(true, 0, OpPing, testKey, []byte("are you there"), -1)).
			frame(1, S, 3*ms, mkFrame(true, 0, OpPong, nil, []byte("are you there"), -1)).
			frame(1, C, 4*ms, mkFrame(false, 0, OpContinuation, testKey, []byte("lo, w\xc3"), -1)).
			frame(1, C, 5*ms, mkFrame(true, 0, OpContinuation, testKey, []byte("\xb6rld"), -1)).
			frame(1, S, 6*ms, mkFrame(true, 0, OpText, nil, []byte("Hello, wörld"), -1)).
			end(7*ms, 1), RenderOptions{}},
		{"close-reason", std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpClose, testKey, closePayload(1000, "bye now"), -1)).
			frame(1, S, 2*ms, mkFrame(true, 0, OpClose, nil, closePayload(1001, ""), -1)).
			end(3*ms, 1), RenderOptions{}},
		{"deflate-context-takeover", newBuilder().handshake(1, 0, testRequest, deflateRsp).
			frame(1, C, 1*ms, mkFrame(true, 4, OpText, testKey, unhex(deflateMsg1), -1)).
			frame(1, S, 2*ms, mkFrame(true, 4, OpText, nil, unhex(deflateMsg1), -1)).
			frame(1, C, 3*ms, mkFrame(false, 4, OpText, testKey, unhex(deflateMsg2Ctx)[:6], -1)).
			frame(1, C, 4*ms, mkFrame(true, 0, OpPing, testKey, []byte("mid-message"), -1)).
			frame(1, C, 5*ms, mkFrame(true, 0, OpContinuation, testKey, unhex(deflateMsg2Ctx)[6:], -1)).
			frame(1, S, 6*ms, mkFrame(true, 4, OpBinary, nil, unhex(deflateBinCtx), -1)).
			frame(1, S, 7*ms, mkFrame(true, 0, OpText, nil, []byte("plain"), -1)).
			end(8*ms, 1), RenderOptions{MaxPayload: 32}},
		{"deflate-no-context-takeover", newBuilder().handshake(1, 0, testRequest, deflateNoCtxRsp).
			frame(1, C, 1*ms, mkFrame(true, 4, OpText, testKey, unhex(deflateMsg1), -1)).
			frame(1, C, 2*ms, mkFrame(true, 4, OpText, testKey, unhex(deflateMsg2NoCtx), -1)).
			frame(1, S, 3*ms, mkFrame(true, 4, OpText, nil, unhex(deflateMsg1), -1)).
			// Compressed against the previous message: without context
			// takeover it cannot inflate.
			frame(1, S, 4*ms, mkFrame(true, 4, OpText, nil, unhex(deflateMsg2Ctx), -1)).
			end(5*ms, 1), RenderOptions{}},
		{"deflate-errors", newBuilder().handshake(1, 0, testRequest, deflateBadRsp).
			frame(1, C, 1*ms, mkFrame(true, 4, OpText, testKey, unhex(deflateBadUTF8), -1)).
			frame(1, S, 2*ms, mkFrame(false, 4, OpBinary, nil, []byte{1, 2}, -1)).
			frame(1, S, 3*ms, mkFrame(true, 4, OpContinuation, nil, []byte{3}, -1)).
			frame(1, C, 4*ms, mkFrame(true, 4, OpPing, testKey, []byte("z"), -1)).
			end(5*ms, 1), RenderOptions{}},
		{"notes-and-undecodable", std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpText, testKey, []byte("a"), -1)).
			frame(1, C, 2*ms, []byte{0x81, 0x85, 0x37}).
			frame(1, S, 3*ms, append(mkFrame(true, 0, OpText, nil, []byte("x"), -1), 0xee)).
			raw(trace.AppendUvarintsRecord(nil, trace.KindDropped, int(S), 1, uint64(4*ms), 12, 3400)).
			raw(trace.AppendUvarintsRecord(nil, trace.KindLimit, -1, uint64(5*ms), 65536)).
			end(6*ms, 1), RenderOptions{}},
		{"filters", newBuilder().handshake(1, 0, testRequest, testResponse).handshake(2, 0, testRequest, testResponse).
			frame(1, C, 1*ms, mkFrame(true, 0, OpText, testKey, []byte("one"), -1)).
			frame(2, C, 2*ms, mkFrame(true, 0, OpText, testKey, []byte("two"), -1)).
			frame(2, S, 3*ms, mkFrame(true, 0, OpText, nil, []byte("two back"), -1)).
			frame(2, C, 4*ms, mkFrame(true, 0, OpPing, testKey, []byte("two"), -1)).
			frame(2, S, 5*ms, mkFrame(true, 0, OpText, nil, []byte("three"), -1)).
			end(6*ms, 2), RenderOptions{Conns: []uint64{2}, Dirs: []trace.Dir{S}, Opcodes: []uint8{OpText}, Grep: regexp.MustCompile("^two")}},

		// One trace per violation tag.
		{"violation-" + TagUnmaskedClient, std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpText, nil, []byte("hi"), -1)).end(2*ms, 1), RenderOptions{}},
		{"violation-" + TagMaskedServer, std().
			frame(1, S, 1*ms, mkFrame(true, 0, OpText, testKey, []byte("hi"), -1)).end(2*ms, 1), RenderOptions{}},
		{"violation-" + TagRSVWithoutExt, std().
			frame(1, C, 1*ms, mkFrame(true, 4, OpText, testKey, []byte("hi"), -1)).
			frame(1, S, 2*ms, mkFrame(true, 3, OpBinary, nil, []byte("hi"), -1)).end(3*ms, 1), RenderOptions{}},
		{"violation-" + TagReservedOpcode, std().
			frame(1, C, 1*ms, mkFrame(true, 0, 0x3, testKey, []byte("hi"), -1)).
			frame(1, S, 2*ms, mkFrame(true, 0, 0xB, nil, nil, -1)).end(3*ms, 1), RenderOptions{}},
		{"violation-" + TagFragmentedControl, std().
			frame(1, C, 1*ms, mkFrame(false, 0, OpPing, testKey, []byte("p"), -1)).end(2*ms, 1), RenderOptions{}},
		{"violation-" + TagOversizedControl, std().
			frame(1, S, 1*ms, mkFrame(true, 0, OpPong, nil, seq(126), -1)).end(2*ms, 1), RenderOptions{MaxPayload: 16}},
		{"violation-" + TagNonMinimalLength, std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpText, testKey, []byte("short"), int(Len16))).
			frame(1, S, 2*ms, mkFrame(true, 0, OpBinary, nil, seq(200), int(Len64))).end(3*ms, 1), RenderOptions{MaxPayload: 16}},
		{"violation-" + TagInvalidUTF8, std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpText, testKey, []byte("ab\xffcd"), -1)).
			frame(1, S, 2*ms, mkFrame(false, 0, OpText, nil, []byte("abcd"), -1)).
			frame(1, S, 3*ms, mkFrame(true, 0, OpContinuation, nil, []byte("ef\xe2\x28\xa1"), -1)).
			frame(1, S, 4*ms, mkFrame(true, 0, OpClose, nil, closePayload(1000, "bad \xc0"), -1)).end(5*ms, 1), RenderOptions{}},
		{"violation-" + TagInvalidCloseCode, std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpClose, testKey, closePayload(1005, "no"), -1)).
			frame(1, S, 2*ms, mkFrame(true, 0, OpClose, nil, []byte{0x03}, -1)).
			frame(1, S, 3*ms, mkFrame(true, 0, OpClose, nil, closePayload(2500, ""), -1)).end(4*ms, 1), RenderOptions{}},
		{"violation-" + TagBadContinuation, std().
			frame(1, C, 1*ms, mkFrame(true, 0, OpContinuation, testKey, []byte("stray"), -1)).
			frame(1, C, 2*ms, mkFrame(false, 0, OpText, testKey, []byte("first"), -1)).
			frame(1, C, 3*ms, mkFrame(true, 0, OpBinary, testKey, []byte("second"), -1)).end(4*ms, 1), RenderOptions{}},
	}
}

// Messages compressed by compress/flate (sync flush, the 4-byte tail
// removed), kept as bytes so the golden files do not depend on the
// compressor's version.
const (
	// "Hello, permessage-deflate! Hello, permessage-deflate! Hello again."
	deflateMsg1 = "f248cdc9c9d75128482dca4d2d2e4e4c4fd54d494dcb492c4955542024a590989e9899a70700"
	// "Hello, permessage-deflate! Hello again, and again." compressed
	// after deflateMsg1 (context takeover): it refers back to it.
	deflateMsg2Ctx = "224e998e42625e0a540700"
	// The same compressed alone (no context takeover).
	deflateMsg2NoCtx = "f248cdc9c9d75128482dca4d2d2e4e4c4fd54d494dcb492c495554004b2924a62766e6e92824e6a540987a0000"
	// 00 01 02 03 four times, then "binary", after deflateMsg1 from the same sender.
	deflateBinCtx = "6260646246c64999798945950000"
	// "caf\xc3\x28 au lait": invalid UTF-8 once inflated.
	deflateBadUTF8 = "4a4e4c3baca19058aa909398590200"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func (t *builder) raw(rec []byte) *builder {
	t.b = append(t.b, rec...)
	return t
}

func TestRenderGolden(t *testing.T) {
	for _, c := range renderCases() {
		t.Run(c.name, func(t *testing.T) {
			var text, js bytes.Buffer
			if _, err := Render(&text, bytes.NewReader(c.trace), c.opts); err != nil {
				t.Fatalf("text: %v", err)
			}
			golden(t, c.name+".txt", text.Bytes())
			o := c.opts
			o.JSON = true
			if _, err := Render(&js, bytes.NewReader(c.trace), o); err != nil {
				t.Fatalf("json: %v", err)
			}
			for i, line := range bytes.Split(bytes.TrimSuffix(js.Bytes(), []byte("\n")), []byte("\n")) {
				var m map[string]any
				if err := json.Unmarshal(line, &m); err != nil {
					t.Fatalf("JSON line %d is not an object: %v\n%s", i+1, err, line)
				}
			}
			golden(t, c.name+".jsonl", js.Bytes())
			if strings.HasPrefix(c.name, "violation-") {
				tag := strings.TrimPrefix(c.name, "violation-")
				if !strings.Contains(text.String(), "!    "+tag+": ") {
					t.Errorf("text rendering lacks the %s tag", tag)
				}
				if !strings.Contains(js.String(), `"tag":"`+tag+`"`) {
					t.Errorf("JSON rendering lacks the %s tag", tag)
				}
			}
		})
	}
}

// TestRenderNoViolations: well-formed traffic carries no tags.
func TestRenderNoViolations(t *testing.T) {
	for _, name := range []string{"masked-text", "binary", "length-forms", "fragmented-ping", "close-reason"} {
		for _, c := range renderCases() {
			if c.name != name {
				continue
			}
			st, err := Render(&bytes.Buffer{}, bytes.NewReader(c.trace), c.opts)
			if err != nil || st.Violations != 0 || st.Shown == 0 {
				t.Errorf("%s: %+v, %v: want frames and no violations", name, st, err)
			}
		}
	}
}

func TestRenderColor(t *testing.T) {
	c := renderCases()[0]
	var plain, col bytes.Buffer
	if _, err := Render(&plain, bytes.NewReader(c.trace), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(&col, bytes.NewReader(c.trace), RenderOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("colour escapes without Color")
	}
	if !strings.Contains(col.String(), ansiBold+"#1"+ansiReset) {
		t.Errorf("no colour with Color:\n%q", col.String())
	}
	if got := regexp.MustCompile("\x1b\\[[0-9]*m").ReplaceAllString(col.String(), ""); got != plain.String() {
		t.Errorf("colour changes the text:\n%s\nvs\n%s", got, plain.String())
	}
}

// TestRenderDamaged cuts and corrupts a trace: the rendering shows every
// record before the damage, then the offset and what was expected.
func TestRenderDamaged(t *testing.T) {
	full := renderCases()[0].trace // header, handshake, 2 frames, end
	rd, err := trace.NewReader(bytes.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64
	for {
		rec, err := rd.Next()
		if err != nil {
			break
		}
		starts = append(starts, rec.Pos)
	}
	if len(starts) != 4 {
		t.Fatalf("%d records, want 4", len(starts))
	}
	for cut := 0; cut < len(full); cut++ {
		var out bytes.Buffer
		_, err := Render(&out, bytes.NewReader(full[:cut]), RenderOptions{})
		isBoundary := cut == trace.HeaderSize
		for _, s := range starts {
			isBoundary = isBoundary || int64(cut) == s
		}
		if isBoundary {
			if err != nil || !strings.Contains(out.String(), "no end record") {
				t.Errorf("cut at record boundary %d: %v\n%s", cut, err, out.String())
			}
			continue
		}
		var fe *trace.FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("cut at %d: error %v, want a *FormatError", cut, err)
		}
		if fe.Offset > int64(cut) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v: offset past the end or not an unexpected EOF", cut, err)
		}
		if !strings.Contains(out.String(), "!! trace: at byte ") || !strings.Contains(out.String(), "expected ") {
			t.Errorf("cut at %d: no error line:\n%s", cut, out.String())
		}
		// Every frame whose record ended before the cut is shown.
		want := 0
		for idx := 1; idx <= 2; idx++ {
			if int64(cut) >= starts[idx+1] {
				want++
			}
		}
		if got := strings.Count(out.String(), "\n#"); got != want {
			t.Errorf("cut at %d: %d frames shown, want %d:\n%s", cut, got, want, out.String())
		}
	}

	// A corrupt kind byte in place of the third record.
	bad := bytes.Clone(full)
	bad[starts[2]] = 0x42
	var out bytes.Buffer
	_, err = Render(&out, bytes.NewReader(bad), RenderOptions{})
	var fe *trace.FormatError
	if !errors.As(err, &fe) || fe.Offset != starts[2] || !strings.Contains(fe.Expected, "record kind") {
		t.Fatalf("corrupt kind: %v, want a FormatError at %d", err, starts[2])
	}
	if !strings.Contains(out.String(), "#1 ") || strings.Contains(out.String(), "#2 ") {
		t.Errorf("corrupt kind: want frame 1 only:\n%s", out.String())
	}
	out.Reset()
	if _, err = Render(&out, bytes.NewReader(bad), RenderOptions{JSON: true}); err == nil || !strings.Contains(out.String(), `"type":"error","offset":`+strconv.FormatInt(starts[2], 10)) {
		t.Errorf("JSON error line missing:\n%s", out.String())
	}
}

// A 64-bit length with its most significant bit set cannot be decoded; it
// is tagged length-msb-set (a 1002 protocol error) in text and JSON.
func TestRenderLengthMSBSet(t *testing.T) {
	bad := []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 'x'}
	tr := newBuilder().handshake(1, 0, testRequest, testResponse).frame(1, trace.ServerToClient, ms, bad).end(2*ms, 1)
	var text bytes.Buffer
	st, err := Render(&text, bytes.NewReader(tr), RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "   !    "+TagLengthMSBSet+": ") || !strings.Contains(text.String(), "close 1002") || st.Violations != 1 {
		t.Errorf("no %s violation line (violations %d):\n%s", TagLengthMSBSet, st.Violations, text.String())
	}
	var js bytes.Buffer
	if _, err := Render(&js, bytes.NewReader(tr), RenderOptions{JSON: true}); err != nil {
		t.Fatal(err)
	}
	found := false
	for line := range strings.SplitSeq(strings.TrimSpace(js.String()), "\n") {
		var rec struct {
			Type       string      `json:"type"`
			Error      string      `json:"error"`
			Violations []Violation `json:"violations"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Type == "frame" && rec.Error != "" && len(rec.Violations) == 1 && rec.Violations[0].Tag == TagLengthMSBSet {
			found = true
		}
	}
	if !found {
		t.Errorf("no JSON frame with the %s violation:\n%s", TagLengthMSBSet, js.String())
	}
}
