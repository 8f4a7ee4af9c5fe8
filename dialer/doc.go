// Package dialer is the client side of the wire: it opens the WebSocket
// connections that the virtual users of package scenario drive (and that
// `wsbench inspect` uses), reads and writes frames without steady-state
// allocation, and reports every frame to an optional Tap for traces. In the
// data flow of ARCHITECTURE.md it sits under the virtual user:
// scenario step → dialer.Conn → socket, and dialer.Conn ── Tap ──▶ frame trace.
//
// # Dialing
//
// A Dialer is built once from Options and shared by all virtual users; Dial
// is safe for concurrent use and made for mass dialing (tens of thousands of
// connections):
//
//	src, err := dialer.ParseSources("127.0.0.1-127.0.0.32")
//	d := dialer.NewDialer(dialer.Options{
//		Subprotocols: []string{"chat"},
//		Compression:  true, // offer permessage-deflate
//		Sources:      src,
//	})
//	c, t, err := d.Dial(ctx, "ws://127.0.0.1:8080/chat")
//	// t.Connect: TCP (+TLS) connect; t.Handshake: upgrade request → 101.
//
// The TCP (and TLS) connect is bounded by Options.ConnectTimeout and the HTTP
// upgrade by Options.HandshakeTimeout, both as socket deadlines: no goroutine
// is started per dial. An upgrade that times out, or that the context cuts
// before the response is complete (a server dripping its 101), fails with
// ErrHandshakeTimeout. The response head is capped at MaxResponseHead
// (64 KiB): past it the dial fails with ErrResponseHeadTooLarge, whatever
// the server keeps sending. A cancellable context is honoured through
// context.AfterFunc, which costs no goroutine either. The upgrade itself is
// github.com/gobwas/ws's ws.Dialer.Upgrade on the connection dialed here, so
// the two phases are timed apart. Frames the server sends together with its
// 101 response (a welcome, room history) are kept and delivered by the first
// ReadMessage calls, never lost. DialHeader adds per-connection headers
// (e.g. a token rendered per virtual user).
//
// Connections have no TCP keepalive probes (Go's net.Dialer would send one
// after 15 s of silence): a virtual user's connection carries only what its
// scenario sends, so a proxy's or server's idle timeout hits it as it would
// hit a real idle client. Scenarios that want a heartbeat send pings.
//
// Source-address spreading (Options.Sources, see ParseSources) binds each new
// connection to the next local address of a pool, round robin, so one run is
// not capped by one address's ephemeral ports. TLSConfig builds the wss://
// configuration from --insecure and a CA file.
//
// # Reading and writing
//
// Conn.ReadMessage parses frames from a small per-connection read buffer
// (Options.ReadBufferSize, 1 KiB by default) and returns a message whose
// payload points into that buffer when the frame fits (no copy), or into a
// per-connection message buffer that grows only as bytes arrive (large or
// fragmented messages). It answers pings with pongs, returns pongs as
// messages (so ping round trips can be timed), answers the peer's close frame
// and returns it as *CloseError, and enforces what RFC 6455 asks of a client:
// control frames of at most 125 bytes and never fragmented, no reserved
// opcodes, no RSV bits without a negotiated extension, well-formed
// continuation frames, valid close codes (a violation sends close 1002 and
// returns *ProtocolError), valid UTF-8 in text messages (close 1007) and
// Options.MaxMessageSize (close 1009). A server that masks its frames (which
// it must not) is tolerated: the payload is unmasked in place. A read that
// times out (SetReadDeadline) loses nothing and can be retried.
//
// Control frames (the pong answering a ping, close, ping) must be written
// within Options.ControlWriteTimeout: a server that floods pings and never
// reads fails the connection with a *StallError (kind "stall") instead of
// blocking ReadMessage for good. A pong written inside ReadMessage is also
// bounded by the read deadline, so a read returns at its deadline; the rest
// of the pong goes out first on the next read or write.
//
// WriteText, WriteBinary, Ping and SendClose build the frame (header, random
// masking key, masked copy of the payload) in a per-connection write buffer
// and hand it to the kernel in one write call, under a mutex, so one
// goroutine can send while another reads and answers pings. The caller's
// slice is never modified.
//
// With permessage-deflate negotiated (Options.Compression; both sides without
// context takeover; github.com/gobwas/ws/wsflate parses the negotiation),
// outgoing data messages are compressed and compressed incoming messages are
// inflated. Flate state is pooled per Dialer and borrowed for one message at
// a time. If the server declines, plain frames are used.
//
// # Allocation and memory
//
// In steady state, without compression and without a Tap, WriteText,
// WriteBinary, Ping and ReadMessage of messages that fit the read buffer
// allocate nothing (BenchmarkWriteText64 and BenchmarkReadText64 show 0
// allocs/op). A connection holds its read buffer, a write buffer sized to its
// frames, and a Conn of about 250 bytes; message and write buffers grown
// beyond 4 KiB for one large message are released afterwards, so a virtual
// user costs a few KiB besides its goroutines.
//
// # Errors
//
// Kind sorts any error returned here into the kinds reports count: refused,
// timeout, dns, tls, handshake (*HandshakeError: a non-101 answer or a bad
// upgrade response), reset, closed (*CloseError from the peer, EOF, or our
// own Close), protocol (*ProtocolError), stall (*StallError) and other.
//
// # Tap
//
// Options.Tap, when set, sees the raw upgrade request and response and every
// frame in both directions exactly as on the wire (header, masking key,
// masked payload), with its time. When it is nil the hot paths pay one nil
// check. A Tap that also implements TapSampler chooses per connection, at
// dial time, which connections are traced; the others pay nothing either.
package dialer
