package socketio

import "testing"

// BenchmarkEventRoundTrip encodes an event with an ack id into a reused
// buffer and decodes it, finding the name and the first argument: the
// per-message work of a Socket.IO connection. 0 allocs/op.
func BenchmarkEventRoundTrip(b *testing.B) {
	buf := make([]byte, 0, 256)
	ns := []byte("/chat")
	arg := []byte(`{"room":"r1","text":"hello","ts":1732230000000000000,"seq":17}`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = Append(buf[:0], Packet{Type: Event, Namespace: ns, ID: int64(i)})
		buf = append(buf, `["say",`...)
		buf = append(buf, arg...)
		buf = append(buf, ']')
		typ, data, err := SplitEngine(buf)
		if err != nil || typ != EngineMessage {
			b.Fatal(err)
		}
		pk, err := Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		name, esc, ok := EventName(pk.Data)
		if !ok || !NameEqual(name, esc, "say") {
			b.Fatal("name")
		}
		if a, ok := Arg(pk.Data, 1); !ok || len(a) != len(arg) {
			b.Fatal("arg")
		}
	}
}
