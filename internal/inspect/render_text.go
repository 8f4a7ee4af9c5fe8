package inspect

// render_text.go is the text rendering of one frame, built by appending
// into a reused line buffer: relays render every frame they pass, so this
// path allocates nothing for ordinary frames (BenchmarkSessionData).

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/wsbench/wsbench/internal/trace"
)

const hexDigits = "0123456789abcdef"

// open and shut wrap a coloured span when colour is on.
func (rd *renderer) open(b []byte, code string) []byte {
	if rd.o.Color {
		b = append(b, code...)
	}
	return b
}

func (rd *renderer) shut(b []byte) []byte {
	if rd.o.Color {
		b = append(b, ansiReset...)
	}
	return b
}

// appendSecs is secs without allocating.
func appendSecs(b []byte, d time.Duration) []byte {
	b = append(b, '+')
	b = strconv.AppendFloat(b, d.Seconds(), 'f', 6, 64)
	return append(b, 's')
}

// appendHex appends b as space-separated hex pairs.
func appendHex(dst, b []byte) []byte {
	for i, c := range b {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

func (rd *renderer) frameText(n int, rec *trace.Record, f *Frame, size int, perr error, a *Analysis) {
	b := rd.line[:0]
	b = rd.open(b, ansiBold)
	b = append(b, '#')
	b = strconv.AppendInt(b, int64(n), 10)
	b = rd.shut(b)
	b = append(b, ' ')
	b = appendSecs(b, rec.Time)
	b = append(b, " c"...)
	b = strconv.AppendUint(b, rec.Conn, 10)
	b = append(b, ' ')
	if rec.Dir == trace.ServerToClient {
		b = rd.open(b, ansiPurple)
	} else {
		b = rd.open(b, ansiCyan)
	}
	b = append(b, rec.Dir.String()...)
	b = rd.shut(b)
	b = append(b, " @"...)
	b = strconv.AppendUint(b, rec.StreamOffset, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(rec.Raw)), 10)
	b = append(b, 'B')
	if perr != nil {
		b = append(b, ' ')
		b = rd.open(b, ansiRed)
		b = append(b, "undecodable: "...)
		b = append(b, perr.Error()...)
		b = rd.shut(b)
		b = append(b, '\n')
		b = rd.appendDump(b, "raw ", rec.Raw, 0)
		b = rd.appendViolations(b, a)
		rd.flushLine(b)
		return
	}
	b = append(b, " FIN="...)
	b = append(b, '0'+byte(b2i(f.Fin)))
	b = append(b, " RSV="...)
	b = append(b, '0'+(f.Rsv>>2)&1, '0'+(f.Rsv>>1)&1, '0'+f.Rsv&1)
	b = append(b, " OP=0x"...)
	b = append(b, hexDigits[f.Opcode&0xf], '(')
	b = append(b, OpcodeName(f.Opcode)...)
	b = append(b, ") MASK="...)
	b = append(b, '0'+byte(b2i(f.Masked)))
	if f.Masked {
		b = append(b, " KEY="...)
		for _, c := range f.Key {
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	b = append(b, " LEN="...)
	b = strconv.AppendUint(b, f.Length, 10)
	b = append(b, '(')
	b = append(b, f.LenForm.String()...)
	b = append(b, ')')
	if a.Message > 0 {
		b = append(b, " MSG="...)
		b = strconv.AppendInt(b, int64(a.Message), 10)
	}
	if a.Fragment > 0 {
		b = append(b, " FRAG="...)
		b = strconv.AppendInt(b, int64(a.Fragment), 10)
	}
	b = append(b, "\n   hdr  "...)
	b = appendHex(b, f.Header)
	b = append(b, '\n')
	limit := rd.o.MaxPayload
	if f.Masked {
		b = rd.appendDump(b, "wire", f.Wire, limit)
	}
	b = rd.appendDump(b, "data", f.Payload, limit)
	if limit > 0 && len(f.Payload) > limit {
		b = append(b, "   ...  "...)
		b = strconv.AppendInt(b, int64(len(f.Payload)-limit), 10)
		b = append(b, " more payload byte(s) not shown (--max-payload 0 shows all)\n"...)
	}
	if a.Inflated != nil {
		b = rd.appendDump(b, "infl", a.Inflated, limit)
		if limit > 0 && len(a.Inflated) > limit {
			b = append(b, "   ...  "...)
			b = strconv.AppendInt(b, int64(len(a.Inflated)-limit), 10)
			b = append(b, " more inflated byte(s) not shown (--max-payload 0 shows all)\n"...)
		}
	}
	b = append(b, "   =>   "...)
	b = rd.appendDescribe(b, f, a)
	b = append(b, '\n')
	b = rd.appendViolations(b, a)
	if size < len(rec.Raw) {
		b = rd.open(b, ansiRed)
		b = append(b, "   !    record holds "...)
		b = strconv.AppendInt(b, int64(len(rec.Raw)-size), 10)
		b = append(b, " byte(s) after the frame"...)
		b = rd.shut(b)
		b = append(b, '\n')
	}
	rd.flushLine(b)
}

// flushLine writes the frame's lines (the bufio.Writer keeps any error for
// the final Flush) and keeps the buffer for the next frame, unless a huge
// payload made it grow past what is worth keeping.
func (rd *renderer) flushLine(b []byte) {
	_, _ = rd.w.Write(b)
	if cap(b) > retainSplit {
		b = nil
	}
	rd.line = b[:0]
}

// appendDump appends b as lines of 16 bytes: hex, then ASCII between bars.
func (rd *renderer) appendDump(dst []byte, label string, b []byte, limit int) []byte {
	if limit > 0 && len(b) > limit {
		b = b[:limit]
	}
	for i := 0; i < len(b); i += 16 {
		chunk := b[i:min(i+16, len(b))]
		if i == 0 {
			dst = append(dst, "   "...)
			dst = append(dst, label...)
			dst = append(dst, ' ')
		} else {
			dst = append(dst, "        "...)
		}
		start := len(dst)
		dst = appendHex(dst, chunk)
		for len(dst)-start < 48 {
			dst = append(dst, ' ')
		}
		dst = append(dst, '|')
		for _, c := range chunk {
			if c < 0x20 || c >= 0x7f {
				c = '.'
			}
			dst = append(dst, c)
		}
		dst = append(dst, "|\n"...)
	}
	return dst
}

// appendDescribe appends the "=>" line: what the frame means.
func (rd *renderer) appendDescribe(b []byte, f *Frame, a *Analysis) []byte {
	utf := func(b []byte) []byte {
		switch {
		case !a.UTF8Checked:
			return b
		case a.UTF8Valid:
			return append(b, " utf8=ok"...)
		}
		return append(b, " utf8=invalid"...)
	}
	size := func(b []byte, n int) []byte {
		b = strconv.AppendInt(b, int64(n), 10)
		return append(b, 'B')
	}
	switch {
	case f.Opcode == OpText || f.Opcode == OpBinary || (f.Opcode == OpContinuation && a.Message > 0):
		b = append(b, OpcodeName(a.MsgOpcode)...)
		if a.Fragment > 0 {
			b = append(b, " fragment "...)
			b = strconv.AppendInt(b, int64(a.Fragment), 10)
			if f.Fin {
				b = append(b, " (last)"...)
			}
		}
		if a.Compressed {
			switch {
			case !a.Inflate:
				b = append(b, " compressed (permessage-deflate) "...)
				b = size(b, len(f.Payload))
				return append(b, ", inflated with the last frame"...)
			case a.Inflated == nil:
				b = append(b, " compressed (permessage-deflate) "...)
				b = size(b, len(f.Payload))
				return append(b, ", not inflated"...)
			}
			if a.MsgOpcode == OpText {
				b = append(b, ' ')
				b = rd.appendQuote(b, a.Inflated)
			}
			b = append(b, " (inflated "...)
			b = strconv.AppendInt(b, int64(a.InflatedFrom), 10)
			b = append(b, "→"...)
			b = size(b, len(a.Inflated))
			b = append(b, ')')
			return utf(b)
		}
		if a.MsgOpcode == OpText {
			b = append(b, ' ')
			b = rd.appendQuote(b, f.Payload)
			return utf(b)
		}
		b = append(b, ' ')
		return size(b, len(f.Payload))
	case f.Opcode == OpContinuation:
		b = append(b, "continuation without a message "...)
		return size(b, len(f.Payload))
	case f.Opcode == OpClose:
		switch {
		case a.Close == nil:
			b = append(b, "close (malformed payload of "...)
			b = size(b, len(f.Payload))
			return append(b, ')')
		case !a.Close.HasCode:
			return append(b, "close (no code)"...)
		}
		b = append(b, "close code="...)
		b = strconv.AppendUint(b, uint64(a.Close.Code), 10)
		b = append(b, '(')
		b = append(b, a.Close.Name...)
		b = append(b, ") reason="...)
		b = rd.appendQuote(b, f.Payload[2:])
		return utf(b)
	case f.Opcode == OpPing || f.Opcode == OpPong:
		b = append(b, OpcodeName(f.Opcode)...)
		b = append(b, " payload="...)
		return rd.appendQuote(b, f.Payload)
	}
	b = append(b, "reserved opcode 0x"...)
	b = append(b, hexDigits[f.Opcode&0xf], ' ')
	return size(b, len(f.Payload))
}

// appendQuote appends p as a Go string literal (as strconv.Quote does),
// cut at MaxPayload bytes with "..." after it.
func (rd *renderer) appendQuote(b, p []byte) []byte {
	cut := rd.o.MaxPayload > 0 && len(p) > rd.o.MaxPayload
	if cut {
		p = p[:rd.o.MaxPayload]
	}
	b = appendQuoted(b, p)
	if cut {
		b = append(b, "..."...)
	}
	return b
}

// appendQuoted is strconv.AppendQuote for bytes, without converting them
// to a string: printable runes as they are, invalid bytes as \xNN, the
// rest escaped as strconv escapes them.
func appendQuoted(b, p []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(p); {
		c := p[i]
		if c >= 0x20 && c < 0x7f {
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
			i++
			continue
		}
		r, w := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		case strconv.IsPrint(r):
			b = append(b, p[i:i+w]...)
		default:
			// strconv's escape of the rune, without its quotes.
			start := len(b)
			b = strconv.AppendQuoteRune(b, r)
			b = append(b[:start], b[start+1:len(b)-1]...)
		}
		i += w
	}
	return append(b, '"')
}

// appendViolations appends a line per rule the frame breaks.
func (rd *renderer) appendViolations(b []byte, a *Analysis) []byte {
	for _, v := range a.Violations {
		b = rd.open(b, ansiRed)
		b = append(b, "   !    "...)
		b = append(b, v.Tag...)
		b = append(b, ": "...)
		b = append(b, v.Detail...)
		b = rd.shut(b)
		b = append(b, '\n')
	}
	return b
}
