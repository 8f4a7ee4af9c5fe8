package inspect

// render.go turns a trace into what `wsbench inspect` prints: per frame a
// summary line and hex + ASCII dumps (text), or one JSON object per record
// (JSON Lines), with filters by connection, direction, opcode and payload.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// DefaultMaxPayload is how many payload bytes a rendering shows per frame.
const DefaultMaxPayload = 256

// RenderOptions select and shape what Run prints.
type RenderOptions struct {
	// MaxPayload bounds the payload bytes dumped per frame; longer payloads
	// are cut with a note. 0 shows everything.
	MaxPayload int
	Conns      []uint64       // only these connections; empty = all
	Dirs       []trace.Dir    // only these directions; empty = both
	Opcodes    []uint8        // only frames with these opcodes; empty = all
	Grep       *regexp.Regexp // only frames whose unmasked payload matches; nil = all
	JSON       bool           // JSON Lines instead of text
	Color      bool           // ANSI colours in the text rendering
}

// RenderStats count what Run rendered.
type RenderStats struct {
	Frames     int // frame records read
	Shown      int // frames that passed the filters
	Violations int // violations among the shown frames
}

// ANSI colours of the text rendering.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiPurple = "\x1b[35m"
	ansiDim    = "\x1b[2m"
)

type renderer struct {
	// line and unmasked are reused from frame to frame, so that rendering
	// a frame allocates nothing in the common case (BenchmarkSessionData).
	line         []byte
	unmasked     []byte
	w            *bufio.Writer
	o            RenderOptions
	dec          *Decoder
	stats        RenderStats
	ended        bool
	onViolations func(conn uint64, dir trace.Dir, vs []Violation) // live sessions
	obs          Observer                                         // nil: none
	gathers      map[streamKey]*gather                            // messages being gathered for obs
}

func (rd *renderer) run(r io.Reader) error {
	tr, err := trace.NewReader(r)
	if err != nil {
		rd.errorLine(err)
		return err
	}
	rd.observeStart(tr.Header().Start)
	if rd.o.JSON {
		rd.json(jsonRecord{Type: "header", Version: int(tr.Header().Version), Start: tr.Header().Start.UTC().Format(time.RFC3339Nano)})
	} else {
		rd.note("trace v%d recorded %s", tr.Header().Version, tr.Header().Start.UTC().Format(time.RFC3339Nano))
	}
	for {
		rec, err := tr.Next()
		if err == io.EOF {
			if !rd.ended {
				if rd.o.JSON {
					rd.json(jsonRecord{Type: "unfinished"})
				} else {
					rd.note("no end record: the recording was not closed (interrupted?)")
				}
			}
			return nil
		}
		if err != nil {
			rd.errorLine(err)
			return err
		}
		switch rec.Kind {
		case trace.KindHandshake:
			rd.handshake(&rec)
		case trace.KindFrame:
			rd.frame(&rec)
		case trace.KindDropped:
			rd.dec.Dropped(rec.Conn, rec.Dir)
			rd.dropObserved(rec.Conn, rec.Dir)
			if rd.connOK(rec.Conn) && rd.dirOK(rec.Dir) {
				if rd.o.JSON {
					rd.json(jsonRecord{Type: "dropped", T: ns(rec.Time), Conn: rec.Conn, Dir: rec.Dir.String(), Frames: rec.Frames, Bytes: rec.Bytes})
				} else {
					rd.note("%s c%d %s %d frame(s), %d byte(s) not recorded (the trace writer was behind, a frame too large to decode live, or bytes not decoded after a gap)", secs(rec.Time), rec.Conn, rec.Dir, rec.Frames, rec.Bytes)
				}
			}
		case trace.KindLimit:
			if rd.o.JSON {
				rd.json(jsonRecord{Type: "limit", T: ns(rec.Time), Cap: rec.Cap})
			} else {
				rd.note("%s size cap of %d bytes reached: recording stopped", secs(rec.Time), rec.Cap)
			}
		case trace.KindEnd:
			rd.ended = true
			if rd.o.JSON {
				rd.json(jsonRecord{Type: "end", T: ns(rec.Time), Frames: rec.Frames, Dropped: rec.Dropped, PastCap: rec.PastCap, Conns: rec.Conns})
			} else {
				rd.note("%s end: %d frame(s) recorded, %d dropped, %d past the size cap, %d connection(s)", secs(rec.Time), rec.Frames, rec.Dropped, rec.PastCap, rec.Conns)
			}
		}
	}
}

func (rd *renderer) connOK(c uint64) bool {
	return len(rd.o.Conns) == 0 || slices.Contains(rd.o.Conns, c)
}
func (rd *renderer) dirOK(d trace.Dir) bool {
	return len(rd.o.Dirs) == 0 || slices.Contains(rd.o.Dirs, d)
}

func (rd *renderer) paint(code, s string) string {
	if !rd.o.Color {
		return s
	}
	return code + s + ansiReset
}

func (rd *renderer) note(format string, args ...any) {
	fmt.Fprintln(rd.w, rd.paint(ansiYellow, "-- "+fmt.Sprintf(format, args...)))
}

// errorLine shows err; a FormatError's or CaptureError's offset and
// expectation become JSON fields of their own.
func (rd *renderer) errorLine(err error) {
	if rd.o.JSON {
		j := jsonRecord{Type: "error", Error: err.Error()}
		var fe *trace.FormatError
		var ce *CaptureError
		switch {
		case errors.As(err, &fe):
			off := fe.Offset
			j.Offset, j.Expected = &off, fe.Expected
		case errors.As(err, &ce):
			off := ce.Offset
			j.Offset, j.Expected = &off, ce.Expected
		}
		rd.json(j)
		return
	}
	fmt.Fprintln(rd.w, rd.paint(ansiRed, "!! "+err.Error()))
}

