package target

import (
	"net"
	"testing"
)

// TestHalfOpenReusesAndSweeps: a returning address reuses its entry (no
// allocation per handshake), the per-address limit holds, and idle entries
// are swept once the map reaches its bound, never one still in use.
func TestHalfOpenReusesAndSweeps(t *testing.T) {
	h := newHalfOpen(2)
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	e1, ok1 := h.acquire(a)
	e2, ok2 := h.acquire(a)
	if _, ok3 := h.acquire(a); !ok1 || !ok2 || ok3 {
		t.Fatalf("limit 2: got %v %v, third allowed", ok1, ok2)
	}
	h.release(e1)
	h.release(e2)
	if n := testing.AllocsPerRun(100, func() {
		e, ok := h.acquire(a)
		if !ok {
			t.Fatal("refused after release")
		}
		h.release(e)
	}); n != 0 {
		t.Errorf("a returning address costs %v allocations per handshake, want 0", n)
	}
	held, _ := h.acquire(a) // stays in the handshake through the sweeps
	for i := range 5 * minSweep {
		e, ok := h.acquire(&net.TCPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))})
		if !ok {
			t.Fatal("refused a new address")
		}
		h.release(e)
	}
	if len(h.byIP) > minSweep {
		t.Errorf("%d entries after 5×%d idle addresses, want at most %d", len(h.byIP), minSweep, minSweep)
	}
	if h.byIP[held.ip] != held || held.n != 1 {
		t.Fatalf("the entry in use was swept or changed: %+v", h.byIP[held.ip])
	}
	if h.total.Load() != 1 {
		t.Errorf("pending %d, want 1", h.total.Load())
	}
}
