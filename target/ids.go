package target

import (
	"unsafe"

	"github.com/wsbench/wsbench/target/chat"
)

// connIDs views a []chat.ConnID as []uint64 without copying (ConnID is a
// uint64), so a broadcast to N members costs no allocation of N IDs.
func connIDs(to []chat.ConnID) []uint64 {
	if len(to) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(to))), len(to))
}
