package inspect

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// randomStream is a conversation direction of n frames: text, binary,
// fragmented messages with pings in between, random payloads and keys.
func randomStream(r *rand.Rand, n int, client bool) (stream []byte, starts []uint64) {
	key := func() []byte {
		if !client {
			return nil
		}
		return []byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
	}
	payload := func() []byte {
		p := make([]byte, r.IntN(300))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		return p
	}
	add := func(f []byte) {
		starts = append(starts, uint64(len(stream)))
		stream = append(stream, f...)
	}
	for len(starts) < n {
		switch r.IntN(4) {
		case 0:
			add(mkFrame(true, 0, OpText, key(), []byte("some text "+strconv.Itoa(r.IntN(1000))), -1))
		case 1:
			add(mkFrame(true, 0, OpBinary, key(), payload(), -1))
		case 2:
			add(mkFrame(false, 0, OpBinary, key(), payload(), -1))
			add(mkFrame(true, 0, OpPing, key(), []byte("p"), -1))
			add(mkFrame(true, 0, OpContinuation, key(), payload(), -1))
		case 3:
			add(mkFrame(true, 0, OpPong, key(), nil, -1))
		}
	}
	return stream, starts
}

// TestResyncRandomStreams cuts a gap into random streams (client and
// server, chunked as a capture would be) and checks where decoding starts
// again: never inside the gap, and on a real frame boundary.
func TestResyncRandomStreams(t *testing.T) {
	re := regexp.MustCompile(`resynchronised at stream offset (\d+)`)
	for _, client := range []bool{true, false} {
		r := rand.New(rand.NewPCG(1, 2))
		trials, exact := 200, 0
		for trial := range trials {
			stream, starts := randomStream(r, 40, client)
			gapAt := uint64(r.IntN(len(stream) / 2))
			gapLen := uint64(1 + r.IntN(500))
			dir := trace.ServerToClient
			if client {
				dir = trace.ClientToServer
			}
			var out bytes.Buffer
			s := NewSession(&out, SessionOptions{Render: RenderOptions{MaxPayload: 1}})
			t0 := time.Unix(0, 0)
			s.Data(1, dir, t0, stream[:gapAt])
			s.Gap(1, dir, t0, gapLen, "test")
			for i := gapAt + gapLen; i < uint64(len(stream)); {
				n := min(uint64(1+r.IntN(1400)), uint64(len(stream))-i)
				s.Data(1, dir, t0, stream[i:i+n])
				i += n
			}
			m := re.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("client %v trial %d: no resync:\n%s", client, trial, out.String())
			}
			at, _ := strconv.ParseUint(m[1], 10, 64)
			if at < gapAt+gapLen {
				t.Fatalf("client %v trial %d: resync at %d, inside the gap %d+%d", client, trial, at, gapAt, gapLen)
			}
			// The first real boundary after the gap.
			for _, st := range starts {
				if st >= gapAt+gapLen {
					if st == at {
						exact++
					}
					break
				}
			}
		}
		// Payloads are random bytes, so a false boundary is possible;
		// with this seed at least 95% land on the first real one.
		if exact < trials*95/100 {
			t.Errorf("client %v: %d of %d resyncs on the first frame boundary after the gap", client, exact, trials)
		}
		t.Logf("client %v: %d of %d resyncs on the first frame boundary after the gap", client, exact, trials)
	}
}

// FuzzResync: no stream or gap panics the resync; decoding starts again
// after the gap, and what follows tiles the stream with whole frames.
func FuzzResync(f *testing.F) {
	key := []byte{9, 8, 7, 6}
	s := append(mkFrame(true, 0, OpText, key, []byte("hello"), -1), mkFrame(false, 0, OpBinary, key, []byte{1, 2, 3}, -1)...)
	s = append(s, mkFrame(true, 0, OpContinuation, key, []byte{4, 5}, -1)...)
	f.Add(s, uint16(3), uint16(2), uint8(5), true)
	f.Add([]byte{0x81, 0x02, 'h', 'i', 0x8a, 0x00, 0x82, 0x7e, 0x00, 0x80}, uint16(1), uint16(1), uint8(1), false)
	f.Fuzz(func(t *testing.T, stream []byte, gapAt, gapLen uint16, chunk uint8, masked bool) {
		at := int(gapAt) % (len(stream) + 1)
		var sp splitter
		sp.resync, sp.masked, sp.resyncFrom, sp.off = true, masked, uint64(at), uint64(at)+uint64(gapLen)
		rest := stream[at:]
		end := uint64(0)
		resynced := false
		ev := splitEvents{
			frame: func(off uint64, raw []byte) {
				if !resynced {
					t.Fatal("a frame before the resync")
				}
				if _, n, err := ParseFrame(raw); err != nil || n != len(raw) {
					t.Fatalf("frame at %d: %v", off, err)
				}
				if off != end {
					t.Fatalf("frame at %d, previous ended at %d", off, end)
				}
				end = off + uint64(len(raw))
			},
			oversized: func(off uint64, _ []byte, size uint64) { end = off + size },
			broken:    func(error) {},
			resynced: func(off, passed uint64) {
				if resynced || off < uint64(at)+uint64(gapLen) || off-passed != uint64(at) {
					t.Fatalf("resync at %d after %d bytes, gap at %d+%d", off, passed, at, gapLen)
				}
				resynced, end = true, off
			},
		}
		step := int(chunk%64) + 1
		for i := 0; i < len(rest); i += step {
			sp.feed(rest[i:min(i+step, len(rest))], 1<<16, ev)
		}
		if end > uint64(at)+uint64(gapLen)+uint64(len(rest)) {
			t.Fatalf("frames end at %d, past the stream", end)
		}
	})
}

// TestGapRecorded: a recording made through a gap keeps the true stream
// offsets (what was not decoded becomes dropped records), so it renders the
// same frames at the same offsets as the live dump.
func TestGapRecorded(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	stream, _ := randomStream(r, 30, true)
	var file bytes.Buffer
	w, err := trace.NewWriter(&file, trace.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var live bytes.Buffer
	s := NewSession(&live, SessionOptions{Render: RenderOptions{MaxPayload: 1}, Record: w})
	s.Open(1)
	at := time.Now()
	s.Handshake(1, at, []byte(testRequest), []byte(testResponse))
	third := len(stream) / 3
	s.Data(1, trace.ClientToServer, at, stream[:third])
	s.Gap(1, trace.ClientToServer, at, 77, "test")
	s.Data(1, trace.ClientToServer, at, stream[third+77:])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if _, err := Render(&again, bytes.NewReader(file.Bytes()), RenderOptions{MaxPayload: 1}); err != nil {
		t.Fatal(err)
	}
	lines := func(s string) []string {
		var out []string
		for l := range strings.SplitSeq(s, "\n") {
			if strings.HasPrefix(l, "#") {
				out = append(out, l[strings.Index(l, " c1 "):]) // without the frame number and time
			}
		}
		return out
	}
	a, b := lines(live.String()), lines(again.String())
	if len(a) < 10 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("live and recorded frames differ:\n--- live\n%s\n--- recording\n%s", live.String(), again.String())
	}
	if !strings.Contains(again.String(), "not recorded") {
		t.Errorf("no dropped record in the recording:\n%s", again.String())
	}
}
