package dialer

import (
	"testing"
	"unsafe"
)

// TestConnStaysLean guards the per-connection footprint that the ≤16 KiB
// per virtual user budget depends on.
func TestConnStaysLean(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 320 {
		t.Fatalf("Conn is %d bytes; keep it lean (budget 320)", n)
	}
	t.Logf("Conn: %d bytes + %d-byte read buffer", unsafe.Sizeof(Conn{}), DefaultReadBufferSize)
}
