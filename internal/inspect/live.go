package inspect

// live.go renders (and optionally records) traffic as it happens, for
// `wsbench inspect ws://…` and the relay: raw bytes of each connection
// direction are cut into frames as they complete and go through the same
// Decoder and renderer as a trace file, so a live dump reads exactly like
// the rendering of its recording.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// DefaultMaxLiveFrame is the largest frame a Session buffers to decode;
// larger ones are noted and passed over (the relay still forwards them).
const DefaultMaxLiveFrame = 16 << 20

// SessionOptions configure a Session.
type SessionOptions struct {
	Render RenderOptions
	// Record, when not nil, receives the same handshakes and frames; the
	// Session never closes it.
	Record *trace.Writer
	// MaxFrame bounds the frame size buffered for decoding; 0 means
	// DefaultMaxLiveFrame.
	MaxFrame int
	// OnViolations, when set, is told about every frame that breaks a rule,
	// shown or filtered out, right after it is rendered. It runs under the
	// Session's lock: it must not call the Session.
	OnViolations func(conn uint64, dir trace.Dir, vs []Violation)
	// Observer, when set, is told about every upgrade and message.
	Observer Observer
}

// Session renders the traffic of live connections frame by frame. It is
// safe for concurrent use: each call renders under a lock and flushes, so
// output appears as the frames cross the wire.
type Session struct {
	mu       sync.Mutex
	bw       *bufio.Writer
	rd       *renderer
	rec      *trace.Writer
	start    time.Time
	maxFrame int
	streams  map[streamKey]*splitter
	err      error // first output error
}

// NewSession starts a live rendering on w. With a recorder, times count
// from the recording's start, so the file renders identically later.
func NewSession(w io.Writer, o SessionOptions) *Session {
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxLiveFrame
	}
	bw := bufio.NewWriterSize(w, 16<<10)
	s := &Session{
		bw:       bw,
		rd:       &renderer{w: bw, o: o.Render, dec: NewDecoder(), onViolations: o.OnViolations, obs: o.Observer, gathers: make(map[streamKey]*gather)},
		rec:      o.Record,
		start:    time.Now(),
		maxFrame: o.MaxFrame,
		streams:  make(map[streamKey]*splitter),
	}
	if s.rec != nil {
		s.start = s.rec.Start()
	}
	s.rd.observeStart(s.start)
	return s
}

// setStart sets the time the rendering's times count from (a capture's
// first packet), before any traffic.
func (s *Session) setStart(at time.Time) {
	s.start = at
	s.rd.observeStart(at)
}

func (s *Session) since(at time.Time) time.Duration {
	if d := at.Sub(s.start); d > 0 {
		return d
	}
	return 0
}

// flushLocked pushes the rendering out and keeps the first error.
func (s *Session) flushLocked() {
	if err := s.bw.Flush(); err != nil && s.err == nil {
		s.err = fmt.Errorf("inspect: write output: %w", err)
	}
}

// Open announces connection conn before any of its traffic, so that the
// recording numbers connections in the order they are opened.
func (s *Session) Open(conn uint64) {
	if s.rec != nil {
		s.rec.Sample(conn)
	}
}

// Handshake renders (and records) the HTTP upgrade of conn.
func (s *Session) Handshake(conn uint64, at time.Time, request, response []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handshakeLocked(conn, at, request, response)
	s.flushLocked()
}

func (s *Session) handshakeLocked(conn uint64, at time.Time, request, response []byte) {
	if s.rec != nil {
		s.rec.HandshakeAt(conn, at, request, response)
	}
	rec := trace.Record{Kind: trace.KindHandshake, Conn: conn, Time: s.since(at), Request: request, Response: response}
	s.rd.handshake(&rec)
}

// Data takes bytes of conn's stream in direction dir, as they crossed the
// wire, and renders (and records) every frame they complete. Bytes need not
// be aligned on frames; p is not retained.
func (s *Session) Data(conn uint64, dir trace.Dir, at time.Time, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataLocked(conn, dir, at, p)
	s.flushLocked()
}

