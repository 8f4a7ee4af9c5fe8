package sio

import (
	"strconv"

	"github.com/wsbench/wsbench/internal/jsonscan"
	"github.com/wsbench/wsbench/internal/socketio"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// translate.go maps Socket.IO events onto the chat protocol
// (docs/protocol.md) and the hub's messages back onto Socket.IO packets.
// Both directions copy JSON values byte for byte; nothing is decoded and
// re-encoded.

// argForms says how an event's positional string arguments name chat fields.
var argForms = map[string][]string{
	"nick":  {"name"},
	"join":  {"room"},
	"leave": {"room"},
	"say":   {"room", "text"},
	"shout": {"text"},
	"dm":    {"to", "text"},
	"rooms": nil,
}

// eventError is why an event is not handed to the hub; it becomes an error
// ack (or an "error" event when the client asked for no ack).
type eventError struct{ code, message string }

// appendChatRequest appends the chat request for event (name) with the
// payload array data and ack id (socketio.NoID for none) to dst. The first
// argument may be an object, whose members are copied as they are (a say's
// pass-through fields: ts, seq…), or strings filling the fields of the
// event's positional form (say("#room", "text")). "op" and "id" are
// appended last, so a client's own op or id members do not count (the
// hub takes the last member of a name).
func appendChatRequest(dst []byte, name string, data []byte, id int64) ([]byte, *eventError) {
	form, ok := argForms[name]
	if !ok {
		return dst, &eventError{"unknown_event", "unknown event " + strconv.Quote(name) + " (nick, join, leave, say, shout, dm, rooms, echo)"}
	}
	dst = append(dst, '{')
	first, _ := socketio.Arg(data, 1)
	switch {
	case len(first) > 0 && first[0] == '{':
		inner := first[1 : len(first)-1]
		if jsonscan.SkipWS(inner, 0) < len(inner) {
			dst = append(dst, inner...)
			dst = append(dst, ',')
		}
	default:
		for i, field := range form {
			arg, ok := socketio.Arg(data, 1+i)
			if !ok {
				break // the hub answers missing_field
			}
			dst = append(dst, '"')
			dst = append(dst, field...)
			dst = append(dst, `":`...)
			dst = append(dst, arg...)
			dst = append(dst, ',')
		}
	}
	dst = append(dst, `"op":"`...)
	dst = append(dst, name...)
	dst = append(dst, '"')
	if id != socketio.NoID {
		dst = append(dst, `,"id":`...)
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, '}'), nil
}

// appendEventPacket appends the Engine.IO packet that carries the hub's
// message payload to a Socket.IO client:
//
//	{"op":"ack","id":N}                  → 43N[{"ok":true}]
//	{"op":"error","id":N,"code":…,…}     → 43N[{"ok":false,"code":…,"message":…}]
//	{"op":"X",…} (errors without id too) → 42["X",{"op":"X",…}]
//
// ok is false for a payload without a string op (the hub sends none).
func appendEventPacket(dst, payload []byte) ([]byte, bool) {
	opRaw, ok := socketio.Member(payload, "op")
	if !ok || len(opRaw) < 2 || opRaw[0] != '"' {
		return dst, false
	}
	op := opRaw[1 : len(opRaw)-1]
	switch string(op) {
	case "ack", "error":
		id, ok := socketio.Member(payload, "id")
		if !ok || !isDigits(id) {
			break // an error that answers no request: an "error" event
		}
		dst = append(dst, socketio.EngineMessage, '0'+byte(socketio.Ack))
		dst = append(dst, id...)
		if string(op) == "ack" {
			return append(dst, `[{"ok":true}]`...), true
		}
		dst = append(dst, `[{"ok":false`...)
		for _, k := range [...]string{"code", "message"} {
			if v, ok := socketio.Member(payload, k); ok {
				dst = append(dst, `,"`...)
				dst = append(dst, k...)
				dst = append(dst, `":`...)
				dst = append(dst, v...)
			}
		}
		return append(dst, `}]`...), true
	}
	dst = append(dst, socketio.EngineMessage, '0'+byte(socketio.Event), '[')
	dst = append(dst, opRaw...)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']'), true
}

// appendAck appends an ACK packet for id whose arguments are the JSON
// array args.
func appendAck(dst []byte, id int64, args []byte) []byte {
	dst = append(dst, socketio.EngineMessage, '0'+byte(socketio.Ack))
	dst = strconv.AppendInt(dst, id, 10)
	return append(dst, args...)
}

// appendErrorReply answers an event the hub never sees: an error ack when
// the client asked for one, an "error" event otherwise.
func appendErrorReply(dst []byte, id int64, e *eventError) []byte {
	if id == socketio.NoID {
		dst = append(dst, socketio.EngineMessage, '0'+byte(socketio.Event))
		dst = append(dst, `["error",{"op":"error","code":`...)
	} else {
		dst = appendAck(dst, id, nil)
		dst = append(dst, `[{"ok":false,"code":`...)
	}
	dst = strconv.AppendQuote(dst, e.code)
	dst = append(dst, `,"message":`...)
	dst = wsproto.AppendJSONString(dst, e.message)
	return append(dst, `}]`...)
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
