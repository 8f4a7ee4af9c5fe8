package inspect

// observe.go lets a program read what a Session decodes, message by
// message, beside (or instead of) the rendering: the HAR export
// (har_write.go) and the scenario generator (internal/recgen) are built on
// it, so every source — trace, capture, HAR, live, relay — feeds them the
// same way.

import (
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// An Observer is told, in the order the source delivers them, about the
// upgrades and the whole messages of every connection, whatever the
// rendering filters show. Its methods run under the Session's lock: they
// must not call the Session.
type Observer interface {
	// Start gives the wall-clock time that the times of the other calls
	// count from (a trace's start, a capture's first packet, a HAR's
	// first event, a live session's start). It comes before any traffic,
	// possibly more than once (a file source corrects the Session's
	// default): the last call counts.
	Start(at time.Time)
	// Handshake is the HTTP upgrade of conn, request and response heads as
	// on the wire (the response may be empty). The slices are only valid
	// during the call.
	Handshake(conn uint64, t time.Duration, request, response []byte)
	// Message is one whole message: a data message reassembled from its
	// frames (and inflated when compressed), or a control frame.
	Message(m *Message)
}

// Message is a message as an Observer sees it.
type Message struct {
	Conn uint64
	Dir  trace.Dir
	// Time of its last frame, since the Observer's start.
	Time time.Duration
	// Opcode is OpText or OpBinary for data messages, or the control
	// frame's opcode (OpClose, OpPing, OpPong).
	Opcode uint8
	// Payload is unmasked and inflated; only valid during the call.
	Payload []byte
	// Close is what a close frame says (nil otherwise, or when malformed).
	Close *Close
}

// maxObservedMessage bounds a data message gathered for an Observer; the
// rest of a longer one is not gathered and the message is reported cut.
const maxObservedMessage = 64 << 20

// gather is the per-direction message assembly for an Observer.
type gather struct {
	buf    []byte
	active bool
}

// observeFrame feeds the Observer from one decoded frame.
func (rd *renderer) observeFrame(rec *trace.Record, f *Frame, a *Analysis) {
	if IsControl(f.Opcode) {
		rd.obs.Message(&Message{Conn: rec.Conn, Dir: rec.Dir, Time: rec.Time, Opcode: f.Opcode, Payload: f.Payload, Close: a.Close})
		return
	}
	if a.Message == 0 {
		// A stray continuation (after dropped frames): what was gathered
		// is not a whole message.
		if g := rd.gathers[streamKey{rec.Conn, rec.Dir}]; g != nil {
			g.buf, g.active = g.buf[:0], false
		}
		return
	}
	k := streamKey{rec.Conn, rec.Dir}
	g := rd.gathers[k]
	if g == nil {
		g = &gather{}
		rd.gathers[k] = g
	}
	if f.Opcode != OpContinuation {
		g.buf, g.active = g.buf[:0], true
	}
	if !g.active {
		return
	}
	if a.Compressed {
		if !a.Inflate {
			return
		}
		g.active = false
		if a.Inflated != nil {
			rd.obs.Message(&Message{Conn: rec.Conn, Dir: rec.Dir, Time: rec.Time, Opcode: a.MsgOpcode, Payload: a.Inflated})
		}
		return
	}
	if f.Fin && len(g.buf) == 0 {
		g.active = false
		rd.obs.Message(&Message{Conn: rec.Conn, Dir: rec.Dir, Time: rec.Time, Opcode: a.MsgOpcode, Payload: f.Payload})
		return
	}
	if len(g.buf)+len(f.Payload) <= maxObservedMessage {
		g.buf = append(g.buf, f.Payload...)
	}
	if f.Fin {
		g.active = false
		rd.obs.Message(&Message{Conn: rec.Conn, Dir: rec.Dir, Time: rec.Time, Opcode: a.MsgOpcode, Payload: g.buf})
		if cap(g.buf) > retainSplit {
			g.buf = nil
		}
	}
}

// observeStart tells the Observer where times count from.
func (rd *renderer) observeStart(at time.Time) {
	if rd.obs != nil {
		rd.obs.Start(at)
	}
}

// dropObserved abandons the message being gathered in a direction that
// lost frames.
func (rd *renderer) dropObserved(conn uint64, dir trace.Dir) {
	if g := rd.gathers[streamKey{conn, dir}]; g != nil {
		g.buf, g.active = g.buf[:0], false
	}
}
