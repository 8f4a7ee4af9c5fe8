package recgen

// build.go turns one recorded connection into a script: the connect
// options and the steps a virtual user replays — each client message a
// send, the reply the client evidently waited for an expect, the pauses
// thinks.

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// stepKind is what a generated step does.
type stepKind uint8

const (
	sConnect stepKind = iota
	sThink
	sSend
	sExpect
	sEmit
	sClose
)

// step is one generated step.
type step struct {
	kind stepKind
	at   time.Duration // since the connection's start (comments)
	// send, emit
	json   *value
	text   string
	binary []byte
	// expect
	name    string
	match   *value // json subset; nil: none
	regex   string
	binOnly bool
	event   string
	latency time.Duration // recorded reply latency
	timeout time.Duration // 0: the default
	// think
	think, recorded time.Duration
	// emit
	args []*value
	ack  bool
}

// connectOpts are a script's connect options.
type connectOpts struct {
	path         string
	headers      [][2]string
	omitted      []string // secret headers left out
	subprotocols []string
	compression  bool
	socketio     bool
	namespace    string
	auth         *value
}

// script is a scenario in the making.
type script struct {
	conn    *Conn
	members []*Conn // connections merged into it (itself first)
	name    string
	connect connectOpts
	steps   []step
	sent    int
	recv    int
	notes   []string
}

// Header names the generator never writes: the upgrade's own, the
// connection's, and what browsers add by themselves.
var noiseHeaders = words("host upgrade connection sec-websocket-key sec-websocket-version sec-websocket-extensions sec-websocket-protocol content-length accept-encoding accept-language accept cache-control pragma user-agent dnt priority te keep-alive transfer-encoding via referer forwarded x-forwarded-for x-forwarded-proto x-forwarded-host x-real-ip")

// secretHeader reports whether a header carries credentials.
func secretHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "cookie", "authorization", "proxy-authorization":
		return true
	}
	return strings.Contains(n, "token") || strings.Contains(n, "api-key") || strings.Contains(n, "apikey") || strings.Contains(n, "secret") || strings.Contains(n, "auth")
}

// connectOf derives the connect options of a connection.
func connectOf(c *Conn, p *params, o *Options) connectOpts {
	var co connectOpts
	target := c.Request.Target
	if u, err := url.Parse(target); err == nil && (u.Scheme == "ws" || u.Scheme == "wss") {
		target = u.RequestURI()
	}
	if target == "" {
		target = "/"
	}
	path, query, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	co.path = escapeTemplate(path)
	if query != "" {
		co.path += "?" + p.query(escapeTemplate(query))
	}
	for _, h := range c.Request.Headers {
		n := strings.ToLower(h.Name)
		if noiseHeaders[n] || strings.HasPrefix(n, "sec-fetch-") || strings.HasPrefix(n, "sec-ch-") {
			continue
		}
		if secretHeader(h.Name) {
			if !o.KeepAuth {
				co.omitted = append(co.omitted, h.Name)
				continue
			}
			t := "{{env." + envName("WSBENCH_", h.Name) + "}}"
			p.note("header "+h.Name, "(recorded value)", t, "a credential: read from the environment (--keep-auth)")
			co.headers = append(co.headers, [2]string{h.Name, t})
			continue
		}
		co.headers = append(co.headers, [2]string{h.Name, escapeTemplate(h.Value)})
	}
	if sp := c.Request.Get("Sec-WebSocket-Protocol"); sp != "" {
		for _, s := range strings.Split(sp, ",") {
			if s = strings.TrimSpace(s); s != "" {
				co.subprotocols = append(co.subprotocols, s)
			}
		}
	}
	co.compression = strings.Contains(strings.ToLower(c.Request.Get("Sec-WebSocket-Extensions")), "permessage-deflate")
	return co
}

// isSocketIO reports whether the connection speaks Engine.IO: its upgrade
// asks for it, or the server opened with an Engine.IO open packet.
func isSocketIO(c *Conn) bool {
	if strings.Contains(c.Request.Target, "EIO=") && strings.Contains(c.Request.Target, "transport=websocket") {
		return true
	}
	for _, m := range c.Msgs {
		if !m.Send {
			return !m.Binary && bytes.HasPrefix(m.Payload, []byte(`0{"sid"`))
		}
	}
	return false
}

