package socketio

import (
	"errors"
	"fmt"
)

// payload.go is Engine.IO v4's HTTP long-polling framing: one request or
// response body (a "payload") carries several Engine.IO packets separated
// by the record separator 0x1e. Text packets travel as they would in a
// WebSocket text frame; binary packets as 'b' + base64, which this
// package does not decode (wsbench's chat server speaks no binary events).

// RecordSeparator separates the packets of a polling payload.
const RecordSeparator byte = 0x1e

// ErrBinaryPacket reports a base64 binary packet ('b…') in a polling
// payload.
var ErrBinaryPacket = errors.New("socketio: binary packet in polling payload")

// NextPacket returns the first Engine.IO packet of a polling payload and the
// rest after its separator. ok is false when payload is empty. A packet
// that is empty, or whose type byte is not an Engine.IO type, is an error;
// so is a binary packet. It does not allocate.
func NextPacket(payload []byte) (packet, rest []byte, ok bool, err error) {
	if len(payload) == 0 {
		return nil, nil, false, nil
	}
	end := len(payload)
	for i, b := range payload {
		if b == RecordSeparator {
			end = i
			rest = payload[i+1:]
			if len(rest) == 0 {
				return nil, nil, true, fmt.Errorf("%w: polling payload ends with a separator", ErrMalformed)
			}
			break
		}
	}
	packet = payload[:end]
	if len(packet) == 0 {
		return nil, nil, true, fmt.Errorf("%w: empty packet in polling payload", ErrMalformed)
	}
	if packet[0] == 'b' {
		return nil, nil, true, ErrBinaryPacket
	}
	if _, _, err := SplitEngine(packet); err != nil {
		return nil, nil, true, err
	}
	return packet, rest, true, nil
}

// AppendPayloadPacket appends one Engine.IO packet to a polling payload
// being built in dst (the separator first, unless dst is empty).
func AppendPayloadPacket(dst, packet []byte) []byte {
	if len(dst) > 0 {
		dst = append(dst, RecordSeparator)
	}
	return append(dst, packet...)
}

// Member returns the raw JSON value of key in the JSON object obj (keys
// with escapes never match). It does not allocate.
func Member(obj []byte, key string) ([]byte, bool) { return member(obj, key) }

// Unquote returns the contents of the JSON string raw (with its quotes),
// aliasing raw when it holds no escapes.
func Unquote(raw []byte) ([]byte, bool) { return unquote(raw) }
