package history

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	r := NewRing(3)
	if r.Len() != 0 || r.Cap() != 3 {
		t.Fatalf("new ring len %d cap %d", r.Len(), r.Cap())
	}
	buf := []byte("m0")
	for i := 1; i <= 5; i++ {
		buf = fmt.Appendf(buf[:0], "m%d", i)
		r.Push(buf) // copies: reusing buf must not change the ring
	}
	var got []string
	r.Each(func(m []byte) { got = append(got, string(m)) })
	if fmt.Sprint(got) != "[m3 m4 m5]" || string(r.At(0)) != "m3" || r.Len() != 3 {
		t.Fatalf("ring holds %v", got)
	}
	if NewRing(0).Push([]byte("x")) != nil || NewRing(-1).Len() != 0 {
		t.Fatal("empty ring kept a message")
	}
}

func TestRingPushDoesNotAllocate(t *testing.T) {
	r := NewRing(4)
	msg := []byte(`{"op":"said","text":"hello"}`)
	for i := 0; i < 4; i++ {
		r.Push(msg)
	}
	if n := testing.AllocsPerRun(100, func() { r.Push(msg) }); n != 0 {
		t.Fatalf("Push allocates %v times", n)
	}
}

func openTest(t *testing.T, path string, o BoltOptions) *Bolt {
	t.Helper()
	s, err := OpenBolt(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBoltAppendLoadRetain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := openTest(t, path, BoltOptions{Retain: 5, MaxBatch: 3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	msg := make([]byte, 0, 16)
	for i := 0; i < 12; i++ {
		for _, room := range []string{"a", "b"} {
			wg.Add(1)
			msg = fmt.Appendf(msg[:0], "%s%d", room, i)
			s.Append(room, msg, func(err error) {
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	if len(failed) != 0 {
		t.Fatalf("appends failed: %v", failed)
	}
	got, err := s.Load("a", 100)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%s", got) != "[a7 a8 a9 a10 a11]" {
		t.Fatalf("room a = %s, want the last 5 in order", got)
	}
	got, _ = s.Load("b", 2)
	if fmt.Sprintf("%s", got) != "[b10 b11]" {
		t.Fatalf("room b last 2 = %s", got)
	}
	if got, err := s.Load("none", 5); err != nil || len(got) != 0 {
		t.Fatalf("unknown room = %s, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var after error
	s.Append("a", []byte("late"), func(err error) { after = err })
	if !errors.Is(after, ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", after)
	}

	// Reopened, the history is still there and sequences continue.
	s = openTest(t, path, BoltOptions{Retain: 5})
	done := make(chan error, 1)
	s.Append("a", []byte("a12"), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ = s.Load("a", 10)
	if fmt.Sprintf("%s", got) != "[a8 a9 a10 a11 a12]" {
		t.Fatalf("after reopen room a = %s", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBoltCloseFlushesPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := openTest(t, path, BoltOptions{Retain: 1000, MaxPending: 64})
	var mu sync.Mutex
	n := 0
	for i := 0; i < 500; i++ {
		s.Append("r", fmt.Appendf(nil, "m%03d", i), func(err error) {
			if err == nil {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 500 {
		t.Fatalf("%d of 500 appends acknowledged by Close", n)
	}
	s = openTest(t, path, BoltOptions{})
	defer s.Close()
	got, err := s.Load("r", 1000)
	if err != nil || len(got) != 500 || string(got[0]) != "m000" || string(got[499]) != "m499" {
		t.Fatalf("reloaded %d messages (%v)", len(got), err)
	}
}

func TestOpenBoltError(t *testing.T) {
	_, err := OpenBolt(filepath.Join(t.TempDir(), "missing-dir", "h.db"), BoltOptions{})
	if err == nil {
		t.Fatal("opening a db in a missing directory succeeded")
	}
}

// BenchmarkBoltAppend measures append throughput with group commit: many
// producers queue while the writer commits, so each transaction (and fsync)
// carries a batch.
func BenchmarkBoltAppend(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			s, err := OpenBolt(filepath.Join(b.TempDir(), "h.db"), BoltOptions{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			msg := []byte(`{"op":"said","room":"bench","from":"u1","text":"hello, world","srv_ts":1732230000000000000,"seq":42,"history":true}`)
			rooms := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}
			done := make(chan struct{}, 1024)
			var pending int
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				s.Append(rooms[i%len(rooms)], msg, func(error) { done <- struct{}{} })
				pending++
				for pending > 512 { // bound the backlog like producers waiting on acks
					<-done
					pending--
				}
			}
			for ; pending > 0; pending-- {
				<-done
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func TestRingByteBudget(t *testing.T) {
	r := NewRingBytes(10, 100)
	for i := 0; i < 10; i++ {
		r.Push(bytes.Repeat([]byte{'a' + byte(i)}, 30))
	}
	if r.Len() != 3 || r.Bytes() > 100 || string(r.At(0)[:1]) != "h" {
		t.Fatalf("ring of 30-byte messages under a 100-byte budget holds %d (%d bytes), oldest %q", r.Len(), r.Bytes(), r.At(0))
	}
	if r.Push(make([]byte, 101)) != nil || r.Len() != 3 {
		t.Fatal("a message larger than the whole budget was kept")
	}
	// A big message's buffer is not reused (and so kept alive) by a small one.
	big := NewRing(1)
	big.Push(make([]byte, 64<<10))
	big.Push([]byte("x"))
	if big.Bytes() > 1+slack {
		t.Fatalf("ring pins %d bytes for a 1-byte message", big.Bytes())
	}
	if !r.DropOldest() || r.Len() != 2 {
		t.Fatal("DropOldest")
	}
	r.Reset()
	if r.Len() != 0 || r.Bytes() != 0 || r.DropOldest() {
		t.Fatal("Reset left messages")
	}
}

func TestBoltRetainBytes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), BoltOptions{Retain: 50, RetainBytes: 100})
	defer s.Close()
	done := make(chan error, 1)
	for i := 0; i < 10; i++ {
		s.Append("r", []byte(fmt.Sprintf("%02d%s", i, bytes.Repeat([]byte{'.'}, 28))), func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load("r", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0][:2]) != "07" || string(got[2][:2]) != "09" {
		t.Fatalf("kept %d messages, first %q: want the newest 3 (100 bytes of 30-byte messages)", len(got), got[0][:2])
	}
	// The newest message is kept even when it alone is over the budget.
	s.Append("big", make([]byte, 500), func(err error) { done <- err })
	<-done
	if got, _ := s.Load("big", 5); len(got) != 1 {
		t.Fatalf("oversized newest message: kept %d", len(got))
	}
}

func TestBoltReleasesBurstBuffer(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), BoltOptions{NoSync: true})
	defer s.Close()
	done := make(chan error, 1)
	s.Append("r", make([]byte, 4*keepArena), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitSpare := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		sp := s.spare
		held := 0
		if sp != nil {
			held = cap(sp.arena)
		}
		s.mu.Unlock()
		if sp != nil {
			if held > keepArena {
				t.Fatalf("the committed batch still holds %d bytes", held)
			}
			return
		}
		if time.Now().After(waitSpare) {
			t.Fatal("the writer never handed its batch back")
		}
		time.Sleep(time.Millisecond)
	}
}