// buildScript makes the script of a connection.
func buildScript(c *Conn, o *Options) (*script, *params) {
	p := newParams(c, o.Iterations)
	p.off = o.NoParams
	if isSocketIO(c) {
		return buildSocketIO(c, p, o), p
	}
	s := &script{conn: c, members: []*Conn{c}}
	// Parameterise first, so the connect path can reuse identities.
	// Server messages are parsed only when one is looked at as a reply.
	vals := &lazyVals{msgs: c.Msgs, v: make([]*value, len(c.Msgs)), done: make([]bool, len(c.Msgs))}
	var clientVals []*value
	var clientAt []time.Time
	for i, m := range c.Msgs {
		if m.Send {
			clientVals = append(clientVals, vals.get(i))
			clientAt = append(clientAt, m.At)
		}
	}
	p.apply(clientVals, clientAt)
	s.connect = connectOf(c, p, o)

	s.steps = append(s.steps, step{kind: sConnect})
	cursor := c.Start
	var sends []int
	for i, m := range c.Msgs {
		if m.Send {
			sends = append(sends, i)
			s.sent++
		} else {
			s.recv++
		}
	}
	end := c.Start
	if n := len(c.Msgs); n > 0 {
		end = c.Msgs[n-1].At
	}
	// A greeting: the first server message, before the client spoke.
	firstSend := len(c.Msgs)
	if len(sends) > 0 {
		firstSend = sends[0]
	}
	if firstSend > 0 && !c.Msgs[0].Send && c.Msgs[0].At.Sub(c.Start) <= o.ReplyWindow {
		r := &c.Msgs[0]
		s.steps = append(s.steps, expectOf(nil, vals.get(0), r, "greeting", "", p, c.Start, o))
		cursor = r.At
	}
	for k, i := range sends {
		m := &c.Msgs[i]
		s.addThink(m.At.Sub(cursor), m.At.Sub(c.Start), o)
		st := step{kind: sSend, at: m.At.Sub(c.Start)}
		switch {
		case m.Binary:
			st.binary = m.Payload
		case vals.get(i) != nil:
			st.json = vals.get(i)
		default:
			st.text = escapeTemplate(string(m.Payload))
		}
		s.steps = append(s.steps, st)
		cursor = m.At
		next := len(c.Msgs)
		if k+1 < len(sends) {
			next = sends[k+1]
		}
		j, idKey := replyOf(c, vals, i, next, o)
		if j < 0 {
			continue
		}
		name := discriminator(vals.get(i))
		if name == "" {
			name = discriminator(vals.get(j))
		}
		s.steps = append(s.steps, expectOf(m, vals.get(j), &c.Msgs[j], safeName(name, "reply"), idKey, p, c.Start, o))
		if idKey != "" {
			s.steps[len(s.steps)-1].match = withID(s.steps[len(s.steps)-1].match, vals.get(i), vals.get(j), idKey)
		}
		cursor = c.Msgs[j].At
	}
	s.addThink(end.Sub(cursor), end.Sub(c.Start), o)
	s.steps = append(s.steps, step{kind: sClose, at: end.Sub(c.Start)})
	return s, p
}

// addThink adds a pause of d (recorded) as the options shape it.
func (s *script) addThink(d, at time.Duration, o *Options) {
	t := time.Duration(float64(d) * o.ThinkScale)
	if o.ThinkMax > 0 && t > o.ThinkMax {
		t = o.ThinkMax
	}
	t = t.Round(time.Millisecond)
	if t <= 0 || t < o.ThinkMin {
		return
	}
	s.steps = append(s.steps, step{kind: sThink, think: t, recorded: d, at: at})
}

