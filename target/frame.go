package target

import (
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// The read loop in conn.go knows wsproto's header decoding under these
// names (conn.go is left alone while the TLS path changes).
const maxHeaderSize = wsproto.MaxHeaderSize

func parseHeader(b []byte) (ws.Header, int, bool) { return wsproto.ParseHeader(b) }

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
	if wsproto.LengthMSBSet(h) {
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
		switch wsproto.ControlFault(h) {
		case wsproto.FaultFragmentedControl:
			return errFragmentedCtl
		case wsproto.FaultLongControl:
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
	code, _, f := wsproto.ParseCloseBody(p)
	switch f {
	case wsproto.FaultCloseLen1:
		return 0, errCloseLen1
	case wsproto.FaultCloseCode:
		return 0, errCloseCode
	case wsproto.FaultCloseUTF8:
		return 0, errCloseUTF8
	}
	return ws.StatusCode(code), nil
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
	f.b = wsproto.AppendHeader(f.b, wsproto.FirstByte(true, 0, op), false, len(payload))
	f.b = append(f.b, payload...)
	return f
}

// encodeClose builds a close frame with code and reason (reason is cut to
// fit the 125-byte control payload).
func (fp *framePool) encodeClose(code ws.StatusCode, reason string) *frame {
	if code == ws.StatusNoStatusRcvd || code == 0 {
		return fp.encode(ws.OpClose, nil)
	}
	reason = wsproto.TrimCloseReason(reason)
	f := fp.get(4 + 2 + len(reason))
	f.b = wsproto.AppendHeader(f.b, wsproto.FirstByte(true, 0, ws.OpClose), false, 2+len(reason))
	f.b = wsproto.AppendCloseBody(f.b, uint16(code), reason)
	return f
}
