package jsonscan

import (
	"encoding/json"
	"testing"
)

func TestSkipValue(t *testing.T) {
	for _, c := range []struct {
		in   string
		end  int // -1: not ok
		desc string
	}{
		{`"a\"b" tail`, 6, "string with an escaped quote"},
		{`"\u00e9x",`, 9, "unicode escape"},
		{`"\u00zz"`, -1, "bad unicode escape"},
		{`"open`, -1, "unterminated string"},
		{`{"a":[1,"]}"],"b":{}} x`, 21, "nested, with brackets inside a string"},
		{`[1,2`, -1, "unterminated array"},
		{`-12.5e3,`, 7, "number"},
		{`true]`, 4, "literal"},
		{`,`, -1, "no value"},
		{``, -1, "empty"},
	} {
		end, ok := SkipValue([]byte(c.in), 0)
		if (c.end < 0) == ok || (ok && end != c.end) {
			t.Errorf("%s: SkipValue(%q) = %d, %v; want %d", c.desc, c.in, end, ok, c.end)
		}
	}
	if i := SkipWS([]byte(" \t\r\n x"), 0); i != 5 {
		t.Errorf("SkipWS = %d, want 5", i)
	}
	if _, esc, ok := SkipString([]byte(`"plain"`), 0); !ok || esc {
		t.Errorf("plain string: esc %v ok %v", esc, ok)
	}
}

// FuzzSkipValue: on any input SkipValue stays in bounds, and on valid JSON
// it skips the whole document.
func FuzzSkipValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"\u00e9"}]}`, `"x\"y"`, `[[[]]]`, `12`, `{"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := SkipValue(b, 0)
		if ok && (end <= 0 || end > len(b)) {
			t.Fatalf("SkipValue(%q) = %d out of bounds", b, end)
		}
		if json.Valid(b) && len(b) > 0 && b[0] != ' ' && b[0] != '\t' && b[0] != '\n' && b[0] != '\r' {
			if !ok {
				t.Fatalf("SkipValue(%q) failed on valid JSON", b)
			}
			if rest := SkipWS(b, end); rest != len(b) {
				t.Fatalf("SkipValue(%q) stopped at %d of %d", b, end, len(b))
			}
		}
	})
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`plain`, "plain"},
		{`a\"b\\c\/d\n\t`, "a\"b\\c/d\n\t"},
		{`caf\u00e9`, "café"},
		{`\ud83d\ude00!`, "😀!"}, // a surrogate pair
		{`\ud83dx`, "\uFFFDx"},  // a lone high surrogate
	} {
		if got := string(AppendUnescaped(nil, []byte(c.body))); got != c.want {
			t.Errorf("AppendUnescaped(%q) = %q, want %q", c.body, got, c.want)
		}
		if !EqualString([]byte(c.body), true, c.want) {
			t.Errorf("EqualString(%q, %q) = false", c.body, c.want)
		}
		if EqualString([]byte(c.body), true, c.want+"x") {
			t.Errorf("EqualString(%q, %q+x) = true", c.body, c.want)
		}
	}
}
