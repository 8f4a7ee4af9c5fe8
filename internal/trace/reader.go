package trace

// reader.go reads trace files back, record by record, and names the byte
// offset and what it expected when the input is truncated or corrupt.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Header is what a trace file's header says.
type Header struct {
	Version uint16
	Start   time.Time // wall-clock time the recording started
}

// Record is one record of a trace. Which fields are set depends on Kind.
type Record struct {
	Kind Kind
	Pos  int64         // byte offset of the record in the file
	Time time.Duration // since Header.Start
	Conn uint64        // trace connection number (not KindLimit, KindEnd)
	Dir  Dir           // KindFrame, KindDropped

	StreamOffset uint64 // KindFrame: offset of the frame in its direction's byte stream after the upgrade
	Raw          []byte // KindFrame: the frame as on the wire

	Request, Response []byte // KindHandshake

	Frames  uint64 // KindDropped: frames dropped; KindEnd: frames recorded
	Bytes   uint64 // KindDropped: bytes dropped
	Dropped uint64 // KindEnd: frames dropped in all
	PastCap uint64 // KindEnd: frames past the size cap
	Conns   uint64 // KindEnd: connections traced
	Cap     uint64 // KindLimit: the size cap in bytes
}

// FormatError says where a trace file stops making sense.
type FormatError struct {
	Offset   int64  // byte offset in the file
	Expected string // what should have been there
	Err      error  // what was found (io.ErrUnexpectedEOF when the file ends early)
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("trace: at byte %d: expected %s: %v", e.Offset, e.Expected, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// errCorrupt is the Err of a FormatError for values that cannot be right.
var errCorrupt = errors.New("corrupt data")

// Reader reads records from a trace file.
type Reader struct {
	br  *bufio.Reader
	pos int64
	hdr Header
	err error // sticky
}

// NewReader reads and checks the file header.
func NewReader(r io.Reader) (*Reader, error) {
	tr := &Reader{br: bufio.NewReaderSize(r, 64<<10)}
	var h [HeaderSize]byte
	n, err := io.ReadFull(tr.br, h[:])
	if m := min(n, len(Magic)); string(h[:m]) != Magic[:m] {
		return nil, &FormatError{Offset: 0, Expected: fmt.Sprintf("magic %q (not a wsbench trace file)", Magic), Err: fmt.Errorf("%w: got %q", errCorrupt, h[:m])}
	}
	if err != nil {
		return nil, &FormatError{Offset: int64(n), Expected: fmt.Sprintf("the %d-byte file header", HeaderSize), Err: io.ErrUnexpectedEOF}
	}
	tr.hdr.Version = binary.BigEndian.Uint16(h[8:])
	if tr.hdr.Version != Version {
		return nil, &FormatError{Offset: 8, Expected: fmt.Sprintf("format version %d", Version), Err: fmt.Errorf("got version %d", tr.hdr.Version)}
	}
	tr.hdr.Start = time.Unix(0, int64(binary.BigEndian.Uint64(h[12:])))
	tr.pos = HeaderSize
	return tr, nil
}

// Header returns the file header.
func (r *Reader) Header() Header { return r.hdr }

// Offset is the byte offset of the next record.
func (r *Reader) Offset() int64 { return r.pos }

// Next returns the next record, io.EOF after the last one, or a
// *FormatError; after an error every call returns it again. Records are
// freshly allocated: the caller may keep them.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
	}
	return rec, err
}

func (r *Reader) next() (Record, error) {
	start := r.pos
	kb, err := r.br.ReadByte()
	if err == io.EOF {
		return Record{}, io.EOF
	}
	if err != nil {
		return Record{}, &FormatError{Offset: start, Expected: "a record kind", Err: err}
	}
	k := Kind(kb)
	if k < KindHandshake || k > KindEnd {
		return Record{}, &FormatError{Offset: start, Expected: "a record kind (1-5)", Err: fmt.Errorf("got %d", kb)}
	}
	r.pos++
	n, err := binary.ReadUvarint(byteCounter{r})
	if err != nil {
		return Record{}, &FormatError{Offset: r.pos, Expected: "the length of a " + k.String() + " record", Err: eofToUnexpected(err)}
	}
	if n > MaxRecordBody {
		return Record{}, &FormatError{Offset: start + 1, Expected: fmt.Sprintf("a record length of at most %d", MaxRecordBody), Err: fmt.Errorf("%w: got %d", errCorrupt, n)}
	}
	bodyPos := r.pos
	body, err := r.readBody(int(n))
	if err != nil {
		return Record{}, &FormatError{Offset: r.pos, Expected: fmt.Sprintf("%d more bytes of the %s record at byte %d", int64(n)-(r.pos-bodyPos), k, start), Err: err}
	}
	rec := Record{Kind: k, Pos: start}
	if err := rec.parseBody(body); err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Offset += bodyPos
		}
		return Record{}, err
	}
	return rec, nil
}

