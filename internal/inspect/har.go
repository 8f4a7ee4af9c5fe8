package inspect

// har.go is the HTTP Archive (HAR 1.2) as browsers export it with their
// WebSocket messages: Chrome DevTools and Chromium write each socket as an
// entry with `_resourceType: "websocket"` and `_webSocketMessages`, a list
// of {type: send|receive, time: Unix seconds, opcode: 1|2, data}, binary
// data in base64. ReadHAR reads the WebSocket entries (source_har.go
// renders them); har_write.go writes them.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxHARSize bounds the HAR file ReadHAR reads into memory.
const MaxHARSize = 1 << 30

// HAR is an HTTP Archive, as far as inspect reads and writes it.
type HAR struct {
	Log HARLog `json:"log"`
}

// HARLog is the archive's log object.
type HARLog struct {
	Version string     `json:"version"`
	Creator HARCreator `json:"creator"`
	Pages   []struct{} `json:"pages"`
	Entries []HAREntry `json:"entries"`
}

// HARCreator names the program that wrote the archive.
type HARCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// HAREntry is one request of the archive; WebSocket entries carry their
// messages.
type HAREntry struct {
	StartedDateTime string         `json:"startedDateTime"`
	Time            float64        `json:"time"`
	Request         HARRequest     `json:"request"`
	Response        HARResponse    `json:"response"`
	Cache           struct{}       `json:"cache"`
	Timings         HARTimings     `json:"timings"`
	ServerIPAddress string         `json:"serverIPAddress,omitempty"`
	Connection      string         `json:"connection,omitempty"`
	ResourceType    string         `json:"_resourceType,omitempty"`
	Messages        []HARWSMessage `json:"_webSocketMessages,omitempty"`
}

// HARRequest is an entry's request.
type HARRequest struct {
	Method      string         `json:"method"`
	URL         string         `json:"url"`
	HTTPVersion string         `json:"httpVersion"`
	Cookies     []HARNameValue `json:"cookies"`
	Headers     []HARNameValue `json:"headers"`
	QueryString []HARNameValue `json:"queryString"`
	HeadersSize int            `json:"headersSize"`
	BodySize    int            `json:"bodySize"`
}

// HARResponse is an entry's response.
type HARResponse struct {
	Status      int            `json:"status"`
	StatusText  string         `json:"statusText"`
	HTTPVersion string         `json:"httpVersion"`
	Cookies     []HARNameValue `json:"cookies"`
	Headers     []HARNameValue `json:"headers"`
	Content     HARContent     `json:"content"`
	RedirectURL string         `json:"redirectURL"`
	HeadersSize int            `json:"headersSize"`
	BodySize    int            `json:"bodySize"`
}

// HARContent is a response body's description (empty for an upgrade).
type HARContent struct {
	Size     int    `json:"size"`
	MimeType string `json:"mimeType"`
}

