package inspect

// source_file.go is `wsbench inspect FILE`: a trace file, a pcap or
// pcapng capture told apart from one by its magic number, or a HAR (JSON:
// its first byte past white space is '{').

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// File is a trace file or a capture on disk.
type File struct {
	path string
	f    *os.File
	br   *bufio.Reader
}

// OpenFile opens path for inspection; Close releases it.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f, br: bufio.NewReaderSize(f, 64<<10)}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Inspect renders the trace or the capture. Damage is rendered up to where
// it starts, then returned; so is a capture without any WebSocket.
func (f *File) Inspect(ctx context.Context, s *Session) error {
	var src Source = TraceReader{R: f.br}
	if b, _ := f.br.Peek(4); IsCapture(b) {
		src = &Capture{R: f.br}
	} else if b, _ := f.br.Peek(512); IsJSON(b) {
		src = HARSource{R: f.br}
	}
	if err := src.Inspect(ctx, s); err != nil {
		return fmt.Errorf("inspect %s: %w", f.path, err)
	}
	return nil
}

// TraceReader is a trace file read from R (trace.Reader's format).
type TraceReader struct{ R io.Reader }

// Inspect renders every record of the trace. On a truncated or corrupt
// trace it renders the records before the damage, then a line naming the
// offset and what was expected there, and returns the *trace.FormatError.
func (t TraceReader) Inspect(_ context.Context, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.rd.run(t.R)
	s.flushLocked()
	if err == nil {
		err = s.err
	}
	return err
}

// IsJSON reports whether b, the start of a file, looks like a JSON object
// (a HAR): '{' after optional white space and a UTF-8 byte order mark.
func IsJSON(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}
