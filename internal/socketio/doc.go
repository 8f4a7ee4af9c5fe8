// Package socketio encodes and decodes the Engine.IO v4 and Socket.IO v5
// packets that Socket.IO v4 servers speak over the WebSocket transport. It
// is the wire layer under the scenario runner's `protocol: socketio`
// connections (scenario → socketio → dialer): one WebSocket text frame
// carries one Engine.IO packet, and an Engine.IO message packet ('4')
// carries one Socket.IO packet.
//
// The encoders append to a caller's buffer and the decoders return
// sub-slices of their input (event names, namespaces and argument JSON are
// never copied or re-encoded), so a connection that reuses its buffers
// sends and receives events without allocating. Only the open packet,
// parsed once per connection, goes through encoding/json.
//
// Supported: Engine.IO protocol 4 (EIO=4, Socket.IO server v3 and v4) over
// the WebSocket transport, and the HTTP long-polling payload framing
// (payload.go) that the reference server's Socket.IO endpoint (target/sio)
// reads and writes. Engine.IO 3 (Socket.IO v2) is not. The server side
// (target/sio) uses the same decoders and encoders: one codec for both
// ends.
package socketio
