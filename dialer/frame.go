package dialer

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

const (
	bitFin  = 0x80
	bitRsv1 = 0x40
	bitRsv2 = 0x20
	bitRsv3 = 0x10
	bitMask = 0x80

	maxControlPayload = 125
	maxHeaderSize     = 14
)

// headerSize returns the length of the frame header that starts with bytes
// b0 and b1 (2 to 14 bytes).
func headerSize(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&bitMask != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes a complete frame header; b holds at least
// headerSize(b[1]) bytes. ok is false for a 64-bit length with its most
// significant bit set, which RFC 6455 forbids.
func parseHeader(b []byte) (h ws.Header, ok bool) {
	h.Fin = b[0]&bitFin != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&bitMask != 0
	i := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		i = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return h, false
		}
		h.Length = int64(u)
		i = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], b[i:i+4])
	}
	return h, true
}

// putHeader encodes a masked client frame header into b (at least 14 bytes)
// and returns its length.
func putHeader(b []byte, fin bool, rsv byte, op ws.OpCode, n int, mask uint32) int {
	b0 := rsv | byte(op)
	if fin {
		b0 |= bitFin
	}
	b[0] = b0
	i := 2
	switch {
	case n <= 125:
		b[1] = bitMask | byte(n)
	case n <= 0xffff:
		b[1] = bitMask | 126
		binary.BigEndian.PutUint16(b[2:4], uint16(n))
		i = 4
	default:
		b[1] = bitMask | 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
		i = 10
	}
	binary.LittleEndian.PutUint32(b[i:i+4], mask)
	return i + 4
}

// closeBody writes a close frame body into b (at least 125 bytes): the code
// and as much of reason as fits, cut at a UTF-8 boundary. Code 0 or 1005
// gives an empty body.
func closeBody(b []byte, code uint16, reason string) int {
	if code == 0 || code == 1005 {
		return 0
	}
	binary.BigEndian.PutUint16(b, code)
	r := reason
	if len(r) > maxControlPayload-2 {
		r = r[:maxControlPayload-2]
		for len(r) > 0 && !utf8.ValidString(r) {
			r = r[:len(r)-1]
		}
	}
	return 2 + copy(b[2:], r)
}
