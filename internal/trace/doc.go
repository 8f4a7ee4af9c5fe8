// Package trace is the trace file format: the Writer that `wsbench run
// --trace` and inspect's --record use, and the Reader that inspect renders
// from.
//
// Place in the data flow: dialer.Conn ── Tap ──▶ trace.Writer ──▶ trace
// file ──▶ trace.Reader ──▶ internal/inspect (decoder and renderers). The
// format has a single definition, format.go, described for other tools in
// docs/trace-format.md; this package stores frames as bytes and knows no
// RFC 6455 rule.
//
// The Writer is a dialer.Tap and dialer.TapSampler: it traces a sample of
// connections, stops at a size cap and never blocks the I/O goroutines on
// the file (it copies each frame into an in-memory batch that a background
// goroutine writes out, and drops and counts frames when that batch is full).
package trace