func secs(d time.Duration) string {
	return "+" + strconv.FormatFloat(d.Seconds(), 'f', 6, 64) + "s"
}

// handshake tells the Decoder what the upgrade negotiated and shows it.
func (rd *renderer) handshake(rec *trace.Record) {
	pmd, perr := rd.dec.Handshake(rec.Conn, rec.Response)
	if rd.obs != nil {
		rd.obs.Handshake(rec.Conn, rec.Time, rec.Request, rec.Response)
	}
	if !rd.connOK(rec.Conn) || len(rd.o.Opcodes) > 0 || rd.o.Grep != nil {
		return
	}
	var vs []Violation
	if perr != nil {
		vs = append(vs, Violation{Tag: TagBadDeflate, Detail: perr.Error()})
		rd.stats.Violations++
	}
	if rd.o.JSON {
		rd.json(jsonRecord{Type: "handshake", T: ns(rec.Time), Conn: rec.Conn, Request: string(rec.Request), Response: string(rec.Response), Deflate: pmd, Violations: vs})
		return
	}
	defer func() {
		if pmd != nil {
			fmt.Fprintf(rd.w, "   ~  %s\n", deflateSummary(pmd))
		}
		for _, v := range vs {
			fmt.Fprintln(rd.w, rd.paint(ansiRed, "   !    "+v.Tag+": "+v.Detail))
		}
	}()
	fmt.Fprintf(rd.w, "%s %s c%d handshake\n", rd.paint(ansiBold, "=="), secs(rec.Time), rec.Conn)
	rd.httpLines(">", rec.Request, rd.dirOK(trace.ClientToServer))
	rd.httpLines("<", rec.Response, rd.dirOK(trace.ServerToClient))
	if len(rec.Response) == 0 {
		fmt.Fprintln(rd.w, "   <  (no response)")
	}
}

// deflateSummary says what permessage-deflate's parameters mean for the
// rendering.
func deflateSummary(p *Deflate) string {
	ctx := func(no bool) string {
		if no {
			return "no context takeover"
		}
		return "context takeover"
	}
	return fmt.Sprintf("permessage-deflate: client %s, %d-bit window; server %s, %d-bit window; compressed messages are shown inflated",
		ctx(p.ClientNoContextTakeover), p.ClientMaxWindowBits, ctx(p.ServerNoContextTakeover), p.ServerMaxWindowBits)
}

// httpLines prints an HTTP head line by line, escaping what is not
// printable ASCII.
func (rd *renderer) httpLines(mark string, b []byte, show bool) {
	if !show {
		return
	}
	s := strings.TrimSuffix(string(b), "\r\n\r\n")
	for line := range strings.SplitSeq(s, "\r\n") {
		q := strconv.QuoteToASCII(line)
		fmt.Fprintf(rd.w, "   %s %s\n", mark, q[1:len(q)-1])
	}
}

func (rd *renderer) frame(rec *trace.Record) {
	rd.stats.Frames++
	n := rd.stats.Frames
	f, size, perr := parseFrame(rec.Raw, &rd.unmasked)
	var a Analysis
	if perr == nil {
		a = rd.dec.Frame(rec.Conn, rec.Dir, &f)
	} else if fe, ok := perr.(*FrameError); ok {
		if v, ok := fe.Violation(); ok {
			a.Violations = append(a.Violations, v)
		}
	}
	if rd.obs != nil && perr == nil {
		rd.observeFrame(rec, &f, &a)
	}
	if rd.onViolations != nil && len(a.Violations) > 0 {
		defer rd.onViolations(rec.Conn, rec.Dir, a.Violations)
	}
	if !rd.connOK(rec.Conn) || !rd.dirOK(rec.Dir) {
		return
	}
	if len(rd.o.Opcodes) > 0 && (perr != nil || !slices.Contains(rd.o.Opcodes, f.Opcode)) {
		return
	}
	if rd.o.Grep != nil && (perr != nil || !rd.o.Grep.Match(f.Payload) && (a.Inflated == nil || !rd.o.Grep.Match(a.Inflated))) {
		return
	}
	rd.stats.Shown++
	rd.stats.Violations += len(a.Violations)
	if rd.o.JSON {
		rd.jsonFrame(n, rec, &f, size, perr, &a)
		return
	}
	rd.frameText(n, rec, &f, size, perr, &a)
}

// violations renders rules broken outside a decodable frame (a live
// stream that cannot be framed any further).
func (rd *renderer) violations(conn uint64, dir trace.Dir, vs []Violation) {
	if rd.onViolations != nil {
		rd.onViolations(conn, dir, vs)
	}
	if !rd.connOK(conn) || !rd.dirOK(dir) {
		return
	}
	rd.stats.Violations += len(vs)
	if rd.o.JSON {
		rd.json(jsonRecord{Type: "violation", Conn: conn, Dir: dir.String(), Violations: vs})
		return
	}
	for _, v := range vs {
		fmt.Fprintln(rd.w, rd.paint(ansiRed, "   !    "+v.Tag+": "+v.Detail))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hexBytes is b as space-separated hex pairs (for notes).
func hexBytes(b []byte) string { return string(appendHex(nil, b)) }
