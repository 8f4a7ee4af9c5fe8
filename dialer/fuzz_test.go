package dialer

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// FuzzReadMessage feeds arbitrary server byte streams to a Conn. The first
// byte picks the configuration (compression, read buffer size, message
// limit). ReadMessage must never panic, must end with an error once the
// stream is exhausted, and must only return well-formed messages.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte{0x00, 0x81, 0x05, 'h', 'e', 'l', 'l', 'o'})
	f.Add(append([]byte{0x00}, append(frame(0x01, []byte("frag")), frame(0x80, []byte("ment"))...)...))
	f.Add(append([]byte{0x00}, frame(0x89, []byte("ping"))...))
	f.Add(append([]byte{0x00}, frame(0x88, []byte{0x03, 0xe8, 'o', 'k'})...))
	f.Add(append([]byte{0x02}, frame(0x82, bytes.Repeat([]byte{1}, 3000))...))
	f.Add([]byte{0x01, 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) // "Hello" deflated
	f.Add([]byte{0x00, 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x00, 0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		cfg, stream := data[0], data[1:]
		var fl *flateConn
		if cfg&1 != 0 {
			fl = &flateConn{pool: &flatePool{}}
		}
		rbuf := []int{256, 512, 2048, 4096}[(cfg>>1)&3]
		maxMsg := []int{1 << 10, 64 << 10}[(cfg>>3)&1]
		fc := &fakeConn{r: bytes.NewReader(stream)}
		c := newConn(fc, 1, rbuf, maxMsg, fl, nil, nil)
		for range len(stream) + 2 {
			m, err := c.ReadMessage()
			if err != nil {
				return
			}
			switch m.Op {
			case ws.OpText:
				if !utf8.Valid(m.Payload) {
					t.Fatalf("invalid UTF-8 text returned")
				}
			case ws.OpBinary, ws.OpPong:
			default:
				t.Fatalf("returned opcode %v", m.Op)
			}
			if len(m.Payload) > maxMsg {
				t.Fatalf("message of %d bytes over the %d limit", len(m.Payload), maxMsg)
			}
		}
		t.Fatalf("ReadMessage did not stop at the end of a %d-byte stream", len(stream))
	})
}
