package inspect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// FuzzParseFrame: no input panics; a decoded frame is consistent with its
// bytes; the Decoder accepts whatever ParseFrame returns.
func FuzzParseFrame(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder()
		d.Handshake(1, []byte("HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"))
		rest := b
		for len(rest) > 0 {
			fr, n, err := ParseFrame(rest)
			if err != nil {
				var fe *FrameError
				if !errors.As(err, &fe) || fe.Offset > len(rest) {
					t.Fatalf("error %v", err)
				}
				return
			}
			if n <= 0 || n > len(rest) || n != fr.Size() || uint64(len(fr.Payload)) != fr.Length || len(fr.Wire) != len(fr.Payload) {
				t.Fatalf("frame of %d bytes: header %d, payload %d, length %d", n, len(fr.Header), len(fr.Payload), fr.Length)
			}
			for i := range fr.Payload {
				k := byte(0)
				if fr.Masked {
					k = fr.Key[i&3]
				}
				if fr.Payload[i]^k != fr.Wire[i] {
					t.Fatalf("payload byte %d not unmasked", i)
				}
			}
			if q := string(appendQuoted(nil, fr.Payload)); q != strconv.Quote(string(fr.Payload)) {
				t.Fatalf("appendQuoted %s, strconv.Quote %s", q, strconv.Quote(string(fr.Payload)))
			}
			a := d.Frame(1, trace.ClientToServer, &fr)
			checkJSONFast(t, &fr, &a, rest[:n])
			_ = d.Frame(2, trace.ServerToClient, &fr)
			if a.UTF8Checked && a.UTF8Valid {
				for _, v := range a.Violations {
					if v.Tag == TagInvalidUTF8 {
						t.Fatalf("valid UTF-8 with an invalid-utf8 tag: %v", v)
					}
				}
			}
			rest = rest[n:]
		}
	})
}

// FuzzReader: no trace file panics the reader or the renderings; damage is
// always a *FormatError.
func FuzzReader(f *testing.F) {
	for _, s := range traceSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, o := range []RenderOptions{{}, {JSON: true, MaxPayload: 8}, {Color: true, Grep: regexp.MustCompile("a"), Opcodes: []uint8{1, 2}}} {
			_, err := Render(io.Discard, bytes.NewReader(b), o)
			var fe *trace.FormatError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			if fe != nil && (fe.Offset < 0 || fe.Offset > int64(len(b))) {
				t.Fatalf("error offset %d outside a %d-byte input", fe.Offset, len(b))
			}
		}
	})
}

// maxSeed keeps big inputs out of the corpora: they slow fuzzing down
// without reaching new code.
const maxSeed = 4096

// traceSeeds are the traces of the rendering cases.
func traceSeeds() [][]byte {
	var out [][]byte
	for _, c := range renderCases() {
		if len(c.trace) <= maxSeed {
			out = append(out, c.trace)
		}
	}
	return out
}

// frameSeeds are the frames of the rendering cases.
func frameSeeds() [][]byte {
	var out [][]byte
	for _, c := range renderCases() {
		r, err := trace.NewReader(bytes.NewReader(c.trace))
		if err != nil {
			panic(err)
		}
		for {
			rec, err := r.Next()
			if err != nil {
				break
			}
			if rec.Kind == trace.KindFrame && len(rec.Raw) <= maxSeed {
				out = append(out, rec.Raw)
			}
		}
	}
	return out
}

// TestFuzzCorpus keeps the seed corpora under testdata/fuzz in step with
// the test cases; -update rewrites them.
func TestFuzzCorpus(t *testing.T) {
	corpora := map[string][][]byte{"FuzzParseFrame": frameSeeds()}
	corpora["FuzzReader"] = traceSeeds()
	corpora["FuzzReadHAR"] = harSeeds()
	for name, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", name)
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
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, "seed-*"))
		if err != nil || len(files) != len(seeds) {
			t.Errorf("%s: %d seed files, want %d (run with -update)", dir, len(files), len(seeds))
		}
	}
}

// checkJSONFast: the JSON fast path writes what encoding/json writes.
func checkJSONFast(t *testing.T, fr *Frame, a *Analysis, raw []byte) {
	t.Helper()
	if len(a.Violations) > 0 || a.Close != nil || a.Compressed {
		return
	}
	for _, max := range []int{0, 3} {
		var fast, slow bytes.Buffer
		rec := trace.Record{Kind: trace.KindFrame, Conn: 7, Dir: trace.ServerToClient, Time: 1234, StreamOffset: 99, Raw: raw}
		rd := &renderer{w: bufio.NewWriter(&fast), o: RenderOptions{MaxPayload: max, JSON: true}}
		rd.jsonFrameFast(5, &rec, fr, a)
		_ = rd.w.Flush()
		rd = &renderer{w: bufio.NewWriter(&slow), o: RenderOptions{MaxPayload: max, JSON: true}}
		rd.jsonFrameRecord(5, &rec, fr, len(raw), nil, a)
		_ = rd.w.Flush()
		if fast.String() != slow.String() {
			t.Fatalf("JSON fast path:\n%s\nencoding/json:\n%s", fast.String(), slow.String())
		}
	}
}

// TestJSONString: wsproto.AppendJSONString (what the JSON renderer uses) agrees with encoding/json on awkward
// strings.
func TestJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "<&>", "caf\xc3\x28", "\xff\xfe", "\u2028\u2029", "ünïcödé 日本 🎉", "\xed\xa0\x80"} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got, want := string(wsproto.AppendJSONString(nil, []byte(s))), strings.TrimSuffix(buf.String(), "\n"); got != want {
			t.Errorf("%q: got %s, encoding/json %s", s, got, want)
		}
	}
}
