package recgen

// params.go finds the values of a recorded client that must differ per
// virtual user (or per message) and turns them into scenario templates:
// identities by field name ({{vu}}), counters by name and by how they
// change from message to message ({{seq}}), Unix timestamps by their
// closeness to the recording's clock ({{now_ns}} … {{now_s}}).

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Field-name rules, compared in lower case with '-' and '_' removed.
var (
	identityKeys = words("nick nickname name user username userid uid login session sessionid sid clientid player playerid email handle account accountid deviceid")
	seqKeys      = words("id seq sequence seqno msgid messageid requestid reqid rid cid correlationid nonce counter ref")
	timeKeys     = words("ts time timestamp t at date sent sentat created createdat clienttime clientts now")
	// discriminators name a message's kind; expects match on them.
	discriminatorKeys = words("op type event action kind cmd command method msgtype messagetype")
	secretQuery       = words("token accesstoken auth authorization key apikey jwt ticket signature sig password secret")
)

func words(s string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// norm is a field name as the rules compare it.
func norm(k string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))
}

// Change is one parameterisation, reported on stderr.
type Change struct {
	Conns []*Conn  // the connections it was made in
	Field string   // dotted path in the messages ("" for the upgrade)
	From  []string // the recorded values (the first few)
	To    string   // the template
	Why   string
	Count int // messages changed
	// ToVaries: merged changes of several connections had different
	// templates (each its own identity); To is the first.
	ToVaries bool
}

// params is what parameterisation decided for one connection.
type params struct {
	conn     *Conn
	identity map[string]string // recorded string → template
	changes  []*Change
	byKey    map[string]*Change
	suffix   string // appended to identities: -{{vu}}, or -{{vu}}-{{iter}}
	off      bool   // --no-params: only credentials are replaced
}

func newParams(c *Conn, iterations int) *params {
	s := "-{{vu}}"
	if iterations != 1 {
		s = "-{{vu}}-{{iter}}"
	}
	return &params{conn: c, identity: make(map[string]string), byKey: make(map[string]*Change), suffix: s}
}

func (p *params) note(field, from, to, why string) {
	k := field + "\x00" + to + "\x00" + why
	if c := p.byKey[k]; c != nil {
		c.Count++
		if len(c.From) < maxFrom && !slices.Contains(c.From, from) {
			c.From = append(c.From, from)
		}
		return
	}
	c := &Change{Conns: []*Conn{p.conn}, Field: field, From: []string{from}, To: to, Why: why, Count: 1}
	p.byKey[k] = c
	p.changes = append(p.changes, c)
}

