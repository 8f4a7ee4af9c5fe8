package inspect

// decode.go judges frames in their stream: message and fragment numbering,
// UTF-8 of text across fragments, close codes, and the RFC 6455 rules a
// frame breaks, as violation tags.

import (
	"encoding/binary"
	"fmt"

	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// Violation tags: the RFC 6455 rules a frame can break.
const (
	TagUnmaskedClient    = "unmasked-client-frame" // 5.1: a client must mask
	TagMaskedServer      = "masked-server-frame"   // 5.1: a server must not mask
	TagRSVWithoutExt     = "rsv-without-extension" // 5.2: RSV bits need a negotiated extension
	TagReservedOpcode    = "reserved-opcode"       // 5.2: 0x3-0x7 and 0xB-0xF
	TagFragmentedControl = "fragmented-control"    // 5.5: control frames have FIN=1
	TagOversizedControl  = "oversized-control"     // 5.5: control payloads are at most 125 bytes
	TagNonMinimalLength  = "non-minimal-length"    // 5.2: the minimal number of bytes must be used
	TagInvalidUTF8       = "invalid-utf8"          // 8.1: text and close reasons are UTF-8
	TagInvalidCloseCode  = "invalid-close-code"    // 7.4: codes a peer may not send
	TagBadContinuation   = "bad-continuation"      // 5.4: continuation without a message, or a new message inside one
	TagBadDeflate        = "invalid-deflate"       // RFC 7692: compressed data that does not inflate, or a bad extension answer
	// 5.2: a 64-bit payload length must have its most significant bit 0.
	// The frame cannot be decoded (its length is not a length): the
	// receiver fails the connection with 1002 (a protocol error, not the
	// 1009 of a message too big).
	TagLengthMSBSet = "length-msb-set"
)

// Violation is one broken rule.
type Violation struct {
	Tag    string `json:"tag"`
	Detail string `json:"detail"`
}

// Close is what a close frame's payload says.
type Close struct {
	HasCode bool   `json:"has_code"`
	Code    uint16 `json:"code"`
	Name    string `json:"name"`
	Reason  string `json:"reason"`
}

// Analysis is what the Decoder says about one frame in its stream.
type Analysis struct {
	// Message numbers the data messages of the connection direction from 1;
	// 0 for control frames and stray continuations.
	Message int
	// Fragment numbers the frames of a fragmented message from 1; 0 when
	// the message is one frame.
	Fragment int
	// MsgOpcode is the data opcode of the message the frame belongs to
	// (text or binary), also for continuations.
	MsgOpcode uint8
	// Compressed: the message is permessage-deflate compressed (RSV1 on its
	// first frame, extension negotiated): its frames' payloads are deflate
	// data, never checked as text.
	Compressed bool
	// On the last frame of a compressed message: the message inflated
	// (valid until the next frame; nil when it could not be inflated),
	// and how many compressed bytes it came from (all its frames).
	Inflated     []byte
	InflatedFrom int
	// Inflate is true on the last frame of a compressed message, whether
	// or not inflating worked.
	Inflate bool
	// UTF8Checked: the payload is text (or a close reason) and was checked.
	UTF8Checked bool
	// UTF8Valid is the result of the check.
	UTF8Valid bool
	// Close is set for close frames with a well-formed payload.
	Close      *Close
	Violations []Violation
}

type streamKey struct {
	conn uint64
	dir  trace.Dir
}

// stream is the fragmentation state of one connection direction.
type stream struct {
	messages   int
	inMsg      bool
	msgOp      uint8
	frag       int
	compressed bool
	utf8       wsproto.UTF8Check // UTF-8 of a text message across its fragments
	// permessage-deflate: the compressed bytes of the current message and
	// the inflater with its window.
	comp     []byte
	compOver bool // the message's compressed bytes passed maxInflated
	z        inflater
}

// Decoder analyses the frames of a trace in order. It keeps per
// connection direction state; the zero value is not ready: use NewDecoder.
type Decoder struct {
	streams map[streamKey]*stream
	deflate map[uint64]*Deflate // permessage-deflate negotiated
}

// NewDecoder returns a Decoder with no connections seen.
func NewDecoder() *Decoder {
	return &Decoder{streams: make(map[streamKey]*stream), deflate: make(map[uint64]*Deflate)}
}

// Handshake notes what the upgrade of conn negotiated: with
// permessage-deflate, RSV1 on the first frame of a data message marks it
// compressed, and such messages are inflated. It returns the extension's
// parameters (nil without it) and the error of a malformed extension
// answer, whose readable parameters are used anyway.
func (d *Decoder) Handshake(conn uint64, response []byte) (*Deflate, error) {
	p, err := ParseDeflate(response)
	if p == nil {
		delete(d.deflate, conn)
	} else {
		d.deflate[conn] = p
	}
	// A new connection under a reused number starts afresh.
	delete(d.streams, streamKey{conn, trace.ClientToServer})
	delete(d.streams, streamKey{conn, trace.ServerToClient})
	return p, err
}

// Dropped notes that frames of conn in direction dir are missing: the
// message in progress is abandoned, and the compression window may be
// wrong from here on (said if inflating fails).
func (d *Decoder) Dropped(conn uint64, dir trace.Dir) {
	if s := d.streams[streamKey{conn, dir}]; s != nil {
		s.inMsg = false
		s.z.lost = true
	}
}

// Frame analyses f, the next frame of conn in direction dir.
func (d *Decoder) Frame(conn uint64, dir trace.Dir, f *Frame) Analysis {
	k := streamKey{conn, dir}
	s := d.streams[k]
	if s == nil {
		s = &stream{}
		d.streams[k] = s
	}
	var a Analysis
	add := func(tag, format string, args ...any) {
		a.Violations = append(a.Violations, Violation{Tag: tag, Detail: fmt.Sprintf(format, args...)})
	}
	if dir == trace.ClientToServer && !f.Masked {
		add(TagUnmaskedClient, "a client frame without a masking key")
	}
	if dir == trace.ServerToClient && f.Masked {
		add(TagMaskedServer, "a server frame with masking key %x", f.Key)
	}
	switch {
	case f.LenForm == Len16 && wsproto.NonMinimalLength(126, f.Length):
		add(TagNonMinimalLength, "length %d in the 16-bit form fits the 7-bit form", f.Length)
	case f.LenForm == Len64 && wsproto.NonMinimalLength(127, f.Length):
		add(TagNonMinimalLength, "length %d in the 64-bit form fits a shorter form", f.Length)
	}
	op := f.Opcode
	control := IsControl(op)
	if op != OpContinuation && op != OpText && op != OpBinary && op != OpClose && op != OpPing && op != OpPong {
		add(TagReservedOpcode, "opcode 0x%x is reserved", op)
	}
	pmd := d.deflate[conn]
	rsvOK := uint8(0)
	if pmd != nil && (op == OpText || op == OpBinary) {
		rsvOK = 4 // RSV1 marks a compressed message
	}
	if bad := f.Rsv &^ rsvOK; bad != 0 {
		if bad&4 != 0 && pmd != nil {
			add(TagRSVWithoutExt, "RSV1 on a %s frame: permessage-deflate allows it only on the first frame of a message", OpcodeName(op))
		} else {
			add(TagRSVWithoutExt, "RSV=%03b with no extension negotiated for it", bad)
		}
	}
	if control {
		if !f.Fin {
			add(TagFragmentedControl, "a %s frame with FIN=0", OpcodeName(op))
		}
		if f.Length > wsproto.MaxControlPayload {
			add(TagOversizedControl, "a %s payload of %d bytes (at most 125)", OpcodeName(op), f.Length)
		}
	}

	switch {
	case op == OpText || op == OpBinary:
		if s.inMsg {
			add(TagBadContinuation, "a new %s message while message %d (%s) is unfinished", OpcodeName(op), s.messages, OpcodeName(s.msgOp))
		}
		s.messages++
		s.msgOp, s.frag = op, 0
		s.utf8.Reset()
		s.compressed = f.Rsv&4 != 0 && rsvOK != 0
		s.inMsg = !f.Fin
		if s.inMsg {
			s.frag = 1
		}
		a.Message, a.Fragment, a.MsgOpcode = s.messages, s.frag, op
		a.Compressed = s.compressed
		if s.compressed {
			s.comp, s.compOver = s.comp[:0], false
			d.compressed(s, pmd, dir, f, &a, add)
		} else if op == OpText {
			d.checkText(s, f.Payload, f.Fin, &a, add)
		}
	case op == OpContinuation:
		if !s.inMsg {
			add(TagBadContinuation, "a continuation frame with no message in progress")
			break
		}
		s.frag++
		a.Message, a.Fragment, a.MsgOpcode, a.Compressed = s.messages, s.frag, s.msgOp, s.compressed
		if s.compressed {
			d.compressed(s, pmd, dir, f, &a, add)
		} else if s.msgOp == OpText {
			d.checkText(s, f.Payload, f.Fin, &a, add)
		}
		if f.Fin {
			s.inMsg = false
		}
	case op == OpClose:
		a.Close = closeInfo(f.Payload, &a, add)
	}
	return a
}

// compressed gathers a frame of a compressed message and, on its last
// frame, inflates the message and checks inflated text as UTF-8.
func (d *Decoder) compressed(s *stream, p *Deflate, dir trace.Dir, f *Frame, a *Analysis, add func(string, string, ...any)) {
	if !s.compOver {
		if len(s.comp)+len(f.Payload) > maxInflated {
			s.compOver = true
			s.comp = s.comp[:0]
		} else {
			s.comp = append(s.comp, f.Payload...)
		}
	}
	if !f.Fin {
		return
	}
	a.Inflate = true
	if s.compOver {
		add(TagBadDeflate, "compressed message over %d bytes: not inflated", maxInflated)
		s.z.window = s.z.window[:0]
		return
	}
	a.InflatedFrom = len(s.comp)
	out, err := s.z.inflate(s.comp, !p.NoContextTakeover(dir), p.WindowBits(dir))
	if len(s.comp) > retainSplit {
		s.comp = nil
	}
	if err != nil {
		why := ""
		if s.z.lost {
			why = " (frames of this direction were dropped from the trace, so the compression context may be missing)"
		}
		add(TagBadDeflate, "message %d does not inflate: %v%s", s.messages, err, why)
		return
	}
	a.Inflated = out
	if a.MsgOpcode == OpText {
		a.UTF8Checked = true
		a.UTF8Valid = true
		if off := wsproto.InvalidUTF8At(out); off >= 0 {
			a.UTF8Valid = false
			add(TagInvalidUTF8, "invalid UTF-8 at byte %d of the inflated message", off)
		}
	}
}

// checkText validates one fragment of a text message (wsproto.UTF8Check
// carries an unfinished rune over to the next fragment).
func (d *Decoder) checkText(s *stream, p []byte, fin bool, a *Analysis, add func(string, string, ...any)) {
	a.UTF8Checked = true
	if off := s.utf8.Next(p, fin); off >= 0 {
		add(TagInvalidUTF8, "invalid UTF-8 at byte %d of the message", off)
	}
	a.UTF8Valid = !s.utf8.Failed()
}

// closeInfo reads a close payload: code, its name, reason.
func closeInfo(p []byte, a *Analysis, add func(string, string, ...any)) *Close {
	switch len(p) {
	case 0:
		return &Close{}
	case 1:
		add(TagInvalidCloseCode, "a 1-byte close payload (a code takes 2)")
		return nil
	}
	c := &Close{HasCode: true, Code: binary.BigEndian.Uint16(p), Reason: string(p[2:])}
	c.Name = wsproto.CloseCodeName(c.Code)
	if !wsproto.ValidCloseCode(c.Code) {
		add(TagInvalidCloseCode, "close code %d (%s) may not be sent", c.Code, c.Name)
	}
	a.UTF8Checked = true
	off := wsproto.InvalidUTF8At(p[2:])
	a.UTF8Valid = off < 0
	if !a.UTF8Valid {
		add(TagInvalidUTF8, "invalid UTF-8 at byte %d of the close reason", off)
	}
	return c
}
