package inspect

// render_json.go is the JSON Lines rendering: one object per record, with
// bytes in hex, for scripts.

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// jsonRecord is one line of the JSON rendering; Type says which fields
// apply (header, handshake, frame, dropped, limit, end, unfinished, error,
// and note for the remarks of live sessions).
type jsonRecord struct {
	Type    string `json:"type"`
	Version int    `json:"version,omitempty"`
	Start   string `json:"start,omitempty"`

	N      int    `json:"n,omitempty"`
	T      *int64 `json:"t_ns,omitempty"`
	Conn   uint64 `json:"conn,omitempty"`
	Dir    string `json:"dir,omitempty"`
	Offset *int64 `json:"offset,omitempty"`
	Size   int    `json:"size,omitempty"`

	Request  string   `json:"request,omitempty"`
	Response string   `json:"response,omitempty"`
	Deflate  *Deflate `json:"deflate,omitempty"`

	Fin        *bool       `json:"fin,omitempty"`
	RSV        string      `json:"rsv,omitempty"`
	Opcode     *uint8      `json:"opcode,omitempty"`
	Op         string      `json:"op,omitempty"`
	Masked     *bool       `json:"masked,omitempty"`
	Key        string      `json:"key,omitempty"`
	Len        *uint64     `json:"len,omitempty"`
	LenForm    string      `json:"len_form,omitempty"`
	Msg        int         `json:"msg,omitempty"`
	Frag       int         `json:"frag,omitempty"`
	Compressed bool        `json:"compressed,omitempty"`
	Inflated   *string     `json:"inflated,omitempty"`
	InflOmit   int         `json:"inflated_omitted,omitempty"`
	InflSize   *int        `json:"inflated_size,omitempty"`
	CompSize   int         `json:"compressed_size,omitempty"`
	Header     string      `json:"header,omitempty"`
	Wire       string      `json:"wire,omitempty"`
	Payload    string      `json:"payload,omitempty"`
	Omitted    int         `json:"payload_omitted,omitempty"`
	Text       *string     `json:"text,omitempty"`
	UTF8       string      `json:"utf8,omitempty"`
	Close      *Close      `json:"close,omitempty"`
	Violations []Violation `json:"violations,omitempty"`
	Trailing   int         `json:"trailing_bytes,omitempty"`
	Raw        string      `json:"raw,omitempty"`

	Frames  uint64 `json:"frames,omitempty"`
	Bytes   uint64 `json:"bytes,omitempty"`
	Dropped uint64 `json:"dropped,omitempty"`
	PastCap uint64 `json:"past_cap,omitempty"`
	Conns   uint64 `json:"conns,omitempty"`
	Cap     uint64 `json:"cap,omitempty"`

	Note     string `json:"note,omitempty"`
	Expected string `json:"expected,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (rd *renderer) json(j jsonRecord) {
	enc := json.NewEncoder(rd.w)
	enc.SetEscapeHTML(false)
	// Every field is a plain value, so only the output can fail, and the
	// bufio.Writer keeps that error for Render's Flush to report.
	_ = enc.Encode(j)
}

func (rd *renderer) jsonFrame(n int, rec *trace.Record, f *Frame, size int, perr error, a *Analysis) {
	if perr == nil && len(a.Violations) == 0 && a.Close == nil && !a.Compressed && size == len(rec.Raw) {
		rd.jsonFrameFast(n, rec, f, a)
		return
	}
	rd.jsonFrameRecord(n, rec, f, size, perr, a)
}

// jsonFrameRecord writes any frame's JSON line through encoding/json.
func (rd *renderer) jsonFrameRecord(n int, rec *trace.Record, f *Frame, size int, perr error, a *Analysis) {
	off := int64(rec.StreamOffset)
	j := jsonRecord{Type: "frame", N: n, T: ns(rec.Time), Conn: rec.Conn, Dir: rec.Dir.String(), Offset: &off, Size: len(rec.Raw)}
	if perr != nil {
		j.Error = perr.Error()
		j.Raw = hex.EncodeToString(rec.Raw)
		j.Violations = a.Violations
		rd.json(j)
		return
	}
	fin, masked, op, ln := f.Fin, f.Masked, f.Opcode, f.Length
	j.Fin, j.Masked, j.Opcode, j.Len = &fin, &masked, &op, &ln
	j.RSV = fmt.Sprintf("%03b", f.Rsv)
	j.Op = OpcodeName(f.Opcode)
	if f.Masked {
		j.Key = hex.EncodeToString(f.Key[:])
	}
	j.LenForm = f.LenForm.String()
	j.Msg, j.Frag, j.Compressed = a.Message, a.Fragment, a.Compressed
	j.Header = hex.EncodeToString(f.Header)
	wire, payload := f.Wire, f.Payload
	if m := rd.o.MaxPayload; m > 0 && len(payload) > m {
		j.Omitted = len(payload) - m
		wire, payload = wire[:m], payload[:m]
	}
	if f.Masked {
		j.Wire = hex.EncodeToString(wire)
	}
	j.Payload = hex.EncodeToString(payload)
	if a.MsgOpcode == OpText && !a.Compressed && (f.Opcode == OpText || f.Opcode == OpContinuation) || f.Opcode == OpPing || f.Opcode == OpPong {
		s := string(payload) // invalid UTF-8 becomes U+FFFD; "payload" has the bytes
		j.Text = &s
	}
	if a.Inflate {
		j.CompSize = a.InflatedFrom
	}
	if a.Inflated != nil {
		infl := a.Inflated
		if m := rd.o.MaxPayload; m > 0 && len(infl) > m {
			j.InflOmit = len(infl) - m
			infl = infl[:m]
		}
		h := hex.EncodeToString(infl)
		n := len(a.Inflated)
		j.Inflated, j.InflSize = &h, &n
		if a.MsgOpcode == OpText {
			s := string(infl)
			j.Text = &s
		}
	}
	if a.UTF8Checked {
		j.UTF8 = "ok"
		if !a.UTF8Valid {
			j.UTF8 = "invalid"
		}
	}
	j.Close = a.Close
	j.Violations = a.Violations
	j.Trailing = len(rec.Raw) - size
	rd.json(j)
}

// ns is a record time for the JSON rendering: always present on records
// that have one, even at 0.
func ns(d time.Duration) *int64 {
	v := int64(d)
	return &v
}

// jsonFrameFast writes the JSON line of an ordinary frame (no violation,
// not a close, not compressed) by appending into the reused line buffer,
// byte for byte what encoding/json makes of the jsonRecord jsonFrame
// builds (TestJSONFastPath), without its allocations.
func (rd *renderer) jsonFrameFast(n int, rec *trace.Record, f *Frame, a *Analysis) {
	b := rd.line[:0]
	b = append(b, `{"type":"frame","n":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"t_ns":`...)
	b = strconv.AppendInt(b, int64(rec.Time), 10)
	if rec.Conn != 0 {
		b = append(b, `,"conn":`...)
		b = strconv.AppendUint(b, rec.Conn, 10)
	}
	b = append(b, `,"dir":"`...)
	b = append(b, rec.Dir.String()...)
	b = append(b, `","offset":`...)
	b = strconv.AppendInt(b, int64(rec.StreamOffset), 10)
	if len(rec.Raw) != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, int64(len(rec.Raw)), 10)
	}
	b = append(b, `,"fin":`...)
	b = strconv.AppendBool(b, f.Fin)
	b = append(b, `,"rsv":"`...)
	b = append(b, '0'+(f.Rsv>>2)&1, '0'+(f.Rsv>>1)&1, '0'+f.Rsv&1)
	b = append(b, `","opcode":`...)
	b = strconv.AppendUint(b, uint64(f.Opcode), 10)
	b = append(b, `,"op":"`...)
	b = append(b, OpcodeName(f.Opcode)...)
	b = append(b, `","masked":`...)
	b = strconv.AppendBool(b, f.Masked)
	if f.Masked {
		b = append(b, `,"key":"`...)
		b = hex.AppendEncode(b, f.Key[:])
		b = append(b, '"')
	}
	b = append(b, `,"len":`...)
	b = strconv.AppendUint(b, f.Length, 10)
	b = append(b, `,"len_form":"`...)
	b = append(b, f.LenForm.String()...)
	b = append(b, '"')
	if a.Message != 0 {
		b = append(b, `,"msg":`...)
		b = strconv.AppendInt(b, int64(a.Message), 10)
	}
	if a.Fragment != 0 {
		b = append(b, `,"frag":`...)
		b = strconv.AppendInt(b, int64(a.Fragment), 10)
	}
	b = append(b, `,"header":"`...)
	b = hex.AppendEncode(b, f.Header)
	b = append(b, '"')
	wire, payload := f.Wire, f.Payload
	omitted := 0
	if m := rd.o.MaxPayload; m > 0 && len(payload) > m {
		omitted = len(payload) - m
		wire, payload = wire[:m], payload[:m]
	}
	if f.Masked && len(wire) > 0 {
		b = append(b, `,"wire":"`...)
		b = hex.AppendEncode(b, wire)
		b = append(b, '"')
	}
	if len(payload) > 0 {
		b = append(b, `,"payload":"`...)
		b = hex.AppendEncode(b, payload)
		b = append(b, '"')
	}
	if omitted != 0 {
		b = append(b, `,"payload_omitted":`...)
		b = strconv.AppendInt(b, int64(omitted), 10)
	}
	if a.MsgOpcode == OpText && (f.Opcode == OpText || f.Opcode == OpContinuation) || f.Opcode == OpPing || f.Opcode == OpPong {
		b = append(b, `,"text":`...)
		b = wsproto.AppendJSONString(b, payload)
	}
	if a.UTF8Checked {
		if a.UTF8Valid {
			b = append(b, `,"utf8":"ok"`...)
		} else {
			b = append(b, `,"utf8":"invalid"`...)
		}
	}
	b = append(b, "}\n"...)
	rd.flushLine(b)
}
