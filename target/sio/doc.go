// Package sio is the Socket.IO v4 endpoint of `wsbench serve`
// (/socket.io/): Engine.IO v4 sessions over HTTP long-polling and
// WebSocket, the upgrade from one to the other, the server's pings, and
// the Socket.IO namespace "/" whose events it maps onto the chat hub's
// JSON protocol (docs/socketio.md, "The built-in server"). A Socket.IO
// user is one more hub connection: it joins the same rooms, under the same
// nicknames, as the plain WebSocket users of /chat.
//
// Data flow: the server core (target) parses HTTP and WebSocket frames on
// its event loops and hands this package whole Engine.IO packets
// (Session.HandlePacket, Manager.Get/Post); this package turns events into
// chat requests for the hub (Hub.Handle) and the hub's deliveries
// (Manager.Deliver) into Socket.IO packets, queued to a session's
// WebSocket (the core's write queue, one shared frame per broadcast) or to
// its polling buffer, which a parked GET takes. No goroutine is held per
// session: one sweeper sends the pings and expires sessions. Packet
// encoding and decoding is internal/socketio's, the same codec the
// scenario runner's client uses.
package sio