// HARTimings are an entry's phases in milliseconds (-1: not applicable).
type HARTimings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	SSL     float64 `json:"ssl"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// HARNameValue is a header, cookie or query parameter.
type HARNameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HARWSMessage is one WebSocket message of an entry, Chrome's format.
type HARWSMessage struct {
	Type   string      `json:"type"` // "send" (client to server) or "receive"
	Time   json.Number `json:"time"` // Unix time in seconds, fractional
	Opcode int         `json:"opcode"`
	Data   string      `json:"data"` // text, or base64 for binary (opcode 2)
}

// HARSocket is a WebSocket entry as ReadHAR returns it: times parsed,
// binary data decoded.
type HARSocket struct {
	Entry    int       // index in log.entries, from 0
	Started  time.Time // startedDateTime
	URL      string
	Request  []HARNameValue
	Status   int
	Reason   string
	Response []HARNameValue
	Messages []HARMessage
}

// HARMessage is a decoded WebSocket message of a HARSocket.
type HARMessage struct {
	Send    bool // client to server
	At      time.Time
	Opcode  uint8
	Payload []byte
}

// HARError says what is wrong with a HAR file, and where.
type HARError struct {
	Offset int64  // byte offset in the file, -1 when not known
	Where  string // the JSON path, e.g. log.entries[3]._webSocketMessages[7].time
	Err    error
}

func (e *HARError) Error() string {
	var b strings.Builder
	b.WriteString("har")
	if e.Offset >= 0 {
		fmt.Fprintf(&b, ": at byte %d", e.Offset)
	}
	if e.Where != "" {
		b.WriteString(": " + e.Where)
	}
	return b.String() + ": " + e.Err.Error()
}

func (e *HARError) Unwrap() error { return e.Err }

// harFile is the skeleton ReadHAR decodes first: entries stay raw, so
// that an entry of a kind inspect does not read (a page's images) cannot
// make the file unreadable.
type harFile struct {
	Log *struct {
		Version string            `json:"version"`
		Creator HARCreator        `json:"creator"`
		Entries []json.RawMessage `json:"entries"`
	} `json:"log"`
}

// harWSEntry is what ReadHAR reads of an entry.
type harWSEntry struct {
	StartedDateTime string `json:"startedDateTime"`
	Request         struct {
		URL     string         `json:"url"`
		Headers []HARNameValue `json:"headers"`
	} `json:"request"`
	Response struct {
		Status     int            `json:"status"`
		StatusText string         `json:"statusText"`
		Headers    []HARNameValue `json:"headers"`
	} `json:"response"`
	ResourceType string         `json:"_resourceType"`
	Messages     []HARWSMessage `json:"_webSocketMessages"`
}

// ReadHAR reads the WebSocket entries of a HAR file: those with
// `_webSocketMessages`, `_resourceType: "websocket"`, or a ws:// or wss://
// URL, in file order. It returns the creator's name and version with
// them. A file that is not JSON, not a HAR, or has a WebSocket entry it
// cannot read is a *HARError.
func ReadHAR(r io.Reader) (creator string, socks []HARSocket, err error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxHARSize+1))
	if err != nil {
		return "", nil, &HARError{Offset: -1, Err: err}
	}
	if len(data) > MaxHARSize {
		return "", nil, &HARError{Offset: MaxHARSize, Err: fmt.Errorf("file larger than %d bytes", MaxHARSize)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a byte order mark
	var f harFile
	if err := json.Unmarshal(data, &f); err != nil {
		return "", nil, jsonError(err, "")
	}
	if f.Log == nil {
		return "", nil, &HARError{Offset: -1, Where: "log", Err: errors.New("no log object: not a HAR file")}
	}
	creator = strings.TrimSpace(f.Log.Creator.Name + " " + f.Log.Creator.Version)
	for i, raw := range f.Log.Entries {
		where := fmt.Sprintf("log.entries[%d]", i)
		var probe struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
			ResourceType string          `json:"_resourceType"`
			Messages     json.RawMessage `json:"_webSocketMessages"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			continue // not an entry inspect reads
		}
		u := strings.ToLower(probe.Request.URL)
		if probe.Messages == nil && probe.ResourceType != "websocket" && !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			continue
		}
		var e harWSEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return creator, nil, jsonError(err, where)
		}
		s, err := e.socket(i, where)
		if err != nil {
			return creator, nil, err
		}
		socks = append(socks, s)
	}
	return creator, socks, nil
}

// jsonError turns an encoding/json error into a HARError.
func jsonError(err error, where string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &HARError{Offset: se.Offset, Where: where, Err: fmt.Errorf("not valid JSON: %w", err)}
	case errors.As(err, &te):
		w := te.Field
		if where != "" && w != "" {
			w = where + "." + w
		} else if where != "" {
			w = where
		}
		return &HARError{Offset: -1, Where: w, Err: fmt.Errorf("a %s where a %s belongs", te.Value, te.Type)}
	}
	return &HARError{Offset: -1, Where: where, Err: err}
}

