package wsproto

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// stdJSON is how encoding/json writes a string holding the bytes of s,
// HTML escaping off.
func stdJSON(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func checkJSON(t *testing.T, s string) {
	t.Helper()
	want := stdJSON(t, s)
	if got := AppendJSONString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("AppendJSONString(%q) = %s, encoding/json %s", s, got, want)
	}
	if got := AppendJSONString([]byte("x"), []byte(s)); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("AppendJSONString([]byte(%q)) = %s, encoding/json %s", s, got, want)
	}
	if got := AppendJSONEscaped(nil, s); !bytes.Equal(got, want[1:len(want)-1]) {
		t.Fatalf("AppendJSONEscaped(%q) = %s, encoding/json %s", s, got, want)
	}
}

// TestJSONStringRunes compares with encoding/json every rune below 0x800
// (all the escapes live there, besides U+2028 and U+2029), then a sample of
// every 97th rune up to U+10FFFF together with both ends of each plane and
// the surrogate range (invalid in UTF-8), each alone and between text.
func TestJSONStringRunes(t *testing.T) {
	runes := []rune{0x2027, 0x2028, 0x2029, 0x202a, 0xd7ff, 0xd800, 0xdfff, 0xe000, 0xfffd, 0xfffe, 0xffff, utf8.MaxRune}
	for r := rune(0); r < 0x800; r++ {
		runes = append(runes, r)
	}
	for r := rune(0x800); r <= utf8.MaxRune; r += 97 {
		runes = append(runes, r)
	}
	for p := rune(1); p <= 0x10; p++ {
		runes = append(runes, p<<16-1, p<<16)
	}
	for _, r := range runes {
		var enc [utf8.UTFMax]byte
		n := utf8.EncodeRune(enc[:], r) // surrogates encode as U+FFFD
		if r >= 0xd800 && r <= 0xdfff {
			// The three bytes a surrogate would take: invalid UTF-8.
			n = copy(enc[:], []byte{0xed, byte(0xa0 | (r>>6)&0x1f), byte(0x80 | r&0x3f)})
		}
		s := string(enc[:n])
		checkJSON(t, s)
		checkJSON(t, "a"+s+"b\"\\"+s)
	}
}

// TestJSONStringInvalid compares with encoding/json on invalid UTF-8:
// stray continuation bytes, cut sequences, overlong forms, bytes that never
// appear, and runes above U+10FFFF.
func TestJSONStringInvalid(t *testing.T) {
	for _, s := range []string{
		"\x80", "\xbf", "a\x80b", "\xc3", "caf\xc3", "\xc3(", "\xe2\x82", "\xe2\x82z", "\xf0\x9f\x98",
		"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xc1\xbf", "\xfe", "\xff", "\xff\xfe\xfd",
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xed\xa0\x80\xed\xb0\x80",
		"ok\xe2\x80\xa8\xe2\x80", "\x00\x1f\x7f\xc2\x80\xc2\x9f", "",
	} {
		checkJSON(t, s)
	}
	// Every 1- and 2-byte string, valid or not.
	for a := 0; a < 256; a++ {
		checkJSON(t, string([]byte{byte(a)}))
		for b := 0; b < 256; b++ {
			checkJSON(t, string([]byte{byte(a), byte(b)}))
		}
	}
}

func TestJSONStringAllocs(t *testing.T) {
	dst := make([]byte, 0, 256)
	s := []byte("héllo \"wörld\"\n\x01\xff\u2028 <&>")
	n := testing.AllocsPerRun(100, func() {
		dst = AppendJSONString(dst[:0], s)
		dst = AppendJSONString(dst, string(s[:5]))
	})
	if n != 0 {
		t.Fatalf("%v allocs per call", n)
	}
}
