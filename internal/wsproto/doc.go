// Package wsproto is the one home of RFC 6455's rules that more than one
// part of wsbench needs: how a frame header is laid out (ParseHeader,
// AppendHeader), the rules a single frame breaks (a 64-bit length with its
// top bit set, control frames over 125 bytes or without FIN, a length not
// in its shortest form), which close codes an endpoint may send and what
// they are called, how a close body is read and written, where text stops
// being UTF-8 (also across fragments), and how a string is escaped in JSON.
// The dialer, the reference server, inspect's decoder and the scenario
// side all ask it, so they cannot disagree; differential fuzz tests hold
// it to gobwas/ws and the standard library.
//
// It is a leaf: it imports nothing from wsbench. Nothing in it allocates
// beyond the append to a caller's buffer.
package wsproto
