// Package inspect is `wsbench inspect`: WebSocket traffic from a source
// (a trace file, a pcap capture, a live connection or a relay) decoded
// frame by frame and rendered as text or JSON Lines.
//
// Place in the data flow: trace file (internal/trace.Reader), capture
// (pcap.go: TCP reassembly) or live bytes (live.go: a Session's
// per-direction splitter) ──▶ Decoder (frame fields, RFC 6455 violations,
// permessage-deflate) ──▶ renderer (render_text.go, render_json.go), and
// internal/trace.Writer when recording.
//
// It may use the wire (dialer) and the trace format, never scenarios,
// reports or the server (architecture_test.go).
package inspect
