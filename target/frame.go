package target

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// maxHeaderSize is the longest frame header: 2 bytes, 8 bytes of extended
// length and a 4-byte masking key (RFC 6455 §5.2).
const maxHeaderSize = 14

// parseHeader decodes a frame header from the front of b without consuming
// anything. It returns the header, its encoded size, and ok=false when b does
// not yet hold the whole header. It never allocates.
func parseHeader(b []byte) (h ws.Header, n int, ok bool) {
	if len(b) < 2 {
		return h, 0, false
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
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
		// The most significant bit must be 0 (RFC 6455 §5.2): a length
		// with it set comes out negative here and checkHeader refuses it
		// as a protocol error.
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

// appendHeader encodes an unmasked server frame header (FIN set) for a
// payload of length n onto dst. It never allocates when dst has room.
func appendHeader(dst []byte, op ws.OpCode, n int) []byte {
	b0 := byte(0x80) | byte(op)
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		return append(dst, b0, 127,
			byte(uint64(n)>>56), byte(uint64(n)>>48), byte(uint64(n)>>40), byte(uint64(n)>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// frameError is a protocol violation found while decoding client frames; it
// becomes the close code sent to the peer.
type frameError struct {
	code   ws.StatusCode
	reason string
}

var (
	errUnmasked        = &frameError{ws.StatusProtocolError, "client frame not masked"}
	errRSV             = &frameError{ws.StatusProtocolError, "RSV bits set without extension"}
	errReservedOp      = &frameError{ws.StatusProtocolError, "reserved opcode"}
	errFragmentedCtl   = &frameError{ws.StatusProtocolError, "fragmented control frame"}
	errLongCtl         = &frameError{ws.StatusProtocolError, "control frame payload over 125 bytes"}
	errBadContinuation = &frameError{ws.StatusProtocolError, "continuation frame without a message"}
	errExpectedCont    = &frameError{ws.StatusProtocolError, "new data frame inside a fragmented message"}
	errLengthMSB       = &frameError{ws.StatusProtocolError, "64-bit payload length with the most significant bit set"}
	errTooBig          = &frameError{ws.StatusMessageTooBig, "message too big"}
	errInvalidUTF8     = &frameError{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in text message"}
	errCloseLen1       = &frameError{ws.StatusProtocolError, "close payload of 1 byte"}
	errCloseCode       = &frameError{ws.StatusProtocolError, "invalid close code"}
	errCloseUTF8       = &frameError{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in close reason"}
	errBinaryChat      = &frameError{ws.StatusUnsupportedData, "binary messages are not part of the chat protocol"}
)

// checkHeader validates a client frame header before its payload is read,
// so an oversized or malformed frame is refused without buffering it.
// fragmented says whether a fragmented data message is in progress and
// soFar how many payload bytes it holds.
func checkHeader(h ws.Header, fragmented bool, soFar, maxMessage int64) *frameError {
	if h.Length < 0 {
		return errLengthMSB
	}
	if !h.Masked {
		return errUnmasked
	}
	if h.Rsv != 0 {
		return errRSV
	}
	if h.OpCode.IsReserved() {
		return errReservedOp
	}
	if h.OpCode.IsControl() {
		if !h.Fin {
			return errFragmentedCtl
		}
		if h.Length > 125 {
			return errLongCtl
		}
		return nil
	}
	if h.OpCode == ws.OpContinuation {
		if !fragmented {
			return errBadContinuation
		}
	} else if fragmented {
		return errExpectedCont
	}
	if h.Length > maxMessage-soFar {
		return errTooBig
	}
	return nil
}

// checkClosePayload validates the payload of a client close frame (RFC 6455
// §5.5.1, §7.4): empty, or a valid code followed by UTF-8 text.
func checkClosePayload(p []byte) (ws.StatusCode, *frameError) {
	switch len(p) {
	case 0:
		return ws.StatusNoStatusRcvd, nil
	case 1:
		return 0, errCloseLen1
	}
	code := ws.StatusCode(binary.BigEndian.Uint16(p))
	if !wsproto.ValidCloseCode(uint16(code)) {
		return 0, errCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return 0, errCloseUTF8
	}
	return code, nil
}

// frame is one encoded server frame (header + payload) whose bytes may be
// queued to many connections at once. It is reference counted and returned
// to a pool when the last queue lets go of it, so a broadcast costs one
// encode and no per-recipient copy.
type frame struct {
	b    []byte
	refs atomic.Int32
	pool *framePool
	born int64 // server clock (ns) when a hub delivery was encoded; 0 for the connection's own frames
}

func (f *frame) retain() { f.refs.Add(1) }

func (f *frame) release() {
	if f.refs.Add(-1) == 0 {
		f.pool.put(f)
	}
}

// framePool recycles frames. Frames larger than maxPooled are left to the
// garbage collector so a rare large message does not pin memory.
type framePool struct{ p sync.Pool }

const maxPooledFrame = 64 << 10

func (fp *framePool) get(size int) *frame {
	var f *frame
	if v := fp.p.Get(); v != nil {
		f = v.(*frame)
	} else {
		f = &frame{pool: fp}
	}
	if cap(f.b) < size {
		f.b = make([]byte, 0, size)
	}
	f.b = f.b[:0]
	f.refs.Store(1)
	f.born = 0
	return f
}

func (fp *framePool) put(f *frame) {
	if cap(f.b) > maxPooledFrame {
		f.b = nil
	}
	fp.p.Put(f)
}

// encode builds a frame holding op and payload with one reference held by
// the caller. 0 allocs/op in steady state (pooled).
func (fp *framePool) encode(op ws.OpCode, payload []byte) *frame {
	f := fp.get(len(payload) + 10)
	f.b = appendHeader(f.b, op, len(payload))
	f.b = append(f.b, payload...)
	return f
}

// encodeClose builds a close frame with code and reason (reason is cut to
// fit the 125-byte control payload).
func (fp *framePool) encodeClose(code ws.StatusCode, reason string) *frame {
	if code == ws.StatusNoStatusRcvd || code == 0 {
		return fp.encode(ws.OpClose, nil)
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	f := fp.get(4 + 2 + len(reason))
	f.b = appendHeader(f.b, ws.OpClose, 2+len(reason))
	f.b = append(f.b, byte(code>>8), byte(code))
	f.b = append(f.b, reason...)
	return f
}