func (s *Session) dataLocked(conn uint64, dir trace.Dir, at time.Time, p []byte) {
	k := streamKey{conn, dir}
	sp := s.streams[k]
	if sp == nil {
		sp = &splitter{}
		s.streams[k] = sp
	}
	t := s.since(at)
	sp.feed(p, s.maxFrame, splitEvents{
		resynced: func(off, passed uint64) {
			if s.rec != nil {
				s.rec.Skip(conn, dir, at, off-sp.resumeAt)
			}
			s.noteLocked(conn, fmt.Sprintf("%s c%d %s resynchronised at stream offset %d: %d byte(s) after the gap passed over; frames from here are decoded from a guessed boundary (a chain of plausible, consistent frame headers)", secs(t), conn, dir, off, passed))
		},
		frame: func(off uint64, raw []byte) {
			if s.rec != nil {
				s.rec.Frame(conn, dialerDir(dir), at, raw)
			}
			rec := trace.Record{Kind: trace.KindFrame, Conn: conn, Dir: dir, Time: t, StreamOffset: off, Raw: raw}
			s.rd.frame(&rec)
		},
		oversized: func(off uint64, hdr []byte, size uint64) {
			if s.rec != nil {
				s.rec.Skip(conn, dir, at, size)
			}
			s.rd.dec.Dropped(conn, dir)
			s.rd.dropObserved(conn, dir)
			s.noteLocked(conn, fmt.Sprintf("%s c%d %s @%d frame of %d bytes (header %s) is over the %d-byte live decoding limit: passed over, not decoded", secs(t), conn, dir, off, size, hexBytes(hdr), s.maxFrame))
		},
		broken: func(err error) {
			s.noteLocked(conn, fmt.Sprintf("%s c%d %s not a WebSocket frame stream any more: %v; the rest of this direction is not decoded", secs(t), conn, dir, err))
			var fe *FrameError
			if errors.As(err, &fe) {
				if v, ok := fe.Violation(); ok {
					s.rd.violations(conn, dir, []Violation{v})
				}
			}
		},
	})
}

// Note renders a remark about conn (0: about the session): a "--" line,
// or a JSON object of type note.
func (s *Session) Note(conn uint64, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noteLocked(conn, fmt.Sprintf(format, args...))
	s.flushLocked()
}

func (s *Session) noteLocked(conn uint64, msg string) {
	if s.rd.o.JSON {
		s.rd.json(jsonRecord{Type: "note", Conn: conn, Note: msg})
		return
	}
	s.rd.note("%s", msg)
}

// setOnViolations sets SessionOptions.OnViolations, before any traffic.
func (s *Session) setOnViolations(f func(conn uint64, dir trace.Dir, vs []Violation)) {
	s.mu.Lock()
	s.rd.onViolations = f
	s.mu.Unlock()
}

// Err is the first error writing the output, if any.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stats count the frames rendered so far.
func (s *Session) Stats() RenderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rd.stats
}

// Tap returns a dialer.Tap that feeds this Session, reporting the dialed
// connection as conn whatever its dialer id.
func (s *Session) Tap(conn uint64) dialer.Tap { return sessionTap{s: s, conn: conn} }

type sessionTap struct {
	s    *Session
	conn uint64
}

func (t sessionTap) Handshake(_ uint64, request, response []byte) {
	t.s.Handshake(t.conn, time.Now(), request, response)
}

func (t sessionTap) Frame(_ uint64, dir dialer.Direction, at time.Time, raw []byte) {
	d := trace.ClientToServer
	if dir != dialer.ClientToServer {
		d = trace.ServerToClient
	}
	t.s.Data(t.conn, d, at, raw)
}

func dialerDir(d trace.Dir) dialer.Direction {
	if d == trace.ClientToServer {
		return dialer.ClientToServer
	}
	return dialer.ServerToClient
}

