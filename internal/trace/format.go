package trace

// format.go defines the trace file format, version 1 (docs/trace-format.md).
//
// A file is a 24-byte header followed by records:
//
//	header: "WSBTRACE" | version u16 BE | flags u16 BE (0) | start unix ns i64 BE | reserved u32 (0)
//	record: kind u8 | body length uvarint | body
//
// Record bodies (all integers uvarint unless noted):
//
//	KindHandshake: conn | time ns | request length | request | response (rest)
//	KindFrame:     conn | dir u8 | time ns | stream offset | raw frame (rest)
//	KindDropped:   conn | dir u8 | time ns | frames | bytes
//	KindLimit:     time ns | cap bytes
//	KindEnd:       time ns | frames | dropped frames | past-cap frames | connections
//
// Times are nanoseconds since the header's start time. Conn is the trace's
// own connection number (1, 2, … in the order they were sampled).

import (
	"encoding/binary"
	"fmt"
)

// Magic opens every trace file.
const Magic = "WSBTRACE"

// Version is the format version this package writes and reads.
const Version = 1

// HeaderSize is the length of the file header.
const HeaderSize = 24

// MaxRecordBody bounds a record body: a reader refuses longer ones as
// corrupt instead of trying to read gigabytes. It leaves room for a frame of
// 1 GiB plus its header and the record's own fields.
const MaxRecordBody = 1<<30 + 64

// Kind is a record's type.
type Kind uint8

// Record kinds.
const (
	KindHandshake Kind = 1 // HTTP upgrade request and response of a connection
	KindFrame     Kind = 2 // one frame's raw bytes as on the wire
	KindDropped   Kind = 3 // frames not recorded: the writer was behind, too large to decode live, or passed over after a gap
	KindLimit     Kind = 4 // the size cap was reached; nothing follows but KindEnd
	KindEnd       Kind = 5 // totals, written when the recording is closed
)

func (k Kind) String() string {
	switch k {
	case KindHandshake:
		return "handshake"
	case KindFrame:
		return "frame"
	case KindDropped:
		return "dropped"
	case KindLimit:
		return "limit"
	case KindEnd:
		return "end"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Dir is the direction of a frame, as recorded.
type Dir uint8

// Directions.
const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

// String gives the short form used in renderings: C>S or S>C.
func (d Dir) String() string {
	if d == ClientToServer {
		return "C>S"
	}
	return "S>C"
}

// AppendHeader appends the file header for a recording started at unixNano.
func AppendHeader(b []byte, unixNano int64) []byte {
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint16(b, Version)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano))
	return binary.BigEndian.AppendUint32(b, 0)
}

// uvarintLen is the encoded length of x.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// AppendFrameRecord appends a KindFrame record. It does not allocate when b
// has room.
func AppendFrameRecord(b []byte, conn uint64, dir Dir, t uint64, off uint64, raw []byte) []byte {
	body := uvarintLen(conn) + 1 + uvarintLen(t) + uvarintLen(off) + len(raw)
	b = append(b, byte(KindFrame))
	b = binary.AppendUvarint(b, uint64(body))
	b = binary.AppendUvarint(b, conn)
	b = append(b, byte(dir))
	b = binary.AppendUvarint(b, t)
	b = binary.AppendUvarint(b, off)
	return append(b, raw...)
}

// frameRecordSize is the length AppendFrameRecord adds.
func frameRecordSize(conn uint64, t uint64, off uint64, rawLen int) int {
	body := uvarintLen(conn) + 1 + uvarintLen(t) + uvarintLen(off) + rawLen
	return 1 + uvarintLen(uint64(body)) + body
}

// AppendHandshakeRecord appends a KindHandshake record.
func AppendHandshakeRecord(b []byte, conn uint64, t uint64, req, rsp []byte) []byte {
	body := uvarintLen(conn) + uvarintLen(t) + uvarintLen(uint64(len(req))) + len(req) + len(rsp)
	b = append(b, byte(KindHandshake))
	b = binary.AppendUvarint(b, uint64(body))
	b = binary.AppendUvarint(b, conn)
	b = binary.AppendUvarint(b, t)
	b = binary.AppendUvarint(b, uint64(len(req)))
	b = append(b, req...)
	return append(b, rsp...)
}

// AppendUvarintsRecord appends a record whose body is kind-specific
// uvarints, with an optional direction byte after the first one.
func AppendUvarintsRecord(b []byte, k Kind, dir int, vals ...uint64) []byte {
	body := 0
	for _, v := range vals {
		body += uvarintLen(v)
	}
	if dir >= 0 {
		body++
	}
	b = append(b, byte(k))
	b = binary.AppendUvarint(b, uint64(body))
	for i, v := range vals {
		b = binary.AppendUvarint(b, v)
		if i == 0 && dir >= 0 {
			b = append(b, byte(dir))
		}
	}
	return b
}
