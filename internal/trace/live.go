package trace

// live.go renders (and optionally records) traffic as it happens, for
// `wsbench inspect ws://…` and the relay: raw bytes of each connection
// direction are cut into frames as they complete and go through the same
// Decoder and renderer as a trace file, so a live dump reads exactly like
// the rendering of its recording.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/wsbench/wsbench/dialer"
)

// DefaultMaxLiveFrame is the largest frame a Session buffers to decode;
// larger ones are noted and passed over (the relay still forwards them).
const DefaultMaxLiveFrame = 16 << 20

// SessionOptions configure a Session.
type SessionOptions struct {
	Render RenderOptions
	// Record, when not nil, receives the same handshakes and frames; the
	// Session never closes it.
	Record *Writer
	// MaxFrame bounds the frame size buffered for decoding; 0 means
	// DefaultMaxLiveFrame.
	MaxFrame int
	// OnViolations, when set, is told about every frame that breaks a rule,
	// shown or filtered out, right after it is rendered. It runs under the
	// Session's lock: it must not call the Session.
	OnViolations func(conn uint64, dir Dir, vs []Violation)
}

// Session renders the traffic of live connections frame by frame. It is
// safe for concurrent use: each call renders under a lock and flushes, so
// output appears as the frames cross the wire.
type Session struct {
	mu       sync.Mutex
	bw       *bufio.Writer
	rd       *renderer
	rec      *Writer
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
		rd:       &renderer{w: bw, o: o.Render, dec: NewDecoder(), onViolations: o.OnViolations},
		rec:      o.Record,
		start:    time.Now(),
		maxFrame: o.MaxFrame,
		streams:  make(map[streamKey]*splitter),
	}
	if s.rec != nil {
		s.start = s.rec.Start()
	}
	return s
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
	if s.rec != nil {
		s.rec.HandshakeAt(conn, at, request, response)
	}
	rec := Record{Kind: KindHandshake, Conn: conn, Time: s.since(at), Request: request, Response: response}
	s.rd.handshake(&rec)
	s.flushLocked()
}

// Data takes bytes of conn's stream in direction dir, as they crossed the
// wire, and renders (and records) every frame they complete. Bytes need not
// be aligned on frames; p is not retained.
func (s *Session) Data(conn uint64, dir Dir, at time.Time, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := streamKey{conn, dir}
	sp := s.streams[k]
	if sp == nil {
		sp = &splitter{}
		s.streams[k] = sp
	}
	t := s.since(at)
	sp.feed(p, s.maxFrame, splitEvents{
		frame: func(off uint64, raw []byte) {
			if s.rec != nil {
				s.rec.Frame(conn, dialerDir(dir), at, raw)
			}
			rec := Record{Kind: KindFrame, Conn: conn, Dir: dir, Time: t, StreamOffset: off, Raw: raw}
			s.rd.frame(&rec)
		},
		oversized: func(off uint64, hdr []byte, size uint64) {
			if s.rec != nil {
				s.rec.Skip(conn, dir, at, size)
			}
			s.rd.dec.Dropped(conn, dir)
			s.noteLocked(conn, fmt.Sprintf("%s c%d %s @%d frame of %d bytes (header %s) is over the %d-byte live decoding limit: passed over, not decoded", secs(t), conn, dir, off, size, hexBytes(hdr), s.maxFrame))
		},
		broken: func(err error) {
			s.noteLocked(conn, fmt.Sprintf("%s c%d %s not a WebSocket frame stream any more: %v; the rest of this direction is not decoded", secs(t), conn, dir, err))
		},
	})
	s.flushLocked()
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
	d := ClientToServer
	if dir != dialer.ClientToServer {
		d = ServerToClient
	}
	t.s.Data(t.conn, d, at, raw)
}

func dialerDir(d Dir) dialer.Direction {
	if d == ClientToServer {
		return dialer.ClientToServer
	}
	return dialer.ServerToClient
}

// splitEvents are what a splitter reports.
type splitEvents struct {
	frame     func(off uint64, raw []byte)              // a complete frame; raw is valid during the call
	oversized func(off uint64, hdr []byte, size uint64) // a frame over the limit, passed over
	broken    func(err error)                           // the stream cannot be framed any further
}

// splitter cuts one direction's byte stream into frames as bytes arrive,
// whatever the chunking: a frame split across reads waits in buf, frames
// that arrive whole are reported straight from the caller's bytes.
type splitter struct {
	buf    []byte // start of an incomplete frame
	off    uint64 // stream offset of buf[0], or of the next byte
	skip   uint64 // bytes of an oversized frame still to pass over
	broken bool
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
	if len(sp.buf) > 0 {
		sp.buf = append(sp.buf, p...)
		data = sp.buf
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
			return 0, 0, false, &FrameError{Offset: 2, Expected: "a 64-bit payload length with the most significant bit 0", Have: len(b) - 2}
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
