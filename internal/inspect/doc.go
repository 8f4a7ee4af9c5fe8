// Package inspect is `wsbench inspect`: WebSocket traffic from a Source
// decoded frame by frame and rendered as text or JSON Lines.
//
// Place in the data flow: a Source — a trace file (source_file.go, read
// with internal/trace.Reader), a pcap capture (pcap.go: TCP reassembly), a
// live connection (source_live.go, driven by live_prompt.go) or a relay
// (source_relay.go) — feeds a Session ──▶ per-direction splitter (live.go:
// frames as they complete) ──▶ Decoder (frame fields, RFC 6455 violations,
// permessage-deflate) ──▶ renderer (render_text.go, render_json.go), and
// internal/trace.Writer when recording. Run is the one entry point.
//
// It may use the wire (dialer, wsproto) and the trace format, never
// scenarios, reports or the server (architecture_test.go).
package inspect
