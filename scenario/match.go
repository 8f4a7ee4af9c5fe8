package scenario

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/jsonscan"
)

// matchKind is the kind of an expected JSON value.
type matchKind uint8

const (
	matchString   matchKind = iota // static string
	matchTemplate                  // string with {{ }} expressions, rendered per match
	matchNumber
	matchBool
	matchNull
	matchObject // subset: every listed key present with a matching value
	matchArray  // same length, element-wise match
)

// matchNode is a compiled expected JSON value.
type matchNode struct {
	kind  matchKind
	str   string
	tmpl  *Template
	num   float64
	isInt bool
	n     int64
	b     bool
	keys  []string
	kids  []matchNode // object members (parallel to keys) or array elements
}

// compiledMatcher is the precompiled form of Matcher.JSON and, when the
// regex is templated, of Matcher.Regex.
type compiledMatcher struct {
	root matchNode  // Matcher.JSON, when set
	rx   *regexTmpl // Matcher.Regex, when its source holds {{ }}
}

// regexTmpl is a regular expression whose source holds {{ }} templates. The
// literal text of the source is regex syntax; rendered values are escaped
// with regexp.QuoteMeta's rules, so they match literally.
type regexTmpl struct {
	tmpl      *Template
	numSubexp int // capture groups (rendered values never add any)
}

// regexCache is one Vars' compiled rendering of one templated regex.
type regexCache struct {
	src []byte         // the rendered source re was compiled from
	re  *regexp.Regexp // nil when src does not compile
}

// Compile precompiles m.JSON so that Match scans messages without decoding
// them, and a templated m.Regex (one whose source contains `{{`): the
// template is parsed and checked to compile when rendered with zero Vars.
// Parse compiles every matcher; call it on a Matcher built by hand
// (otherwise Match compiles a private copy on every call, which allocates).
func (m *Matcher) Compile() error {
	var c compiledMatcher
	if m.Regex != nil && strings.Contains(m.Regex.String(), "{{") {
		rx, err := compileRegexTmpl(m.Regex.String())
		if err != nil {
			m.compiled = nil
			return err
		}
		c.rx = rx
	}
	if m.JSON != nil {
		root, err := compileMatch(m.JSON)
		if err != nil {
			m.compiled = nil
			return err
		}
		c.root = root
	}
	if m.JSON == nil && c.rx == nil {
		m.compiled = nil
		return nil
	}
	m.compiled = &c
	return nil
}

// compileRegexTmpl parses a templated regex source and checks that it
// compiles when rendered with sample (zero) variables.
func compileRegexTmpl(src string) (*regexTmpl, error) {
	t, err := ParseTemplate(src)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", src, err)
	}
	var sample Vars
	text := string(t.appendRegex(nil, &sample))
	re, err := regexp.Compile(text)
	if err != nil {
		return nil, fmt.Errorf("regex %q rendered with sample values as %q does not compile: %w", src, text, err)
	}
	return &regexTmpl{tmpl: t, numSubexp: re.NumSubexp()}, nil
}

// regexp renders rx with v and returns it compiled, or nil when the
// rendering does not compile. The compiled form is cached in v and reused
// while the rendered text stays the same, so a steady-state call does not
// allocate; a change (a new capture, {{seq}}) recompiles.
func (rx *regexTmpl) regexp(v *Vars) *regexp.Regexp {
	v.scratch = rx.tmpl.appendRegex(v.scratch[:0], v)
	e := v.regexes[rx]
	if e != nil && string(e.src) == string(v.scratch) {
		return e.re
	}
	if e == nil {
		if v.regexes == nil {
			v.regexes = make(map[*regexTmpl]*regexCache, 2)
		}
		e = &regexCache{}
		v.regexes[rx] = e
	}
	e.src = append(e.src[:0], v.scratch...)
	e.re, _ = regexp.Compile(string(e.src))
	return e.re
}

