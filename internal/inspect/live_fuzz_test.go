package inspect

import (
	"errors"
	"testing"
)

// FuzzSplitter: no stream panics the splitter; every frame it reports is
// one whole frame within the limit, events tile the stream without gaps,
// and how the bytes are chunked changes nothing.
func FuzzSplitter(f *testing.F) {
	key := []byte{9, 8, 7, 6}
	f.Add(mkFrame(true, 0, OpText, key, []byte("hello"), -1), uint8(1), uint16(1000))
	f.Add(append(mkFrame(false, 0, OpText, key, []byte("a"), 1), mkFrame(true, 0, OpContinuation, nil, make([]byte, 200), 2)...), uint8(3), uint16(100))
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x81, 0}, uint8(2), uint16(50))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8, maxFrame uint16) {
		type event struct {
			kind      byte
			off, size uint64
		}
		run := func(step int) (evs []event, rest bool) {
			var sp splitter
			var end uint64
			next := func(kind byte, off, size uint64) {
				if off != end {
					t.Fatalf("event at %d, previous one ended at %d", off, end)
				}
				end = off + size
				evs = append(evs, event{kind, off, size})
			}
			ev := splitEvents{
				frame: func(off uint64, raw []byte) {
					if _, n, err := ParseFrame(raw); err != nil || n != len(raw) || len(raw) > int(maxFrame) {
						t.Fatalf("frame at %d: %d of %d bytes parsed, limit %d: %v", off, n, len(raw), maxFrame, err)
					}
					next('f', off, uint64(len(raw)))
				},
				oversized: func(off uint64, hdr []byte, size uint64) {
					if size <= uint64(maxFrame) || len(hdr) < 2 || len(hdr) > 14 {
						t.Fatalf("oversized frame of %d bytes (limit %d), header %d bytes", size, maxFrame, len(hdr))
					}
					next('o', off, size)
				},
				broken: func(err error) {
					var fe *FrameError
					if !errors.As(err, &fe) {
						t.Fatalf("broken stream error %v is not a *FrameError", err)
					}
					evs = append(evs, event{kind: 'b', off: end})
				},
			}
			for i := 0; i < len(stream); i += step {
				sp.feed(stream[i:min(i+step, len(stream))], int(maxFrame), ev)
			}
			return evs, len(sp.buf) > 0 || sp.skip > 0
		}
		whole, wrest := run(max(len(stream), 1))
		parts, prest := run(int(chunk%32) + 1)
		if len(whole) != len(parts) || wrest != prest {
			t.Fatalf("whole: %d events (rest %v), chunked: %d (rest %v)", len(whole), wrest, len(parts), prest)
		}
		for i := range whole {
			if whole[i] != parts[i] {
				t.Fatalf("event %d: whole %+v, chunked %+v", i, whole[i], parts[i])
			}
		}
	})
}