// Gap tells the Session that missing bytes of conn's stream in direction
// dir will not come (a capture lost them, or a relay's renderer fell behind
// and passed them over) before the next Data; why says which, for the note.
// The bytes of an incomplete frame before the gap are dropped, and the
// splitter scans what follows for a plausible frame boundary before
// decoding again; a note says so each time. Stream offsets stay those of
// the real stream, in the rendering and in a recording (which counts what
// was passed over as dropped).
func (s *Session) Gap(conn uint64, dir trace.Dir, at time.Time, missing uint64, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gapLocked(conn, dir, at, missing, why)
	s.flushLocked()
}

func (s *Session) gapLocked(conn uint64, dir trace.Dir, at time.Time, missing uint64, why string) {
	k := streamKey{conn, dir}
	sp := s.streams[k]
	if sp == nil {
		sp = &splitter{}
		s.streams[k] = sp
	}
	if sp.broken || missing == 0 {
		return
	}
	t := s.since(at)
	if sp.skip >= missing {
		// Inside a frame too large to decode anyway.
		sp.skip -= missing
		sp.off += missing
		s.noteLocked(conn, fmt.Sprintf("%s c%d %s gap of %d byte(s) (%s) inside the frame passed over", secs(t), conn, dir, missing, why))
		return
	}
	partial := uint64(len(sp.buf))
	gapAt := sp.off + partial
	if s.rec != nil {
		// The recording stands at the start of the incomplete frame, past
		// the frame being passed over, or where the last gap ended.
		recAt := sp.off + sp.skip
		if sp.resync {
			recAt = sp.resumeAt
		}
		s.rec.Skip(conn, dir, at, gapAt+missing-recAt)
	}
	msg := fmt.Sprintf("%s c%d %s gap of %d byte(s) (%s) at stream offset %d", secs(t), conn, dir, missing, why, gapAt)
	if partial > 0 && !sp.resync {
		msg += fmt.Sprintf("; the %d byte(s) of an incomplete frame at stream offset %d before it are not shown", partial, sp.off)
	}
	if sp.resync {
		msg += fmt.Sprintf("; still looking for a frame boundary since stream offset %d", sp.resyncFrom)
	} else {
		sp.resyncFrom = gapAt
	}
	msg += "; looking for the next frame boundary"
	s.noteLocked(conn, msg)
	sp.off = gapAt + missing
	sp.resumeAt = sp.off
	sp.buf = sp.buf[:0]
	sp.skip = 0
	sp.resync = true
	sp.pend, sp.scanned = sp.pend[:0], 0
	sp.masked = dir == trace.ClientToServer
	sp.rsvOK = 0
	if s.rd.dec.deflate[conn] != nil {
		sp.rsvOK = 4
	}
	s.rd.dec.Dropped(conn, dir)
}

// splitEvents are what a splitter reports.
type splitEvents struct {
	frame     func(off uint64, raw []byte)              // a complete frame; raw is valid during the call
	oversized func(off uint64, hdr []byte, size uint64) // a frame over the limit, passed over
	broken    func(err error)                           // the stream cannot be framed any further
	resynced  func(off, passed uint64)                  // decoding starts again at off after a gap
}

// splitter cuts one direction's byte stream into frames as bytes arrive,
// whatever the chunking: a frame split across reads waits in buf, frames
// that arrive whole are reported straight from the caller's bytes.
type splitter struct {
	buf    []byte // start of an incomplete frame
	off    uint64 // stream offset of buf[0], or of the next byte
	skip   uint64 // bytes of an oversized frame still to pass over
	broken bool
	// After a gap: buf holds bytes not yet known to start at a frame
	// boundary; masked and rsvOK are what a header of this direction
	// looks like; resyncFrom is where the gap was.
	resync     bool
	masked     bool
	rsvOK      uint8
	resyncFrom uint64
	resumeAt   uint64 // stream offset of the first byte after the gap
	pend       []int  // candidate boundaries in buf awaiting more bytes
	scanned    int    // offsets of buf before this are judged
}

// retainSplit is the largest buffer a splitter keeps once it is empty.
const retainSplit = 64 << 10