func (e *harWSEntry) socket(i int, where string) (HARSocket, error) {
	s := HARSocket{Entry: i, URL: e.Request.URL, Request: e.Request.Headers, Status: e.Response.Status, Reason: e.Response.StatusText, Response: e.Response.Headers}
	t, err := time.Parse(time.RFC3339Nano, e.StartedDateTime)
	if err != nil {
		return s, &HARError{Offset: -1, Where: where + ".startedDateTime", Err: fmt.Errorf("%q is not an ISO 8601 date and time", e.StartedDateTime)}
	}
	if t.Unix() < 0 || t.Unix() > maxHARSeconds {
		return s, &HARError{Offset: -1, Where: where + ".startedDateTime", Err: fmt.Errorf("%s is outside 1970 to 2200", e.StartedDateTime)}
	}
	s.Started = t
	for j, m := range e.Messages {
		mw := fmt.Sprintf("%s._webSocketMessages[%d]", where, j)
		var hm HARMessage
		switch m.Type {
		case "send":
			hm.Send = true
		case "receive":
		default:
			return s, &HARError{Offset: -1, Where: mw + ".type", Err: fmt.Errorf("%q: want send or receive", m.Type)}
		}
		at, err := ParseHARTime(string(m.Time))
		if err != nil {
			return s, &HARError{Offset: -1, Where: mw + ".time", Err: err}
		}
		hm.At = at
		if m.Opcode < 0 || m.Opcode > 0xf {
			return s, &HARError{Offset: -1, Where: mw + ".opcode", Err: fmt.Errorf("%d is not a WebSocket opcode (0-15)", m.Opcode)}
		}
		hm.Opcode = uint8(m.Opcode)
		hm.Payload = []byte(m.Data)
		if hm.Opcode == OpBinary {
			b, err := base64.StdEncoding.DecodeString(m.Data)
			if err != nil {
				return s, &HARError{Offset: -1, Where: mw + ".data", Err: fmt.Errorf("binary message data is not base64: %w", err)}
			}
			hm.Payload = b
		}
		if IsControl(hm.Opcode) && len(hm.Payload) > 125 {
			return s, &HARError{Offset: -1, Where: mw + ".data", Err: fmt.Errorf("a %s message of %d bytes (control payloads are at most 125)", OpcodeName(hm.Opcode), len(hm.Payload))}
		}
		s.Messages = append(s.Messages, hm)
	}
	return s, nil
}

// maxHARSeconds bounds HAR times at 2200-01-01, so that their
// nanoseconds and the durations between two of them fit int64.
const maxHARSeconds = 7258118400

// ParseHARTime reads a HAR message time: Unix seconds with a fraction, as
// Chrome writes it, exactly to the nanosecond when written in decimal.
func ParseHARTime(s string) (time.Time, error) {
	bad := fmt.Errorf("%q is not a time in Unix seconds", s)
	if s == "" {
		return time.Time{}, bad
	}
	sec, frac, dot := strings.Cut(s, ".")
	if !strings.ContainsAny(s, "eE") && sec != "" && !strings.HasPrefix(sec, "-") {
		n, err := strconv.ParseInt(sec, 10, 64)
		if err != nil || n > maxHARSeconds {
			return time.Time{}, bad
		}
		var ns int64
		if dot {
			if frac == "" || strings.Trim(frac, "0123456789") != "" {
				return time.Time{}, bad
			}
			digits := (frac + "000000000")[:9]
			ns, _ = strconv.ParseInt(digits, 10, 64)
		}
		return time.Unix(n, ns).UTC(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > maxHARSeconds || math.IsNaN(f) {
		return time.Time{}, bad
	}
	sec2, fr := math.Modf(f)
	return time.Unix(int64(sec2), int64(math.Round(fr*1e6))*1000).UTC(), nil
}

// FormatHARTime writes t as Unix seconds with microseconds, the precision
// browsers write (times before 1970 as 0).
func FormatHARTime(t time.Time) json.Number {
	us := max(t.UnixMicro(), 0)
	return json.Number(fmt.Sprintf("%d.%06d", us/1e6, us%1e6))
}

// harDateTime writes startedDateTime: ISO 8601 in UTC with microseconds.
func harDateTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00")
}
