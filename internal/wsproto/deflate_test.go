package wsproto

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// TestDeflateRoundTrip: a message compressed and sync-flushed, its tail
// trimmed as a sender does, inflates back through a TailReader to exactly
// the message, with io.EOF at its end; one TailReader serves several
// messages after Reset.
func TestDeflateRoundTrip(t *testing.T) {
	var r TailReader
	for _, msg := range [][]byte{nil, []byte("a"), bytes.Repeat([]byte("hello, deflate "), 500)} {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
		w.Write(msg)
		w.Flush()
		wire, ok := TrimSyncTail(buf.Bytes())
		if !ok {
			t.Fatalf("flushed output %x lacks the sync tail", buf.Bytes())
		}
		r.Reset(wire)
		got, err := io.ReadAll(flate.NewReader(&r))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("inflated %d bytes (%v), want %d", len(got), err, len(msg))
		}
	}
	if _, ok := TrimSyncTail([]byte{1, 2, 0xff, 0xff}); ok {
		t.Error("TrimSyncTail accepted 01 02 ff ff")
	}
}
