// Package trace records WebSocket wire traffic to a trace file and reads it
// back for `wsbench inspect`.
//
// Place in the data flow: dialer.Conn ── Tap ──▶ trace.Writer ──▶ trace
// file ──▶ trace.Reader ──▶ Decoder (frame fields, RFC 6455 violations) ──▶
// Renderer (text or JSON Lines). The recorder and `inspect` share this one
// package, so the format has a single definition: format.go, described for
// other tools in docs/trace-format.md.
//
// Live traffic (`wsbench inspect ws://…` through the dialer's Tap, and the
// relay's copies of each direction) goes through a Session instead: bytes ──▶
// per-direction splitter (frames as they complete) ──▶ the same Decoder and
// renderer, and the same Writer when recording (live.go).
//
// The Writer is a dialer.Tap and dialer.TapSampler: it traces a sample of
// connections, stops at a size cap and never blocks the I/O goroutines on
// the file (it copies each frame into an in-memory batch that a background
// goroutine writes out, and drops and counts frames when that batch is full).
package trace
