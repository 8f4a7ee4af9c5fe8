package scenario

// listener_scan.go: what a listener reads from each message it matched —
// the latency field, the sequence field and the sender — found in one pass
// over the message when all three are top-level member names (the common
// "ts", "seq", "from"), and the per-sender sequence state found without a
// map for the first senders.

import (
	"strings"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/jsonscan"
)

// Which of a listener's fields (fieldPlan.keys).
const (
	fieldLatency = iota
	fieldSeq
	fieldSender
	numFields
)

// fieldPlan is how a listener finds its fields in a message: keys holds
// LatencyField, SeqField and SenderField ("" for an unused one); onePass
// says every used one is a top-level member name (no dot), so one scan of
// the message's top-level object finds them all.
type fieldPlan struct {
	keys    [numFields]string
	onePass bool
	// When the listener's matcher is a JSON object subset and nothing else
	// (no regex, no event) and onePass holds: the matcher's keys followed
	// by keys, and the matcher's expected values, so that matching and
	// finding the fields is one pass (matchFind).
	all  []string
	want *matchNode
}

// compilePlan sets up l's fieldPlan from its Listener.
func compilePlan(l *clistener) {
	p := &l.plan
	if l.LatencyField != "" {
		p.keys[fieldLatency] = l.LatencyField
	}
	if l.SeqField != "" {
		p.keys[fieldSeq] = l.SeqField
		p.keys[fieldSender] = l.SenderField
	}
	p.onePass = true
	for _, k := range p.keys {
		if strings.Contains(k, ".") {
			p.onePass = false
		}
	}
	m := &l.Match
	if p.onePass && m.Event == "" && m.Regex == nil && m.compiled != nil && m.compiled.root.kind == matchObject &&
		!hasEmptyKey(m.compiled.root.keys) && len(m.compiled.root.keys)+numFields <= 2*maxOnePassKeys {
		p.want = &m.compiled.root
		p.all = append(append([]string(nil), p.want.keys...), p.keys[:]...)
	}
}

// matchFind is Match followed by find, in one pass over msg when the plan
// allows (all set), with Match and find otherwise. It reports whether msg
// matched; out is set only then.
func (l *clistener) matchFind(op ws.OpCode, msg []byte, v *Vars, out *[numFields][]byte) bool {
	p := &l.plan
	if p.all == nil {
		if !l.Match.Match(op, msg, v) {
			return false
		}
		p.find(l.Match.subject(msg), out)
		return true
	}
	// Match's rules for the frame type, then the object subset.
	switch op {
	case ws.OpText:
		if l.Match.Binary {
			return false
		}
	case ws.OpBinary:
	default:
		return false
	}
	var at [2 * maxOnePassKeys]int
	if !memberValues(msg, jsonscan.SkipWS(msg, 0), p.all, at[:len(p.all)]) {
		return false // not an object
	}
	nm := len(p.want.keys)
	for k, j := range at[:nm] {
		if j < 0 {
			if p.want.kids[k].kind == matchNull {
				continue // null matches an absent key too
			}
			return false
		}
		if !matchValue(msg, j, &p.want.kids[k], v) {
			return false
		}
	}
	for k, j := range at[nm:len(p.all)] {
		if j < 0 {
			continue
		}
		if end, ok := skipValue(msg, j); ok {
			out[k] = msg[j:end]
		}
	}
	return true
}

// find stores in out the raw JSON value of each used field of msg, nil for
// a field that is unused or absent.
func (p *fieldPlan) find(msg []byte, out *[numFields][]byte) {
	var at [numFields]int
	if !p.onePass || !memberValues(msg, jsonscan.SkipWS(msg, 0), p.keys[:], at[:]) {
		// Dot paths, or not an object (an array's "0" is an index).
		for k, key := range p.keys {
			if key != "" {
				out[k], _ = Lookup(msg, key)
			}
		}
		return
	}
	for k, j := range at {
		if j < 0 {
			continue
		}
		if end, ok := skipValue(msg, j); ok {
			out[k] = msg[j:end]
		}
	}
}