var (
	digitSuffix = regexp.MustCompile(`^(.*?)([0-9]+)$`)
	// uuidLike and hex strings end in digits by chance: not counters.
	uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8,}(-[0-9a-fA-F]{4,})*$`)
)

// occurrence is a leaf at a path in the msg-th message.
type occurrence struct {
	msg  int
	leaf *value
}

// apply parameterises the client's messages (each a JSON tree, nil when
// not JSON) sent at the given times, setting the leaves' templates.
func (p *params) apply(msgs []*value, at []time.Time) {
	byPath := make(map[string][]occurrence)
	var paths []string
	for i, m := range msgs {
		if m == nil {
			continue
		}
		m.walk("", "", func(path, key string, leaf *value) {
			if _, ok := byPath[path]; !ok {
				paths = append(paths, path)
			}
			byPath[path] = append(byPath[path], occurrence{i, leaf})
		})
	}
	// Credentials are never written as recorded, whatever the options.
	for _, path := range paths {
		key := lastKey(path)
		if !secretQuery[norm(key)] {
			continue
		}
		for _, o := range byPath[path] {
			if o.leaf.kind == kStr && o.leaf.str != "" {
				o.leaf.tmpl = "{{env." + envName("WSBENCH_", key) + "}}"
				p.note(path, "(recorded value)", o.leaf.tmpl, "a credential: read from the environment")
			}
		}
	}
	if p.off {
		return
	}
	for _, path := range paths {
		occ := byPath[path]
		key := norm(lastKey(path))
		for _, o := range occ {
			leaf := o.leaf
			if leaf.tmpl != "" {
				continue
			}
			if t, unit := timestampTemplate(leaf, at[o.msg], timeKeys[key]); t != "" {
				leaf.tmpl = t
				p.note(path, leaf.num, t, "a Unix time in "+unit+", close to the recording's clock")
				continue
			}
			switch {
			case identityKeys[key] && leaf.kind == kStr && leaf.str != "":
				t := escapeTemplate(leaf.str) + p.suffix
				p.identity[leaf.str] = t
			case identityKeys[key] && leaf.kind == kNum:
				if _, ok := leaf.isInt(); ok {
					leaf.tmpl = "{{vu}}"
					p.note(path, leaf.num, leaf.tmpl, "an identity, by field name: one per VU")
				}
			case seqKeys[key] && leaf.kind == kNum:
				if _, ok := leaf.isInt(); ok {
					leaf.tmpl = "{{seq}}"
					p.note(path, leaf.num, leaf.tmpl, "a message id or sequence number, by field name")
				}
			case seqKeys[key] && leaf.kind == kStr:
				if m := digitSuffix.FindStringSubmatch(leaf.str); m != nil && !uuidLike.MatchString(leaf.str) {
					leaf.tmpl = escapeTemplate(m[1]) + "{{seq}}"
					p.note(path, leaf.str, leaf.tmpl, "a message id ending in a number, by field name")
				}
			}
		}
		// By behaviour: an integer that grows at most once per message.
		if counter(occ) {
			for _, o := range occ {
				if o.leaf.tmpl == "" {
					o.leaf.tmpl = "{{seq}}"
					p.note(path, o.leaf.num, "{{seq}}", "a counter: it grows with the messages")
				}
			}
		}
	}
	// Every string equal to an identity becomes its template.
	for _, m := range msgs {
		if m == nil {
			continue
		}
		m.walk("", "", func(path, _ string, leaf *value) {
			if leaf.kind == kStr && leaf.tmpl == "" {
				if t, ok := p.identity[leaf.str]; ok {
					leaf.tmpl = t
					p.note(path, leaf.str, t, "an identity, by field name: one per VU")
				}
			}
		})
	}
}

// counter reports whether the integer occurrences of a path grow by at
// least 1 and at most the number of messages in between, from one to the
// next, at least twice in a row.
func counter(occ []occurrence) bool {
	if len(occ) < 3 {
		return false
	}
	prev, prevMsg := int64(0), -1
	for i, o := range occ {
		n, ok := o.leaf.isInt()
		if !ok || o.leaf.tmpl != "" && o.leaf.tmpl != "{{seq}}" {
			return false
		}
		if i > 0 {
			d := n - prev
			if o.msg == prevMsg || d < 1 || d > int64(o.msg-prevMsg) {
				return false
			}
		}
		prev, prevMsg = n, o.msg
	}
	return true
}

func lastKey(path string) string {
	path = strings.TrimRight(path, "[]")
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// timestampTemplate is the now_* template for an integer that is a Unix
// time within a week of when the message was sent, or "" when it is not
// one. Seconds need a time-like field name (too many small numbers pass).
func timestampTemplate(v *value, sent time.Time, timeName bool) (tmpl, unit string) {
	n, ok := v.isInt()
	if !ok || n <= 0 {
		return "", ""
	}
	week := 7 * 24 * time.Hour
	units := []struct {
		tmpl, unit string
		per        int64 // per second
	}{{"{{now_ns}}", "nanoseconds", 1e9}, {"{{now_us}}", "microseconds", 1e6}, {"{{now_ms}}", "milliseconds", 1e3}, {"{{now_s}}", "seconds", 1}}
	for _, u := range units {
		if u.per == 1 && !timeName {
			continue
		}
		ref := float64(sent.UnixNano()) / 1e9 * float64(u.per)
		if math.Abs(float64(n)-ref) <= week.Seconds()*float64(u.per) {
			return u.tmpl, u.unit
		}
	}
	return "", ""
}

// query replaces identities inside a query string's values and puts
// secrets behind environment placeholders; it returns the new query.
func (p *params) query(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	for i, kv := range parts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		nk := norm(k)
		switch {
		case secretQuery[nk]:
			t := "{{env." + envName("WSBENCH_Q_", k) + "}}"
			p.note("?"+k, "(recorded value)", t, "a credential in the query: read from the environment")
			parts[i] = k + "=" + t
		case p.off:
		case p.identity[v] != "":
			parts[i] = k + "=" + p.identity[v]
			p.note("?"+k, v, p.identity[v], "an identity used in the messages: one per VU")
		case identityKeys[nk] && !strings.Contains(v, "{{"):
			t := v + p.suffix
			p.identity[v] = t
			parts[i] = k + "=" + t
			p.note("?"+k, v, t, "an identity, by parameter name: one per VU")
		}
	}
	return strings.Join(parts, "&")
}

// envName makes an environment variable name of prefix and name.
func envName(prefix, name string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range strings.ToUpper(name) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// maxFrom is how many recorded values a Change lists.
const maxFrom = 3

// mergeChanges joins the changes of one field for one reason across
// connections (every user of a recording of many did the same), in the
// order they were first made.
func mergeChanges(cs []*Change) []*Change {
	var out []*Change
	byKey := map[string]*Change{}
	for _, c := range cs {
		k := c.Field + "\x00" + c.Why
		m := byKey[k]
		if m == nil {
			m = &Change{Field: c.Field, To: c.To, Why: c.Why}
			byKey[k] = m
			out = append(out, m)
		}
		if c.To != m.To || c.ToVaries {
			m.ToVaries = true
		}
		m.Conns = append(m.Conns, c.Conns...)
		m.Count += c.Count
		for _, f := range c.From {
			if len(m.From) < maxFrom && !slices.Contains(m.From, f) {
				m.From = append(m.From, f)
			}
		}
	}
	return out
}

// String is the change as the report line says it.
func (c *Change) String() string {
	field := c.Field
	if field == "" {
		field = "(message)"
	}
	var from []string
	for _, f := range c.From {
		from = append(from, strconv.Quote(f))
	}
	if c.Count > len(c.From) {
		from = append(from, "…")
	}
	to := strconv.Quote(c.To)
	if c.ToVaries {
		to += ", …"
	}
	return fmt.Sprintf("%s: %s %s → %s: %s (%s)", connRanges(c.Conns), field, strings.Join(from, ", "), to, c.Why, plural(c.Count, "value"))
}

// connRanges names connections compactly, by source in order of
// appearance: "c1-c3, c7 of x.trace, c2 of y.har".
func connRanges(cs []*Conn) string {
	var srcs []string
	nums := map[string][]uint64{}
	for _, c := range cs {
		if _, ok := nums[c.Source]; !ok {
			srcs = append(srcs, c.Source)
		}
		nums[c.Source] = append(nums[c.Source], c.N)
	}
	var parts []string
	for _, src := range srcs {
		ns := nums[src]
		slices.Sort(ns)
		ns = slices.Compact(ns)
		var rs []string
		for i := 0; i < len(ns); {
			j := i
			for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
				j++
			}
			if j > i {
				rs = append(rs, fmt.Sprintf("c%d-c%d", ns[i], ns[j]))
			} else {
				rs = append(rs, fmt.Sprintf("c%d", ns[i]))
			}
			i = j + 1
		}
		parts = append(parts, strings.Join(rs, ", ")+" of "+filepath.Base(src))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
