package dialer

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzParseHeader checks parseHeader against gobwas/ws's own ws.ReadHeader
// and putHeader against ws.WriteHeader.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x05})
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0x02, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0xc1, 0x85, 9, 8, 7, 6})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 || len(b) < headerSize(b[1]) {
			return
		}
		got, ok := parseHeader(b)
		want, err := ws.ReadHeader(bytes.NewReader(b))
		if !ok {
			if binary.BigEndian.Uint64(b[2:10])>>63 == 0 {
				t.Fatalf("rejected % x", b[:10])
			}
			return
		}
		if err != nil {
			t.Fatalf("ws.ReadHeader rejects what parseHeader accepts: %v", err)
		}
		if got != want {
			t.Fatalf("parseHeader % x = %+v, ws.ReadHeader = %+v", b, got, want)
		}

		// Round trip through putHeader for client frames.
		var out [maxHeaderSize]byte
		mask := binary.LittleEndian.Uint32(got.Mask[:])
		n := putHeader(out[:], got.Fin, got.Rsv<<4, got.OpCode, int(min(got.Length, 1<<40)), mask)
		var ref bytes.Buffer
		h := got
		h.Masked = true
		h.Length = min(got.Length, 1<<40)
		if err := ws.WriteHeader(&ref, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[:n], ref.Bytes()) {
			t.Fatalf("putHeader % x, ws.WriteHeader % x", out[:n], ref.Bytes())
		}
	})
}

func TestCloseBody(t *testing.T) {
	var b [maxControlPayload]byte
	if n := closeBody(b[:], 1005, "x"); n != 0 {
		t.Fatalf("1005 gave %d bytes", n)
	}
	long := string(bytes.Repeat([]byte("é"), 100)) // 200 bytes
	n := closeBody(b[:], 1000, long)
	if n > maxControlPayload || binary.BigEndian.Uint16(b[:2]) != 1000 {
		t.Fatalf("body of %d bytes, code %d", n, binary.BigEndian.Uint16(b[:2]))
	}
	if r := b[2:n]; !bytes.Equal(r, []byte(long[:len(r)])) || len(r)%2 != 0 {
		t.Fatalf("reason cut inside a rune: %d bytes", len(r))
	}
}