// replyOf finds the reply to client message i among the server messages
// before message next (the client's next one) and within the reply
// window: the first whose id-like field equals the request's, else the
// first. It returns -1 when there is none, and the id field used.
func replyOf(c *Conn, vals *lazyVals, i, next int, o *Options) (int, string) {
	sent := c.Msgs[i].At
	first := -1
	idKey, idVal := idOf(vals.get(i))
	for j := i + 1; j < next; j++ {
		m := &c.Msgs[j]
		if m.Send || m.At.Sub(sent) > o.ReplyWindow {
			continue
		}
		if first < 0 {
			first = j
		}
		if idKey == "" {
			break
		}
		if v := vals.get(j).get(idKey); v != nil {
			if sv, ok := v.scalar(); ok && sv == idVal {
				return j, idKey
			}
		}
	}
	return first, ""
}

// idPreference orders the id-like field names: a request id before a
// sequence number.
var idPreference = strings.Fields("id requestid reqid rid cid correlationid msgid messageid ref nonce seq seqno sequence counter")

// idOf is the id-like top-level field of a request and its value.
func idOf(v *value) (string, string) {
	if v == nil || v.kind != kObj {
		return "", ""
	}
	best, key, val := len(idPreference), "", ""
	for i, k := range v.keys {
		r := slices.Index(idPreference, norm(k))
		if r < 0 || r >= best {
			continue
		}
		if sv, ok := v.vals[i].scalar(); ok {
			best, key, val = r, k, sv
		}
	}
	return key, val
}

// discriminator is the value of a message's kind field (op, type…).
func discriminator(v *value) string {
	if v == nil || v.kind != kObj {
		return ""
	}
	for i, k := range v.keys {
		if discriminatorKeys[norm(k)] && v.vals[i].kind == kStr {
			return v.vals[i].str
		}
	}
	return ""
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// safeName makes a metric or scenario name of s, or def.
func safeName(s, def string) string {
	s = strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_.-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		return def
	}
	return s
}

// expectOf is the expect for reply r (value rv) of request m (nil for a
// greeting).
func expectOf(m *Msg, rv *value, r *Msg, name, idKey string, p *params, start time.Time, o *Options) step {
	st := step{kind: sExpect, name: name, at: r.At.Sub(start)}
	from := start
	if m != nil {
		from = m.At
	}
	st.latency = r.At.Sub(from)
	if st.latency > 5*time.Second {
		st.timeout = (2 * st.latency).Round(time.Second)
	}
	switch {
	case r.Binary:
		st.binOnly = true
	case rv != nil:
		st.match = matchOf(rv, p)
	case m != nil && !m.Binary && bytes.Equal(m.Payload, r.Payload):
		st.regex = "^" + regexp.QuoteMeta(string(r.Payload)) + "$"
	}
	return st
}

// matchOf is the JSON subset an expect waits for: the reply's kind fields
// and the fields holding this VU's identities.
func matchOf(rv *value, p *params) *value {
	if rv.kind != kObj {
		return nil
	}
	m := &value{kind: kObj}
	for i, k := range rv.keys {
		v := rv.vals[i]
		switch {
		case discriminatorKeys[norm(k)] && v.kind == kStr:
			m.keys, m.vals = append(m.keys, k), append(m.vals, &value{kind: kStr, str: v.str})
		case v.kind == kStr && p.identity[v.str] != "":
			m.keys, m.vals = append(m.keys, k), append(m.vals, &value{kind: kStr, str: v.str, tmpl: p.identity[v.str]})
		}
	}
	if len(m.keys) == 0 {
		return nil
	}
	return m
}

// withID adds the correlated id to an expect's match: the request's
// field, templated as the request has it.
func withID(m *value, req, rsp *value, key string) *value {
	if m == nil {
		m = &value{kind: kObj}
	}
	if m.get(key) != nil {
		return m
	}
	v := *req.get(key)
	m.keys, m.vals = append(m.keys, key), append(m.vals, &v)
	return m
}

// b64 is binary data for a binary_base64 field.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// lazyVals parses a connection's text messages as JSON on first use.
type lazyVals struct {
	msgs []Msg
	v    []*value
	done []bool
}

// get is message i as JSON, nil when it is binary or not JSON.
func (l *lazyVals) get(i int) *value {
	if !l.done[i] {
		l.done[i] = true
		if m := &l.msgs[i]; !m.Binary {
			if v, err := parseJSON(m.Payload); err == nil {
				l.v[i] = v
			}
		}
	}
	return l.v[i]
}
