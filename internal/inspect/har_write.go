package inspect

// har_write.go is `wsbench inspect SOURCE --har FILE`: an Observer that
// gathers the upgrades and data messages of every connection and writes
// them as a HAR 1.2 archive in Chrome's form (har.go), which Chrome
// DevTools (Network panel, import) and other HAR viewers open.

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wsbench/wsbench/internal/trace"
)

// HARWriter gathers a session for a HAR archive; it is an Observer.
type HARWriter struct {
	version string
	start   time.Time
	conns   map[uint64]*harConn
	// Text messages that were not UTF-8 (JSON strings cannot hold them:
	// their bad bytes are written as U+FFFD).
	NotUTF8 int
}

type harConn struct {
	entry   HAREntry
	started time.Time
	last    time.Time
	shook   bool
}

// NewHARWriter starts an empty archive; version is the creator version
// written into it.
func NewHARWriter(version string) *HARWriter {
	return &HARWriter{version: version, conns: make(map[uint64]*harConn)}
}

// Start implements Observer.
func (w *HARWriter) Start(at time.Time) { w.start = at }

func (w *HARWriter) conn(n uint64, at time.Time) *harConn {
	c := w.conns[n]
	if c == nil {
		c = &harConn{started: at, last: at}
		c.entry.Request = HARRequest{Method: "GET", URL: "ws://unknown/", HTTPVersion: "HTTP/1.1", Cookies: []HARNameValue{}, Headers: []HARNameValue{}, QueryString: []HARNameValue{}, HeadersSize: -1}
		c.entry.Response = HARResponse{HTTPVersion: "HTTP/1.1", Cookies: []HARNameValue{}, Headers: []HARNameValue{}, Content: HARContent{MimeType: "x-unknown"}, HeadersSize: -1}
		c.entry.ResourceType = "websocket"
		c.entry.Messages = []HARWSMessage{}
		w.conns[n] = c
	}
	return c
}

// Handshake implements Observer.
func (w *HARWriter) Handshake(conn uint64, t time.Duration, request, response []byte) {
	at := w.start.Add(t)
	c := w.conn(conn, at)
	c.shook, c.started = true, at
	if c.last.Before(at) {
		c.last = at
	}
	req := ParseHead(request)
	rq := &c.entry.Request
	if req.Method != "" {
		rq.Method = req.Method
	}
	if req.Proto != "" {
		rq.HTTPVersion = req.Proto
	}
	rq.URL = requestURL(&req)
	if u, err := url.Parse(rq.URL); err == nil {
		for _, k := range sortedKeys(u.Query()) {
			for _, v := range u.Query()[k] {
				rq.QueryString = append(rq.QueryString, HARNameValue{Name: k, Value: v})
			}
		}
	}
	rq.Headers = harHeaders(req.Headers)
	rq.HeadersSize = len(request)
	if len(response) == 0 {
		return
	}
	rsp := ParseHead(response)
	rs := &c.entry.Response
	rs.Status, rs.StatusText = rsp.Status, rsp.Reason
	if rsp.Proto != "" {
		rs.HTTPVersion = rsp.Proto
	}
	rs.Headers = harHeaders(rsp.Headers)
	rs.HeadersSize = len(response)
}

// requestURL is the ws:// URL of an upgrade request: its Host and target
// (a recording does not say whether the client spoke TLS).
func requestURL(h *Head) string {
	if strings.HasPrefix(h.Target, "ws://") || strings.HasPrefix(h.Target, "wss://") {
		return h.Target
	}
	host := h.Get("Host")
	if host == "" {
		host = "unknown"
	}
	target := h.Target
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	return "ws://" + host + target
}

func harHeaders(hs []Header) []HARNameValue {
	out := make([]HARNameValue, 0, len(hs))
	for _, h := range hs {
		out = append(out, HARNameValue(h))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Message implements Observer: data messages go into the archive; control
// frames do not (browsers do not export them either).
func (w *HARWriter) Message(m *Message) {
	if m.Opcode != OpText && m.Opcode != OpBinary {
		return
	}
	at := w.start.Add(m.Time)
	c := w.conn(m.Conn, at)
	if c.last.Before(at) {
		c.last = at
	}
	hm := HARWSMessage{Type: "receive", Time: FormatHARTime(at), Opcode: int(m.Opcode)}
	if m.Dir == trace.ClientToServer {
		hm.Type = "send"
	}
	if m.Opcode == OpBinary {
		hm.Data = base64.StdEncoding.EncodeToString(m.Payload)
	} else {
		if !utf8.Valid(m.Payload) {
			w.NotUTF8++
		}
		hm.Data = string(m.Payload)
	}
	c.entry.Messages = append(c.entry.Messages, hm)
}

// Connections is how many connections the archive holds.
func (w *HARWriter) Connections() int { return len(w.conns) }

// Write writes the archive as indented JSON, connections in number order.
func (w *HARWriter) Write(out io.Writer) error {
	h := HAR{Log: HARLog{Version: "1.2", Creator: HARCreator{Name: "wsbench", Version: w.version}, Pages: []struct{}{}, Entries: []HAREntry{}}}
	nums := make([]uint64, 0, len(w.conns))
	for n := range w.conns {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for _, n := range nums {
		c := w.conns[n]
		e := c.entry
		e.StartedDateTime = harDateTime(c.started)
		e.Time = float64(c.last.Sub(c.started).Microseconds()) / 1000
		e.Timings = HARTimings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1, Send: 0, Wait: e.Time, Receive: 0}
		h.Log.Entries = append(h.Log.Entries, e)
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(h)
}