// regex returns the regular expression to run against a message for the
// variables v: m.Regex itself, or a templated regex rendered with v (nil
// when the rendering does not compile).
func (m *Matcher) regex(v *Vars) *regexp.Regexp {
	if m.Regex == nil {
		return nil
	}
	if v == nil {
		v = &Vars{}
	}
	if c := m.compiled; c != nil {
		if c.rx == nil {
			return m.Regex
		}
		return c.rx.regexp(v)
	}
	if !strings.Contains(m.Regex.String(), "{{") {
		return m.Regex
	}
	// Not compiled: render a private copy (allocates).
	rx, err := compileRegexTmpl(m.Regex.String())
	if err != nil {
		return nil
	}
	re, err := regexp.Compile(string(rx.tmpl.appendRegex(nil, v)))
	if err != nil {
		return nil
	}
	return re
}

// numSubexp returns the number of capture groups of m's regex (which must
// be set), counting those of the template's literal text only.
func (m *Matcher) numSubexp() int {
	if c := m.compiled; c != nil && c.rx != nil {
		return c.rx.numSubexp
	}
	return m.Regex.NumSubexp()
}

// regexVars returns the captured-variable names a templated regex reads.
func (m *Matcher) regexVars() []string {
	if c := m.compiled; c != nil && c.rx != nil {
		return c.rx.tmpl.Variables()
	}
	return nil
}

func compileMatch(v any) (matchNode, error) {
	switch x := v.(type) {
	case nil:
		return matchNode{kind: matchNull}, nil
	case bool:
		return matchNode{kind: matchBool, b: x}, nil
	case string:
		t, err := ParseTemplate(x)
		if err != nil {
			return matchNode{}, err
		}
		if t.Static() {
			return matchNode{kind: matchString, str: string(t.Append(nil, nil))}, nil
		}
		return matchNode{kind: matchTemplate, tmpl: t}, nil
	case int:
		return numNode(float64(x), int64(x), true), nil
	case int64:
		return numNode(float64(x), x, true), nil
	case uint64:
		if x > math.MaxInt64 {
			return numNode(float64(x), 0, false), nil
		}
		return numNode(float64(x), int64(x), true), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return numNode(x, int64(x), true), nil
		}
		return numNode(x, 0, false), nil
	case []any:
		n := matchNode{kind: matchArray, kids: make([]matchNode, len(x))}
		for i, e := range x {
			k, err := compileMatch(e)
			if err != nil {
				return matchNode{}, fmt.Errorf("[%d]: %w", i, err)
			}
			n.kids[i] = k
		}
		return n, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		n := matchNode{kind: matchObject, keys: keys, kids: make([]matchNode, len(keys))}
		for i, k := range keys {
			kid, err := compileMatch(x[k])
			if err != nil {
				return matchNode{}, fmt.Errorf("%s: %w", k, err)
			}
			n.kids[i] = kid
		}
		return n, nil
	}
	return matchNode{}, fmt.Errorf("unsupported value of type %T in a JSON matcher", v)
}

func numNode(f float64, n int64, isInt bool) matchNode {
	return matchNode{kind: matchNumber, num: f, n: n, isInt: isInt}
}

// Match reports whether msg, a data message of opcode op, matches: the
// frame type fits (Binary: binary only; otherwise text or binary; never a
// pong), the regex (if any) matches, and the JSON subset (if any) is
// contained in the message. Templated expected strings and a templated
// regex render with v. A matcher with neither JSON nor Regex matches every
// data message.
//
// A compiled matcher does not allocate: the message is scanned, not decoded,
// and a templated regex is compiled once per Vars and rendered text (see
// Matcher.Compile), recompiled only when its rendered text changes.
func (m *Matcher) Match(op ws.OpCode, msg []byte, v *Vars) bool {
	switch op {
	case ws.OpText:
		if m.Binary {
			return false
		}
	case ws.OpBinary:
	default:
		return false
	}
	if m.Event != "" {
		var ok bool
		if msg, ok = eventArg(msg, m.Event); !ok {
			return false
		}
	}
	if m.Regex != nil {
		if re := m.regex(v); re == nil || !re.Match(msg) {
			return false
		}
	}
	if m.JSON == nil {
		return true
	}
	c := m.compiled
	if c == nil {
		root, err := compileMatch(m.JSON)
		if err != nil {
			return false
		}
		c = &compiledMatcher{root: root}
	}
	i := jsonscan.SkipWS(msg, 0)
	return matchValue(msg, i, &c.root, v)
}