// readBody reads n bytes, growing the buffer as data arrives so a corrupt
// length on a short file costs no more memory than the file holds.
func (r *Reader) readBody(n int) ([]byte, error) {
	var buf bytes.Buffer
	if n <= 1<<16 {
		buf.Grow(n)
	}
	m, err := io.CopyN(&buf, r.br, int64(n))
	r.pos += m
	if err != nil {
		return nil, eofToUnexpected(err)
	}
	return buf.Bytes(), nil
}

func eofToUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// byteCounter reads single bytes for binary.ReadUvarint and counts them.
type byteCounter struct{ r *Reader }

func (b byteCounter) ReadByte() (byte, error) {
	c, err := b.r.br.ReadByte()
	if err == nil {
		b.r.pos++
	}
	return c, err
}

// bodyReader decodes the fields of a record body; offsets in its errors are
// relative to the body.
type bodyReader struct {
	b    []byte
	pos  int
	kind Kind
	err  error
}

func (br *bodyReader) uvarint(what string) uint64 {
	if br.err != nil {
		return 0
	}
	v, n := binary.Uvarint(br.b[br.pos:])
	if n <= 0 {
		err := io.ErrUnexpectedEOF
		if n < 0 {
			err = fmt.Errorf("%w: varint overflows 64 bits", errCorrupt)
		}
		br.err = &FormatError{Offset: int64(br.pos), Expected: what + " of the " + br.kind.String() + " record", Err: err}
		return 0
	}
	br.pos += n
	return v
}

func (br *bodyReader) dir() Dir {
	if br.err != nil {
		return 0
	}
	if br.pos >= len(br.b) {
		br.err = &FormatError{Offset: int64(br.pos), Expected: "the direction of the " + br.kind.String() + " record", Err: io.ErrUnexpectedEOF}
		return 0
	}
	d := br.b[br.pos]
	if d > 1 {
		br.err = &FormatError{Offset: int64(br.pos), Expected: "a direction (0 client→server, 1 server→client)", Err: fmt.Errorf("%w: got %d", errCorrupt, d)}
		return 0
	}
	br.pos++
	return Dir(d)
}

func (br *bodyReader) bytes(n uint64, what string) []byte {
	if br.err != nil {
		return nil
	}
	if n > uint64(len(br.b)-br.pos) {
		br.err = &FormatError{Offset: int64(br.pos), Expected: fmt.Sprintf("%d bytes of %s", n, what), Err: fmt.Errorf("%w: only %d left in the record", errCorrupt, len(br.b)-br.pos)}
		return nil
	}
	p := br.b[br.pos : br.pos+int(n)]
	br.pos += int(n)
	return p
}

func (br *bodyReader) end() {
	if br.err == nil && br.pos != len(br.b) {
		br.err = &FormatError{Offset: int64(br.pos), Expected: "the end of the " + br.kind.String() + " record", Err: fmt.Errorf("%w: %d extra bytes", errCorrupt, len(br.b)-br.pos)}
	}
}

func (rec *Record) parseBody(b []byte) error {
	br := &bodyReader{b: b, kind: rec.Kind}
	switch rec.Kind {
	case KindHandshake:
		rec.Conn = br.uvarint("the connection")
		rec.Time = duration(br.uvarint("the time"))
		n := br.uvarint("the request length")
		rec.Request = br.bytes(n, "upgrade request")
		if br.err == nil {
			rec.Response = b[br.pos:]
			br.pos = len(b)
		}
	case KindFrame:
		rec.Conn = br.uvarint("the connection")
		rec.Dir = br.dir()
		rec.Time = duration(br.uvarint("the time"))
		rec.StreamOffset = br.uvarint("the stream offset")
		if br.err == nil {
			rec.Raw = b[br.pos:]
			br.pos = len(b)
		}
	case KindDropped:
		rec.Conn = br.uvarint("the connection")
		rec.Dir = br.dir()
		rec.Time = duration(br.uvarint("the time"))
		rec.Frames = br.uvarint("the dropped frame count")
		rec.Bytes = br.uvarint("the dropped byte count")
	case KindLimit:
		rec.Time = duration(br.uvarint("the time"))
		rec.Cap = br.uvarint("the size cap")
	case KindEnd:
		rec.Time = duration(br.uvarint("the time"))
		rec.Frames = br.uvarint("the frame count")
		rec.Dropped = br.uvarint("the dropped frame count")
		rec.PastCap = br.uvarint("the past-cap frame count")
		rec.Conns = br.uvarint("the connection count")
	}
	br.end()
	return br.err
}

// duration converts recorded nanoseconds, saturating corrupt huge values.
func duration(ns uint64) time.Duration {
	if ns > 1<<63-1 {
		return 1<<63 - 1
	}
	return time.Duration(ns)
}
