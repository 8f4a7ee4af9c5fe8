package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// pcapSeeds are captures good and bad: the golden one, as pcapng, cut
// short, plain HTTP only, with a gap, IPv4 and IPv6 fragmented.
func pcapSeeds(t testing.TB) [][]byte {
	good := goldenCapture(t)
	gap := newConv(t, captureStart, "10.0.0.1", "10.0.0.2", 51000, 9999)
	conversation(t, gap, scriptedEvents(), 3, true)
	frag4 := newConv(t, captureStart, "10.0.0.1", "10.0.0.2", 51000, 9999)
	frag4.fragMTU = 64
	conversation(t, frag4, scriptedEvents()[:4], -1, false)
	frag6 := newConv(t, captureStart, "fd00::1", "fd00::2", 51000, 9999)
	frag6.fragMTU = 64
	conversation(t, frag6, scriptedEvents()[:4], -1, false)
	return [][]byte{
		good,
		writePcapng(t, interleave(httpConv(t, captureStart), newConvWith(t, scriptedEvents()))),
		good[:len(good)/2],
		writePcap(t, httpConv(t, captureStart).pkts),
		writePcap(t, gap.pkts),
		good[:24],
		writePcap(t, frag4.pkts),
		writePcap(t, frag6.pkts),
	}
}

func newConvWith(t testing.TB, events []wireEvent) *tcpConv {
	c := newConv(t, captureStart.Add(time.Millisecond), "10.0.0.1", "10.0.0.2", 51000, 9999)
	conversation(t, c, events, 1, false)
	return c
}

// FuzzPcap: no capture, however damaged, panics; errors are the documented
// ones.
func FuzzPcap(f *testing.F) {
	for _, s := range pcapSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, json := range []bool{false, true} {
			var out bytes.Buffer
			st, err := RenderCapture(&out, bytes.NewReader(b), RenderOptions{MaxPayload: 16, JSON: json})
			var ce *CaptureError
			if err != nil && !errors.Is(err, ErrNoWebSocket) && !errors.As(err, &ce) {
				t.Fatalf("unexpected error %v", err)
			}
			if ce != nil && (ce.Offset < 0 || ce.Offset > int64(len(b))) {
				t.Fatalf("error offset %d outside the %d-byte input", ce.Offset, len(b))
			}
			if st.Shown > st.Frames || st.WebSockets > st.TCPStreams {
				t.Fatalf("inconsistent stats %+v", st)
			}
		}
	})
}

// TestPcapFuzzCorpus keeps testdata/fuzz/FuzzPcap in step with pcapSeeds;
// -update rewrites it.
func TestPcapFuzzCorpus(t *testing.T) {
	seeds := pcapSeeds(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzPcap")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for i, s := range seeds {
		body, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)))
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s))); string(body) != want {
			t.Errorf("seed-%02d is out of date (run with -update)", i)
		}
	}
}