func (sp *splitter) feed(p []byte, maxFrame int, ev splitEvents) {
	if sp.broken {
		return
	}
	if sp.skip > 0 {
		n := min(uint64(len(p)), sp.skip)
		sp.skip -= n
		sp.off += n
		p = p[n:]
	}
	if len(p) == 0 {
		return
	}
	data := p
	if len(sp.buf) > 0 || sp.resync {
		sp.buf = append(sp.buf, p...)
		data = sp.buf
	}
	if sp.resync {
		i, found := sp.findBoundary(data, maxFrame)
		passed := uint64(i)
		sp.off += passed
		data = data[i:]
		if !found {
			sp.buf = append(sp.buf[:0], data...)
			return
		}
		sp.resync = false
		if ev.resynced != nil {
			ev.resynced(sp.off, sp.off-sp.resyncFrom)
		}
	}
	for len(data) > 0 {
		hl, length, ok, err := frameSize(data)
		if err != nil {
			sp.broken = true
			ev.broken(fmt.Errorf("frame at stream byte %d: %w", sp.off, err))
			data = nil
			break
		}
		if !ok {
			break
		}
		size := uint64(hl) + length
		if size > uint64(maxFrame) {
			ev.oversized(sp.off, data[:hl], size)
			if uint64(len(data)) >= size {
				data = data[size:]
				sp.off += size
				continue
			}
			sp.skip = size - uint64(len(data))
			sp.off += uint64(len(data))
			data = nil
			break
		}
		if uint64(len(data)) < size {
			break
		}
		ev.frame(sp.off, data[:size])
		sp.off += size
		data = data[size:]
	}
	// Keep the incomplete rest (append copies with memmove, so data may
	// alias sp.buf).
	sp.buf = append(sp.buf[:0], data...)
	if len(sp.buf) == 0 && cap(sp.buf) > retainSplit {
		sp.buf = nil
	}
}

// Plausibility of a frame header after a gap.
const (
	notFrame = iota
	maybeFrame
	needMore
)

// plausibleHeader judges whether a frame of this direction may start at
// b[0]: a known opcode, RSV bits the connection allows (RSV1 only on a
// text or binary frame with permessage-deflate), the direction's MASK bit,
// a control frame with FIN=1 and at most 125 bytes, the minimal length
// form, a size within maxFrame.
func plausibleHeader(b []byte, masked bool, rsvOK uint8, maxFrame int) (uint64, int) {
	if len(b) < 2 {
		return 0, needMore
	}
	op, rsv := b[0]&0xf, (b[0]>>4)&7
	switch op {
	case OpText, OpBinary:
		if rsv&^rsvOK != 0 {
			return 0, notFrame
		}
	case OpContinuation:
		if rsv != 0 {
			return 0, notFrame
		}
	case OpClose, OpPing, OpPong:
		if rsv != 0 || b[0]&0x80 == 0 || b[1]&0x7f > 125 {
			return 0, notFrame
		}
	default:
		return 0, notFrame
	}
	if (b[1]&0x80 != 0) != masked {
		return 0, notFrame
	}
	hl, length, ok, err := frameSize(b)
	switch {
	case err != nil:
		return 0, notFrame
	case !ok:
		return 0, needMore
	case wsproto.NonMinimalLength(b[1], length):
		return 0, notFrame
	}
	size := uint64(hl) + length
	if size > uint64(maxFrame) {
		return 0, notFrame
	}
	return size, maybeFrame
}

// maxResyncChain is how many consistent frames in a row settle a boundary
// without reaching the end of the data; minResyncChain how many must end
// exactly with the data to settle it.
const (
	maxResyncChain = 64
	minResyncChain = 3
)

// maxResyncPending bounds the candidate boundaries kept while waiting for
// the rest of their frames; past it, later candidates are not kept (the
// earliest are the ones that matter).
const maxResyncPending = 4096

