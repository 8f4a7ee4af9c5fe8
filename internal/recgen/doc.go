// Package recgen is `wsbench scenario from`: it turns recorded WebSocket
// sessions into a load-test scenario file.
//
// Place in the data flow: a source file — a wsbench trace (run --trace,
// inspect --record), a pcap or pcapng capture, a browser's HAR — is read
// through internal/inspect (collect.go, an inspect.Observer: whole
// messages of every connection) ──▶ per connection a script (build.go;
// socketio.go for Engine.IO sessions): connect options, sends, the
// expects the client evidently waited for, thinks ──▶ parameterisation
// (params.go: per-VU identities, counters, timestamps as templates) ──▶ one
// YAML file (generate.go), the same bytes for the same input.
//
// It writes scenario YAML as text and imports neither scenario nor the
// server; its tests check the output with the scenario parser and run it.
package recgen
