package target

import (
	"strconv"
	"testing"

	"github.com/wsbench/wsbench/target/sio"
)

// BenchmarkSIOBroadcast is one acked `say` emitted by a Socket.IO user into
// a room of N Socket.IO users on the WebSocket transport: Engine.IO and
// Socket.IO decoding, the chat request, the hub, one said packet and one
// shared frame for the whole room, and every member's flush: 0 allocs/op
// in steady state for any N (the packet buffer is pooled, the frame built
// once and shared).
func BenchmarkSIOBroadcast(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run("members="+strconv.Itoa(n), func(b *testing.B) {
			s := offlineServer(b, 1<<20)
			s.sio = sio.New(sio.Config{}, sioCore{s})
			b.Cleanup(s.sio.Shutdown)
			own := &listOwner{}
			sc := newScratch()
			var sender *wsConn
			for i := 0; i < n; i++ {
				c := s.offlineConn(own)
				sess, _, e := s.sio.Open("", (*sioWS)(c))
				if e != nil {
					b.Fatal(e)
				}
				c.route, c.sioSess, c.state = routeSIO, sess, stOpen
				sess.HandlePacket((*sioWS)(c), []byte(`40{"name":"u`+strconv.Itoa(i)+`"}`))
				sess.HandlePacket((*sioWS)(c), []byte(`42["join","bench"]`))
				own.flushAll(sc)
				sender = c
			}
			msg := []byte(`421["say",{"room":"bench","text":"hello everyone","ts":1700000000000000000}]`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sender.sioMessage(0x1, msg)
				own.flushAll(sc)
			}
			b.ReportMetric(float64(n), "deliveries/op")
		})
	}
}

// BenchmarkSIOEchoAck is the flood workload's server side: one `echo`
// emit with an ack decoded, answered and flushed. 0 allocs/op.
func BenchmarkSIOEchoAck(b *testing.B) {
	s := offlineServer(b, 1<<20)
	s.sio = sio.New(sio.Config{}, sioCore{s})
	b.Cleanup(s.sio.Shutdown)
	own := &listOwner{}
	sc := newScratch()
	c := s.offlineConn(own)
	sess, _, e := s.sio.Open("", (*sioWS)(c))
	if e != nil {
		b.Fatal(e)
	}
	c.route, c.sioSess, c.state = routeSIO, sess, stOpen
	sess.HandlePacket((*sioWS)(c), []byte(`40`))
	own.flushAll(sc)
	msg := []byte(`4217["echo",{"vu":1,"seq":42}]`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.sioMessage(0x1, msg)
		own.flushAll(sc)
	}
}
