package socketio

import (
	"bytes"
	"testing"
)

// FuzzDecode checks that any frame decodes without panicking, that what
// decodes re-encodes to a frame that decodes to the same packet, and that
// the scanners stay inside their input.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`0`, `0/admin,{"token":"x"}`, `2["a",{"b":[1,2]}]`, `2/n,5["x"]`, `31[]`,
		`51-["bin",{"_placeholder":true,"num":0}]`, `4{"message":"no"}`, `1/ns,`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		pk, err := Decode(p)
		if err != nil {
			return
		}
		enc := Append(nil, pk)
		again, err := Decode(enc[1:])
		if err != nil {
			t.Fatalf("re-encoded %q as %q, which does not decode: %v", p, enc, err)
		}
		if again.Type != pk.Type || again.ID != pk.ID || again.Attachments != pk.Attachments ||
			!bytes.Equal(again.Data, pk.Data) || IsMain(again.Namespace) != IsMain(pk.Namespace) {
			t.Fatalf("round trip of %q: %+v then %+v", p, pk, again)
		}
		if name, esc, ok := EventName(pk.Data); ok {
			_ = NameEqual(name, esc, "x")
		}
		for n := 0; n < 4; n++ {
			_, _ = Arg(pk.Data, n)
		}
		_ = ParseConnectError(pk.Data)
	})
}

// FuzzNextPacket splits any polling payload without panicking, and what it
// returns joins back to the input.
func FuzzNextPacket(f *testing.F) {
	for _, s := range []string{"4hello", "2\x1e3\x1e40", "\x1e", "b4AAA", "", "9x", "4a\x1e"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var joined []byte
		rest := in
		for {
			pkt, r, ok, err := NextPacket(rest)
			if !ok || err != nil {
				if err == nil && len(rest) > 0 {
					t.Fatalf("%q: stopped at %q without an error", in, rest)
				}
				if err == nil && !bytes.Equal(joined, in) {
					t.Fatalf("%q: packets join to %q", in, joined)
				}
				return
			}
			joined = AppendPayloadPacket(joined, pkt)
			rest = r
		}
	})
}
