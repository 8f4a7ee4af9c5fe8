package inspect

// source_file.go is `wsbench inspect FILE`: a trace file, or a pcap or
// pcapng capture told apart from one by its magic number.

import (
	"bufio"
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
