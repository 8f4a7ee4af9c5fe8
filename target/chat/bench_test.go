package chat

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/wsbench/wsbench/target/history"
)

// countOutbox counts deliveries, like a server core that only queues.
type countOutbox struct{ frames, bytes atomic.Int64 }

func (o *countOutbox) Deliver(to []ConnID, payload []byte, class Class) {
	o.frames.Add(int64(len(to)))
	o.bytes.Add(int64(len(payload)))
}
func (o *countOutbox) Close(ConnID, uint16, string) {}

func benchRoom(b *testing.B, cfg Config, members int) (*Hub, *countOutbox) {
	out := &countOutbox{}
	h, err := NewHub(cfg, out)
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= members; i++ {
		id := ConnID(i)
		h.Handle(id, fmt.Appendf(nil, `{"op":"nick","name":"u%d"}`, i))
		h.Handle(id, []byte(`{"op":"join","room":"bench"}`))
	}
	return h, out
}

// BenchmarkSay measures one say fanned out to a room: the payload is encoded
// once and handed to Deliver once, so allocs/op must not grow with the room
// (0 allocs/op in steady state for memory-only history).
func BenchmarkSay(b *testing.B) {
	msg := []byte(`{"op":"say","room":"bench","text":"hello, world","ts":1732230000000000000,"seq":42}`)
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h, out := benchRoom(b, Config{}, n)
			out.frames.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.Handle(1, msg)
			}
			b.ReportMetric(float64(out.frames.Load())/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
	b.Run("members=1000/exclude_self", func(b *testing.B) {
		h, _ := benchRoom(b, Config{}, 1000)
		m := []byte(`{"op":"say","room":"bench","text":"hello","exclude_self":true,"seq":1}`)
		b.ReportAllocs()
		for b.Loop() {
			h.Handle(1, m)
		}
	})
}

// BenchmarkSayParallel runs says from many connections of one room at once.
func BenchmarkSayParallel(b *testing.B) {
	h, _ := benchRoom(b, Config{}, 100)
	var next atomic.Uint64
	msg := []byte(`{"op":"say","room":"bench","text":"hello","seq":1}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		id := ConnID(next.Add(1)%100 + 1)
		for pb.Next() {
			h.Handle(id, msg)
		}
	})
}

// BenchmarkSayPersisted is BenchmarkSay with a bbolt store and acks (an ack
// waits for the commit, so it costs a callback and a small frame).
func BenchmarkSayPersisted(b *testing.B) {
	st, err := history.OpenBolt(filepath.Join(b.TempDir(), "h.db"), history.BoltOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	h, _ := benchRoom(b, Config{Store: st}, 10)
	msg := []byte(`{"op":"say","room":"bench","text":"hello, world","seq":42,"id":7}`)
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(1, msg)
	}
	b.StopTimer()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkEcho(b *testing.B) {
	h, _ := benchRoom(b, Config{}, 1)
	msg := []byte(`{"op":"echo","ts":1732230000000000000,"seq":42,"payload":"xxxxxxxxxxxxxxxxxxxxxxxx"}`)
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(1, msg)
	}
}

// BenchmarkParse compares the hand-written scanner with encoding/json into a
// struct with RawMessage pass-through (the alternative the design weighed).
func BenchmarkParse(b *testing.B) {
	msg := []byte(`{"op":"say","room":"bench","text":"hello, world","ts":1732230000000000000,"seq":42,"id":"abc"}`)
	b.Run("scanner", func(b *testing.B) {
		var r request
		b.ReportAllocs()
		for b.Loop() {
			if !r.parse(msg) {
				b.Fatal("parse failed")
			}
			if _, ok := r.str(kOp); !ok {
				b.Fatal("no op")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(msg, &m); err != nil {
				b.Fatal(err)
			}
			var op string
			if err := json.Unmarshal(m["op"], &op); err != nil {
				b.Fatal(err)
			}
		}
	})
}
