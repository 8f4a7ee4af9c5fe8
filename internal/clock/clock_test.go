package clock

import (
	"runtime"
	"testing"
)

func TestRead(t *testing.T) {
	s := Read()
	if runtime.GOOS != "linux" {
		if s.Source != "unavailable" || s.Err == "" {
			t.Fatalf("Read() = %+v on %s, want unavailable with a reason", s, runtime.GOOS)
		}
		return
	}
	if s.Source != "adjtimex" {
		t.Fatalf("Read() = %+v: adjtimex with modes 0 needs no privilege", s)
	}
	if s.MaxError < 0 || s.EstError < 0 {
		t.Fatalf("Read() = %+v: negative bounds", s)
	}
	t.Logf("clock: synced %v, maxerror %v, esterror %v", s.Synced, s.MaxError, s.EstError)
}
