package wsproto

import (
	"testing"
	"unicode/utf8"
)

// FuzzUTF8Check cuts a message into fragments at the positions cuts gives
// and checks that UTF8Check finds the same first invalid byte as
// InvalidUTF8At on the whole message, which must agree with utf8.Valid.
func FuzzUTF8Check(f *testing.F) {
	f.Add([]byte("héllo wörld €𝄞"), []byte{1, 2, 3})
	f.Add([]byte("caf\xc3"), []byte{3})
	f.Add([]byte("a\xe2\x82\xacb\xed\xa0\x80"), []byte{2, 1, 1})
	f.Add([]byte("\xf0\x9f\x98\x80\xf0\x9f"), []byte{1, 1, 1, 1, 1})
	f.Add([]byte("\xe2\x28\xa1"), []byte{1})
	f.Fuzz(func(t *testing.T, msg, cuts []byte) {
		want := InvalidUTF8At(msg)
		if (want < 0) != utf8.Valid(msg) {
			t.Fatalf("InvalidUTF8At(% x) = %d, utf8.Valid %v", msg, want, utf8.Valid(msg))
		}
		var c UTF8Check
		got, rest := -1, msg
		for i := 0; ; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(n, int(cuts[i]%8))
			}
			last := n == len(rest)
			if off := c.Next(rest[:n], last); off >= 0 {
				if got >= 0 {
					t.Fatalf("% x: a second fault at %d after %d", msg, off, got)
				}
				got = off
			}
			rest = rest[n:]
			if last {
				break
			}
		}
		if got != want || c.Failed() != (want >= 0) {
			t.Fatalf("% x cut by %v: UTF8Check says %d (failed %v), InvalidUTF8At %d", msg, cuts, got, c.Failed(), want)
		}
	})
}

func TestUTF8CheckSplitRune(t *testing.T) {
	var c UTF8Check
	for i, frag := range [][]byte{[]byte("ab\xf0"), []byte("\x9f"), nil, []byte("\x98"), []byte("\x80c\xe2\x82")} {
		if off := c.Next(frag, false); off >= 0 {
			t.Fatalf("fragment %d: fault at %d in valid text", i, off)
		}
	}
	if off := c.Next(nil, true); off != 7 {
		t.Fatalf("a message ending in half a rune: fault at %d, want 7", off)
	}
	c.Reset()
	if off := c.Next([]byte("ok\xff"), true); off != 2 || !c.Failed() {
		t.Fatalf("after Reset: fault at %d, want 2", off)
	}
	if n := testing.AllocsPerRun(100, func() {
		c.Reset()
		c.Next([]byte("ab\xf0\x9f"), false)
		c.Next([]byte("\x98\x80"), true)
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
