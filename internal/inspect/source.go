package inspect

// source.go is the one entry point to rendering: a Source feeds its
// traffic to a Session, which decodes and renders it (and records it).

import (
	"context"
	"io"

	"github.com/wsbench/wsbench/internal/trace"
)

// A Source is where inspected traffic comes from: a trace file, a pcap
// capture, a live connection, a relay. Inspect hands the Session every
// handshake, frame (or byte stream) and note until the source ends or ctx
// is done; its error, already worded for the user, says why inspection
// failed (damaged input, a connection that broke the protocol…).
//
// A new source is a type with this method in a file of its own
// (source_NAME.go) plus its test, chosen in cmd/inspect.go.
type Source interface {
	Inspect(ctx context.Context, s *Session) error
}

// Options shape a rendering, whatever the source.
type Options struct {
	Render RenderOptions
	// Record, when not nil, receives what live sources show; Run never
	// closes it.
	Record *trace.Writer
	// Observer, when not nil, is told about every upgrade and whole
	// message (observe.go), whatever the rendering shows.
	Observer Observer
}

// Run renders src on w and reports what it rendered. After the source's
// own error, an error writing w is the error.
func Run(ctx context.Context, w io.Writer, src Source, o Options) (RenderStats, error) {
	s := NewSession(w, SessionOptions{Render: o.Render, Record: o.Record, Observer: o.Observer})
	err := src.Inspect(ctx, s)
	if serr := s.Err(); serr != nil && err == nil {
		err = serr
	}
	return s.Stats(), err
}
