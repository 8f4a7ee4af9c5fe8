package trace

// render_json.go is the JSON Lines rendering: one object per record, with
// bytes in hex, for scripts.

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
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

func (rd *renderer) jsonFrame(n int, rec *Record, f *Frame, size int, perr error, a *Analysis) {
	off := int64(rec.StreamOffset)
	j := jsonRecord{Type: "frame", N: n, T: ns(rec.Time), Conn: rec.Conn, Dir: rec.Dir.String(), Offset: &off, Size: len(rec.Raw)}
	if perr != nil {
		j.Error = perr.Error()
		j.Raw = hex.EncodeToString(rec.Raw)
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
