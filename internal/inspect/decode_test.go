package inspect

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsbench/wsbench/internal/trace"
)

func TestParseFrameErrors(t *testing.T) {
	cases := []struct {
		in       []byte
		offset   int
		expected string
	}{
		{nil, 0, "2-byte frame header"},
		{[]byte{0x81}, 0, "2-byte frame header"},
		{[]byte{0x81, 126, 0}, 2, "16-bit payload length"},
		{[]byte{0x81, 127, 0, 0, 0}, 2, "64-bit payload length"},
		{[]byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, 2, "most significant bit 0"},
		{[]byte{0x81, 0x85, 1, 2}, 2, "masking key"},
		{[]byte{0x81, 0x05, 'a'}, 2, "5-byte payload"},
		{[]byte{0x81, 0xfe, 0xff, 0xff, 1, 2, 3, 4}, 8, "65535-byte payload"},
	}
	for _, c := range cases {
		_, _, err := ParseFrame(c.in)
		var fe *FrameError
		if !errors.As(err, &fe) || fe.Offset != c.offset || !strings.Contains(fe.Expected, c.expected) {
			t.Errorf("ParseFrame(% x): %v; want offset %d, %q", c.in, err, c.offset, c.expected)
		}
	}
}

func TestParseFrameStream(t *testing.T) {
	var stream []byte
	payloads := []string{"", "a", strings.Repeat("b", 126), strings.Repeat("c", 70000)}
	for i, p := range payloads {
		var key []byte
		if i%2 == 1 {
			key = testKey
		}
		stream = append(stream, mkFrame(true, 0, OpBinary, key, []byte(p), -1)...)
	}
	for i, p := range payloads {
		f, n, err := ParseFrame(stream)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if string(f.Payload) != p || f.Size() != n || f.Masked != (i%2 == 1) {
			t.Errorf("frame %d: %d-byte payload, size %d/%d, masked %v", i, len(f.Payload), f.Size(), n, f.Masked)
		}
		stream = stream[n:]
	}
	if len(stream) != 0 {
		t.Errorf("%d bytes left", len(stream))
	}
}

// TestDecoderUTF8Fragments: text validity is judged across fragment
// boundaries, with offsets into the whole message.
func TestDecoderUTF8Fragments(t *testing.T) {
	cases := []struct {
		frags  []string
		valid  bool
		offset string // in the violation detail
	}{
		{[]string{"hé", "llo"}, true, ""},
		{[]string{"h\xc3", "\xa9llo"}, true, ""},
		{[]string{"\xf0\x9f", "\x98", "\x80!"}, true, ""},
		{[]string{"ab", "\xf0\x9f"}, false, "byte 2 "},
		{[]string{"abc", "d\xc3", "("}, false, "byte 4 "},
		{[]string{"\xed\xa0\x80"}, false, "byte 0 "}, // a surrogate
		{[]string{"ok", "ok", "\xff"}, false, "byte 4 "},
	}
	for _, c := range cases {
		d := NewDecoder()
		var last Analysis
		bad := ""
		for i, s := range c.frags {
			op := uint8(OpContinuation)
			if i == 0 {
				op = OpText
			}
			raw := mkFrame(i == len(c.frags)-1, 0, op, nil, []byte(s), -1)
			f, _, err := ParseFrame(raw)
			if err != nil {
				t.Fatal(err)
			}
			last = d.Frame(1, trace.ServerToClient, &f)
			for _, v := range last.Violations {
				if v.Tag == TagInvalidUTF8 {
					bad = v.Detail
				}
			}
		}
		if last.UTF8Valid != c.valid || (c.offset != "" && !strings.Contains(bad, c.offset)) || (c.valid && bad != "") {
			t.Errorf("%q: valid %v, violation %q; want valid %v at %q", c.frags, last.UTF8Valid, bad, c.valid, c.offset)
		}
	}
}
