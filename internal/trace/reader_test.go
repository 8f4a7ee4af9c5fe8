package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReaderErrors(t *testing.T) {
	hdr := AppendHeader(nil, testStart.UnixNano())
	frame := AppendFrameRecord(nil, 1, ClientToServer, 5, 0, []byte{0x81, 0x00})
	withKind := func(k Kind, body ...byte) []byte {
		b := append(bytes.Clone(hdr), byte(k))
		b = binary.AppendUvarint(b, uint64(len(body)))
		return append(b, body...)
	}
	badVersion := bytes.Clone(hdr)
	badVersion[9] = 9
	cases := []struct {
		name     string
		in       []byte
		offset   int64
		expected string
		records  int // records read before the error
	}{
		{"empty", nil, 0, "file header", 0},
		{"not a trace", []byte("GET / HTTP/1.1\r\n\r\n......"), 0, "magic", 0},
		{"short header", hdr[:13], 13, "file header", 0},
		{"version", badVersion, 8, "format version 1", 0},
		{"bad kind", append(append(bytes.Clone(hdr), frame...), 0x09), int64(HeaderSize + len(frame)), "record kind", 1},
		{"kind zero", append(bytes.Clone(hdr), 0), HeaderSize, "record kind", 0},
		{"no length", append(bytes.Clone(hdr), byte(KindFrame)), HeaderSize + 1, "length of a frame record", 0},
		{"huge length", append(append(bytes.Clone(hdr), byte(KindFrame)), 0xff, 0xff, 0xff, 0xff, 0x0f), HeaderSize + 1, "record length of at most", 0},
		{"short body", append(bytes.Clone(hdr), frame[:len(frame)-1]...), int64(HeaderSize + len(frame) - 1), "more bytes of the frame record", 0},
		{"bad direction", withKind(KindFrame, 1, 7, 0, 0), HeaderSize + 3, "a direction", 0},
		{"request longer than body", withKind(KindHandshake, 1, 0, 50, 'G'), HeaderSize + 5, "50 bytes of upgrade request", 0},
		{"extra bytes", withKind(KindLimit, 1, 2, 3), HeaderSize + 4, "end of the limit record", 0},
		{"missing field", withKind(KindEnd, 1, 2), HeaderSize + 4, "dropped frame count of the end record", 0},
		{"varint overflow", withKind(KindLimit, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0), HeaderSize + 2, "the time of the limit record", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(c.in))
			n := 0
			for err == nil {
				_, err = r.Next()
				if err == nil {
					n++
				}
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FormatError", err)
			}
			if fe.Offset != c.offset || !strings.Contains(fe.Expected, c.expected) || n != c.records {
				t.Errorf("got %v after %d records; want offset %d, expected %q, after %d records", err, n, c.offset, c.expected, c.records)
			}
			if r != nil {
				if _, again := r.Next(); again != err {
					t.Errorf("error not sticky: %v then %v", err, again)
				}
			}
		})
	}
}

func TestReaderEmptyTrace(t *testing.T) {
	r, err := NewReader(bytes.NewReader(AppendHeader(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next on an empty trace: %v, want io.EOF", err)
	}
	if r.Offset() != HeaderSize {
		t.Errorf("Offset %d", r.Offset())
	}
}