// findBoundary looks for where a frame plausibly starts in b, the bytes
// after a gap: from there, plausible headers (plausibleHeader) follow one
// another with consistent fragmentation (no new data message inside a
// fragmented one, no continuation outside one) up to exactly the end of the
// data (minResyncChain frames at least), or for maxResyncChain frames
// (resyncChain); the earliest such offset wins. Offsets whose chain is
// consistent so far but cut by the end of b are candidates kept in sp.pend
// to be judged again when more bytes arrive; positions before sp.scanned
// were judged already. It returns the offset and true, or how
// many leading bytes can be passed over and false.
func (sp *splitter) findBoundary(b []byte, maxFrame int) (int, bool) {
	pend := sp.pend[:0]
	for _, i := range sp.pend {
		switch resyncChain(b[i:], sp.masked, sp.rsvOK, maxFrame) {
		case maybeFrame:
			sp.pend, sp.scanned = sp.pend[:0], 0
			return i, true
		case needMore:
			pend = append(pend, i)
		}
	}
	sp.pend = pend
	// A header may straddle the end of b: the last bytes are judged again
	// next time, so they are not kept as candidates.
	limit := max(0, len(b)-maxHeaderLen+1)
	for i := sp.scanned; i < len(b); i++ {
		switch resyncChain(b[i:], sp.masked, sp.rsvOK, maxFrame) {
		case maybeFrame:
			sp.pend, sp.scanned = sp.pend[:0], 0
			return i, true
		case needMore:
			if i < limit && len(sp.pend) < maxResyncPending {
				sp.pend = append(sp.pend, i)
			}
		}
	}
	sp.scanned = max(sp.scanned, limit)
	drop := sp.scanned
	if len(sp.pend) > 0 {
		drop = min(drop, sp.pend[0])
	}
	for k := range sp.pend {
		sp.pend[k] -= drop
	}
	sp.scanned -= drop
	return drop, false
}

// maxHeaderLen is the longest frame header: 2 + 8 length + 4 key bytes.
const maxHeaderLen = 14

// resyncChain judges the chain of frames at the start of b: maybeFrame
// (consistent to the end over minResyncChain frames, or maxResyncChain frames
// long), needMore (consistent so far, cut by the end of b) or notFrame.
func resyncChain(b []byte, masked bool, rsvOK uint8, maxFrame int) int {
	const unknown, in, out = 0, 1, 2
	msg := unknown // whether a fragmented message is in progress
	off := uint64(0)
	for n := 0; n < maxResyncChain; n++ {
		if off == uint64(len(b)) {
			if n < minResyncChain {
				return needMore // a frame or two ending with the data prove little
			}
			return maybeFrame
		}
		size, st := plausibleHeader(b[off:], masked, rsvOK, maxFrame)
		if st != maybeFrame {
			return st
		}
		fin, op := b[off]&0x80 != 0, b[off]&0xf
		switch {
		case op == OpText || op == OpBinary:
			if msg == in {
				return notFrame
			}
			msg = out
			if !fin {
				msg = in
			}
		case op == OpContinuation:
			if msg == out {
				return notFrame
			}
			msg = in
			if fin {
				msg = out
			}
		}
		off += size
		if off > uint64(len(b)) {
			return needMore
		}
	}
	return maybeFrame
}

// frameSize reads the header length and payload length of the frame at
// the start of b. ok is false while the header is incomplete; err is set
// when no frame can start there (a 64-bit length with the top bit set).
func frameSize(b []byte) (hl int, length uint64, ok bool, err *FrameError) {
	if len(b) < 2 {
		return 0, 0, false, nil
	}
	hl = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return 0, 0, false, nil
		}
		length, hl = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, 0, false, nil
		}
		length, hl = binary.BigEndian.Uint64(b[2:]), 10
		if length>>63 != 0 {
			return 0, 0, false, errLengthMSB(b)
		}
	default:
		length = uint64(l)
	}
	if b[1]&0x80 != 0 {
		hl += 4
	}
	if len(b) < hl {
		return 0, 0, false, nil
	}
	return hl, length, true, nil
}
