package inspect

// frame.go decodes one WebSocket frame (RFC 6455 section 5.2) from raw
// bytes for rendering: every header field as sent, including the ones a
// conforming parser would refuse.

import (
	"encoding/binary"
	"fmt"
)

// LengthForm is how a frame encodes its payload length.
type LengthForm uint8

// Length forms.
const (
	Len7  LengthForm = iota // in the 7 bits of the second byte
	Len16                   // 126, then 16 bits
	Len64                   // 127, then 64 bits
)

func (l LengthForm) String() string {
	switch l {
	case Len16:
		return "16bit"
	case Len64:
		return "64bit"
	}
	return "7bit"
}

// Opcodes of RFC 6455.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// OpcodeName names an opcode: cont, text, binary, close, ping, pong, or
// reserved for the others.
func OpcodeName(op uint8) string {
	switch op {
	case OpContinuation:
		return "cont"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}

// IsControl reports whether op is a control opcode (0x8-0xF).
func IsControl(op uint8) bool { return op&0x8 != 0 }

// Frame is a decoded frame. Its slices point into the bytes it was decoded
// from, except Payload of a masked frame, which is an unmasked copy.
type Frame struct {
	Fin     bool
	Rsv     uint8 // RSV1 RSV2 RSV3 as the bits 4 2 1
	Opcode  uint8
	Masked  bool
	Key     [4]byte
	Length  uint64 // payload length as declared
	LenForm LengthForm
	Header  []byte // the header bytes, masking key included
	Wire    []byte // the payload as on the wire (masked if Masked)
	Payload []byte // the payload unmasked
}

// Size is the frame's length on the wire.
func (f *Frame) Size() int { return len(f.Header) + len(f.Wire) }

// FrameError says why bytes are not a complete frame.
type FrameError struct {
	Offset   int    // byte offset in the input where decoding stopped
	Expected string // what was missing or wrong
	Have     int    // bytes available from Offset
	// Tag is the violation when the bytes break RFC 6455 rather than end
	// too soon (TagLengthMSBSet), "" otherwise.
	Tag string
}

func (e *FrameError) Error() string {
	if e.Tag != "" {
		return fmt.Sprintf("frame: at byte %d: %s: expected %s, have %d byte(s)", e.Offset, e.Tag, e.Expected, e.Have)
	}
	return fmt.Sprintf("frame: at byte %d: expected %s, have %d byte(s)", e.Offset, e.Expected, e.Have)
}

// Violation is the rule the bytes break, if any (ok false when they only
// end too soon).
func (e *FrameError) Violation() (Violation, bool) {
	if e.Tag == "" {
		return Violation{}, false
	}
	return Violation{Tag: e.Tag, Detail: "expected " + e.Expected + "; a receiver fails the connection with close 1002"}, true
}

// errLengthMSB is the FrameError of a 64-bit length with its top bit set;
// b is the input, from the frame's start.
func errLengthMSB(b []byte) *FrameError {
	return &FrameError{Offset: 2, Expected: "a 64-bit payload length with the most significant bit 0", Have: len(b) - 2, Tag: TagLengthMSBSet}
}

// ParseFrame decodes the frame at the start of b and returns it with its
// length on the wire. A frame cut short gives a *FrameError naming what
// was missing. The header's fields are reported as sent, however invalid:
// judging them is the Decoder's job.
func ParseFrame(b []byte) (Frame, int, error) { return parseFrame(b, nil) }

// parseFrame is ParseFrame; with buf, a masked frame's payload is unmasked
// into *buf (grown as needed) instead of a new slice.
func parseFrame(b []byte, buf *[]byte) (Frame, int, error) {
	var f Frame
	if len(b) < 2 {
		return f, 0, &FrameError{Offset: 0, Expected: "a 2-byte frame header", Have: len(b)}
	}
	f.Fin = b[0]&0x80 != 0
	f.Rsv = (b[0] >> 4) & 0x7
	f.Opcode = b[0] & 0x0f
	f.Masked = b[1]&0x80 != 0
	hl := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		f.LenForm = Len16
		if len(b) < 4 {
			return f, 0, &FrameError{Offset: 2, Expected: "a 16-bit payload length", Have: len(b) - 2}
		}
		f.Length = uint64(binary.BigEndian.Uint16(b[2:]))
		hl = 4
	case 127:
		f.LenForm = Len64
		if len(b) < 10 {
			return f, 0, &FrameError{Offset: 2, Expected: "a 64-bit payload length", Have: len(b) - 2}
		}
		f.Length = binary.BigEndian.Uint64(b[2:])
		if f.Length>>63 != 0 {
			return f, 0, errLengthMSB(b)
		}
		hl = 10
	default:
		f.Length = uint64(l)
	}
	if f.Masked {
		if len(b) < hl+4 {
			return f, 0, &FrameError{Offset: hl, Expected: "a 4-byte masking key", Have: len(b) - hl}
		}
		copy(f.Key[:], b[hl:hl+4])
		hl += 4
	}
	f.Header = b[:hl]
	if f.Length > uint64(len(b)-hl) {
		return f, 0, &FrameError{Offset: hl, Expected: fmt.Sprintf("a %d-byte payload", f.Length), Have: len(b) - hl}
	}
	n := hl + int(f.Length)
	f.Wire = b[hl:n]
	f.Payload = f.Wire
	if f.Masked {
		if buf != nil {
			*buf = append((*buf)[:0], f.Wire...)
			f.Payload = *buf
		} else {
			f.Payload = make([]byte, len(f.Wire))
		}
		for i, c := range f.Wire {
			f.Payload[i] = c ^ f.Key[i&3]
		}
	}
	return f, n, nil
}