// memberValues finds, in one pass over the JSON object at msg[i], where the
// value of each of keys (member names; "" is skipped) starts: the first
// member of that name, as findKey would. at[k] is -1 for a key not found
// before the object ends (or stops being well formed). It reports false
// when msg[i] is not an object.
func memberValues(msg []byte, i int, keys []string, at []int) bool {
	if i >= len(msg) || msg[i] != '{' {
		return false
	}
	left := 0
	for k, key := range keys {
		at[k] = -1
		if key != "" {
			left++
		}
	}
	i++
	for left > 0 {
		i = jsonscan.SkipWS(msg, i)
		if i >= len(msg) || msg[i] != '"' {
			return true // '}' or malformed
		}
		end, esc, ok := skipString(msg, i)
		if !ok {
			return true
		}
		name := msg[i+1 : end-1]
		i = jsonscan.SkipWS(msg, end)
		if i >= len(msg) || msg[i] != ':' {
			return true
		}
		i = jsonscan.SkipWS(msg, i+1)
		if i >= len(msg) {
			return true
		}
		for k, key := range keys {
			if at[k] < 0 && key != "" && (esc || len(key) == len(name)) && jsonscan.EqualString(name, esc, key) {
				at[k] = i
				left--
			}
		}
		if left == 0 {
			break
		}
		if i, ok = skipValue(msg, i); !ok {
			return true
		}
		i = jsonscan.SkipWS(msg, i)
		if i >= len(msg) || msg[i] != ',' {
			return true
		}
		i++
	}
	return true
}

// senderTrack is one sender's sequence state on one connection.
type senderTrack struct {
	name string
	t    seqTrack
}

// senderIndexFrom is how many senders a listener tracks by linear search
// before it builds a map from name to index.
const senderIndexFrom = 16

// track returns sender's seqTrack and whether it is new (then it holds
// seq as its last number).
func (s *listenerState) track(sender []byte, seq int64) (*seqTrack, bool) {
	if s.index != nil {
		if k, ok := s.index[string(sender)]; ok { // no allocation for the lookup
			return &s.senders[k].t, false
		}
	} else {
		for k := range s.senders {
			if s.senders[k].name == string(sender) {
				return &s.senders[k].t, false
			}
		}
	}
	s.senders = append(s.senders, senderTrack{name: string(sender), t: seqTrack{last: seq}})
	switch n := len(s.senders); {
	case n > senderIndexFrom && s.index == nil:
		s.index = make(map[string]int32, 2*n)
		for k := range s.senders {
			s.index[s.senders[k].name] = int32(k)
		}
	case s.index != nil:
		s.index[s.senders[n-1].name] = int32(n - 1)
	}
	return &s.senders[len(s.senders)-1].t, true
}

// skipString is jsonscan.SkipString with the common case inline: a string
// without escapes. msg[i] is '"'.
func skipString(msg []byte, i int) (end int, esc, ok bool) {
	j := i + 1
	for j < len(msg) && msg[j] != '"' && msg[j] != '\\' {
		j++
	}
	if j < len(msg) && msg[j] == '"' {
		return j + 1, false, true
	}
	return jsonscan.SkipString(msg, i)
}

// skipValue is jsonscan.SkipValue with the common cases inline: a string
// without escapes, a number.
func skipValue(msg []byte, i int) (int, bool) {
	switch c := msg[i]; {
	case c == '"':
		end, _, ok := skipString(msg, i)
		return end, ok
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(msg) && scalarByte[msg[j]] {
			j++
		}
		return j, true
	}
	return jsonscan.SkipValue(msg, i)
}

// scalarByte: the bytes jsonscan.SkipValue takes as part of a number or
// literal.
var scalarByte = func() (t [256]bool) {
	for c := range t {
		b := byte(c)
		t[c] = b == '-' || b == '+' || b == '.' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
	}
	return t
}()
