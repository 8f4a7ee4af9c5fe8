package trace

import "time"

// testStart is the start time of hand-built traces, so readings are stable.
var testStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Opcodes of the frames the tests record; the format stores frames as
// bytes and knows no opcode (internal/inspect decodes them).
const (
	opText   = 0x1
	opBinary = 0x2
)

const (
	testRequest  = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	testResponse = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)

var testKey = []byte{0x37, 0xfa, 0x21, 0x3d}

// maskedFrame builds a final client frame with a payload of less than 126
// bytes, masked with testKey.
func maskedFrame(op byte, payload []byte) []byte {
	if len(payload) > 125 {
		panic("maskedFrame: payload over 125 bytes")
	}
	b := []byte{0x80 | op, 0x80 | byte(len(payload))}
	b = append(b, testKey...)
	for i, c := range payload {
		b = append(b, c^testKey[i&3])
	}
	return b
}