// maxOnePassKeys is the most keys of a JSON object matcher that
// matchValue looks up in one pass over the message's object.
const maxOnePassKeys = 8

func hasEmptyKey(keys []string) bool {
	for _, k := range keys {
		if k == "" {
			return true
		}
	}
	return false
}

// matchValue matches the value starting at msg[i] against want.
func matchValue(msg []byte, i int, want *matchNode, v *Vars) bool {
	if i >= len(msg) {
		return false
	}
	switch want.kind {
	case matchObject:
		if msg[i] != '{' {
			return false
		}
		if n := len(want.keys); n > 1 && n <= maxOnePassKeys && !hasEmptyKey(want.keys) {
			// All keys in one pass over the object.
			var at [maxOnePassKeys]int
			memberValues(msg, i, want.keys, at[:n])
			for k, j := range at[:n] {
				if j < 0 {
					if want.kids[k].kind == matchNull {
						continue // null matches an absent key too
					}
					return false
				}
				if !matchValue(msg, j, &want.kids[k], v) {
					return false
				}
			}
			return true
		}
		for k := range want.keys {
			j, ok := findKey(msg, i, want.keys[k])
			if !ok {
				if want.kids[k].kind == matchNull {
					continue // null matches an absent key too
				}
				return false
			}
			if !matchValue(msg, j, &want.kids[k], v) {
				return false
			}
		}
		return true
	case matchArray:
		if msg[i] != '[' {
			return false
		}
		i = jsonscan.SkipWS(msg, i+1)
		for k := range want.kids {
			if k > 0 {
				if i >= len(msg) || msg[i] != ',' {
					return false
				}
				i = jsonscan.SkipWS(msg, i+1)
			}
			if !matchValue(msg, i, &want.kids[k], v) {
				return false
			}
			end, ok := jsonscan.SkipValue(msg, i)
			if !ok {
				return false
			}
			i = jsonscan.SkipWS(msg, end)
		}
		return i < len(msg) && msg[i] == ']'
	}
	end, ok := jsonscan.SkipValue(msg, i)
	if !ok {
		return false
	}
	raw := msg[i:end]
	switch want.kind {
	case matchString:
		return raw[0] == '"' && len(raw) >= 2 &&
			jsonscan.EqualString(raw[1:len(raw)-1], hasBackslash(raw), want.str)
	case matchTemplate:
		if v == nil {
			v = &Vars{}
		}
		v.scratch = want.tmpl.Append(v.scratch[:0], v)
		if raw[0] == '"' && len(raw) >= 2 {
			return jsonscan.EqualString(raw[1:len(raw)-1], hasBackslash(raw), v.scratch)
		}
		// A numeric expression such as "{{seq}}" also matches the number.
		if n, ok := parseJSONInt(raw); ok && isIntText(raw) {
			want, err := strconv.ParseInt(string(v.scratch), 10, 64)
			return err == nil && want == n
		}
		return false
	case matchNumber:
		if want.isInt && isIntText(raw) {
			n, ok := parseJSONInt(raw)
			if ok {
				return n == want.n
			}
		}
		f, ok := parseJSONFloat(raw)
		return ok && f == want.num
	case matchBool:
		if want.b {
			return string(raw) == "true"
		}
		return string(raw) == "false"
	case matchNull:
		return string(raw) == "null"
	}
	return false
}

// isIntText reports whether raw is an integer literal (no fraction or exponent).
func isIntText(raw []byte) bool {
	if len(raw) > 0 && raw[0] == '-' {
		raw = raw[1:]
	}
	if len(raw) == 0 || len(raw) > 18 {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (e *ExpectStep) name() string {
	if e.Name == "" {
		return "expect"
	}
	return e.Name
}

// regexGroup parses "$N".
func regexGroup(path string) (int, bool) {
	if len(path) < 2 || path[0] != '$' {
		return 0, false
	}
	n, err := strconv.Atoi(path[1:])
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
