//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package chat

import (
	"fmt"
	"testing"
)

func TestSteadyStateAllocations(t *testing.T) {
	for _, n := range []int{10, 1000} {
		out := &countOutbox{}
		h, err := NewHub(Config{}, out)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= n; i++ {
			h.Handle(ConnID(i), fmt.Appendf(nil, `{"op":"nick","name":"u%d"}`, i))
			h.Handle(ConnID(i), []byte(`{"op":"join","room":"#a-rather-long-room-name-of-more-than-32-bytes"}`))
		}
		for _, msg := range []string{
			`{"op":"say","room":"#a-rather-long-room-name-of-more-than-32-bytes","text":"hello","ts":1,"seq":2,"id":3}`,
			`{"op":"say","room":"#a-rather-long-room-name-of-more-than-32-bytes","text":"hello","exclude_self":true}`,
			`{"op":"shout","text":"hello","seq":2}`,
			`{"op":"dm","to":"u2","text":"hello","id":"x"}`,
			`{"op":"echo","x":1}`,
			`{"op":"bogus","id":1}`,
		} {
			b := []byte(msg)
			h.Handle(1, b) // warm the pool and the ring slots
			if a := testing.AllocsPerRun(200, func() { h.Handle(1, b) }); a != 0 {
				t.Errorf("members=%d %s: %v allocs per message, want 0", n, msg, a)
			}
		}
	}
}
