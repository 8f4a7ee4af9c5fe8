package wsproto

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// Frame layout limits (RFC 6455 section 5.2 and 5.5).
const (
	// MaxHeaderSize is the longest frame header: 2 bytes, 8 bytes of
	// extended length and a 4-byte masking key.
	MaxHeaderSize = 14
	// MaxControlPayload is the most a control frame (close, ping, pong)
	// may carry.
	MaxControlPayload = 125
	// MaxCloseReason is the most a close reason may take: the control
	// payload less the 2-byte code.
	MaxCloseReason = MaxControlPayload - 2
)

const (
	bitFin  = 0x80
	bitMask = 0x80
)

// Rsv1 is the RSV1 bit of a header's first byte (see FirstByte): with
// permessage-deflate (RFC 7692) it marks a compressed message.
const Rsv1 = 0x40

// HeaderSize returns the length (2 to 14 bytes) of the frame header whose
// second byte is b1. It is small enough to be inlined.
func HeaderSize(b1 byte) int {
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

// ParseHeader decodes the frame header at the front of b without consuming
// anything. It returns the header and its encoded size, or ok=false when b
// does not yet hold the whole header (see HeaderSize).
//
// A 64-bit length with its most significant bit set, which RFC 6455 forbids,
// comes out negative: LengthMSBSet reports it, and the receiver fails the
// connection with CloseProtocolError (1002), not the 1009 of a message too
// big. ParseHeader never allocates.
func ParseHeader(b []byte) (h ws.Header, n int, ok bool) {
	if len(b) < 2 {
		return h, 0, false
	}
	h.Fin = b[0]&bitFin != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&bitMask != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, false
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, false
		}
		h.Length = int64(binary.BigEndian.Uint64(b[2:10]))
		n = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, false
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, true
}

// LengthMSBSet reports whether h, as ParseHeader decoded it, had a 64-bit
// payload length with its most significant bit set (RFC 6455 section 5.2).
// Such a frame cannot be read on: its length is not a length. Fail the
// connection with CloseProtocolError.
func LengthMSBSet(h ws.Header) bool { return h.Length < 0 }

// NonMinimalLength reports whether the header whose second byte is b1
// spends more bytes on its payload length than length needs (RFC 6455
// section 5.2: "the minimal number of bytes MUST be used"): a 16-bit length
// under 126, or a 64-bit one under 65536. Receivers in the wild accept such
// frames; inspect points them out.
func NonMinimalLength(b1 byte, length uint64) bool {
	switch b1 & 0x7f {
	case 126:
		return length < 126
	case 127:
		return length < 1<<16
	}
	return false
}

// FirstByte is a frame header's first byte: FIN, the RSV bits (rsv holds
// them in place: 0x40 is RSV1) and the opcode.
func FirstByte(fin bool, rsv byte, op ws.OpCode) byte {
	b0 := rsv&0x70 | byte(op)&0x0f
	if fin {
		b0 |= bitFin
	}
	return b0
}

// AppendHeader appends a frame header with first byte b0 (see FirstByte)
// for a payload of n bytes, in the shortest length form. With masked, the
// mask bit is set and the caller appends the 4-byte masking key next.
// It never allocates when dst has room for MaxHeaderSize bytes, and is
// small enough to be inlined.
func AppendHeader(dst []byte, b0 byte, masked bool, n int) []byte {
	b1 := byte(0)
	if masked {
		b1 = bitMask
	}
	switch {
	case n <= 125:
		return append(dst, b0, b1|byte(n))
	case n <= 0xffff:
		return append(dst, b0, b1|126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, b0, b1|127), uint64(n))
}

// Fault is an RFC 6455 rule a single frame breaks, whoever sent it. A
// receiver fails the connection with Fault.CloseCode.
type Fault uint8

// The faults. Masking and RSV bits depend on the role and the negotiated
// extensions, and reserved opcodes are ws.OpCode.IsReserved; those are
// the caller's.
const (
	FaultNone              Fault = iota
	FaultLengthMSB               // 5.2: 64-bit length with its most significant bit set
	FaultFragmentedControl       // 5.5: a control frame with FIN clear
	FaultLongControl             // 5.5: a control payload over 125 bytes
	FaultCloseLen1               // 5.5.1: a close body of 1 byte (a code takes 2)
	FaultCloseCode               // 7.4: a close code no one may send (see ValidCloseCode)
	FaultCloseUTF8               // 8.1: a close reason that is not UTF-8
)

// CloseCode is the close code a receiver fails the connection with:
// CloseInvalidPayload (1007) for bad UTF-8, CloseProtocolError (1002)
// for the rest, 0 for FaultNone.
func (f Fault) CloseCode() uint16 {
	switch f {
	case FaultNone:
		return 0
	case FaultCloseUTF8:
		return CloseInvalidPayload
	}
	return CloseProtocolError
}

// ControlFault checks the control-frame rules of RFC 6455 section 5.5 on
// h: FIN set and at most 125 bytes of payload. Data frames and good control
// frames give FaultNone.
func ControlFault(h ws.Header) Fault {
	switch {
	case !h.OpCode.IsControl():
		return FaultNone
	case !h.Fin:
		return FaultFragmentedControl
	case h.Length > MaxControlPayload:
		return FaultLongControl
	}
	return FaultNone
}
