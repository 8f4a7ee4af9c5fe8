package scenario

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wsbench/wsbench/internal/wsproto"
)

// Template is a string with {{expression}} placeholders, compiled once at
// parse time and rendered per message with a VU's Vars.
//
// Expressions: vu, iter, scenario, seq, now_ns, now_us, now_ms, now_s,
// uuid, env.NAME,
// rand_int MIN MAX, rand_string N, a captured variable name, "literal text",
// and one integer operation between vu, iter, seq and integer constants
// (vu % 20, vu / 50, iter + 1, ...).
type Template struct {
	src   string
	parts []part
	// vars lists the captured-variable names the template reads, for
	// validation against the scenario's captures.
	vars []string
}

type partKind uint8

const (
	partLit partKind = iota
	partVU
	partIter
	partScenario
	partSeq
	partNowNS
	partNowMS
	partNowUS
	partNowS
	partEnv
	partRandInt
	partRandString
	partUUID
	partVar
	partArith
)

// operand of an arithmetic expression: a variable or a constant.
type operand struct {
	kind partKind // partVU, partIter, partSeq or partLit (constant n)
	n    int64
}

type part struct {
	kind partKind
	lit  []byte    // literal bytes (already JSON-escaped inside JSON strings)
	name string    // env or captured variable name
	a, b int64     // rand_int bounds; rand_string length in a
	rpn  []rpnItem // partArith: the expression in reverse Polish order
	esc  bool      // JSON-escape the rendered value (dynamic text inside a JSON string)
}

// numeric reports whether the part always renders as a decimal integer.
func (p *part) numeric() bool {
	switch p.kind {
	case partVU, partIter, partSeq, partNowNS, partNowUS, partNowMS, partNowS, partRandInt, partArith:
		return true
	}
	return false
}

// ParseTemplate compiles s. Any unknown bare identifier is taken as a
// captured variable (the scenario parser checks those against the captures
// a scenario defines).
func ParseTemplate(s string) (*Template, error) {
	var b tmplBuilder
	if err := b.addText(s, false); err != nil {
		return nil, err
	}
	return b.build(s), nil
}

// String returns the template's source text.
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.src
}

// Static reports whether the template renders the same bytes every time.
func (t *Template) Static() bool {
	for i := range t.parts {
		if t.parts[i].kind != partLit {
			return false
		}
	}
	return true
}

// Variables returns the captured-variable names the template reads.
func (t *Template) Variables() []string { return t.vars }

// Render returns the rendered template as a string (allocates; for headers
// and other per-connection values).
func (t *Template) Render(v *Vars) string {
	var buf [128]byte
	return string(t.Append(buf[:0], v))
}

// Append renders the template onto dst and returns the extended slice.
// Static parts and numeric expressions do not allocate (beyond growing dst);
// a Template is safe for concurrent use with distinct Vars.
func (t *Template) Append(dst []byte, v *Vars) []byte {
	if t == nil {
		return dst
	}
	for i := range t.parts {
		dst = t.parts[i].append(dst, v)
	}
	return dst
}

const randAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (p *part) append(dst []byte, v *Vars) []byte {
	switch p.kind {
	case partLit:
		return append(dst, p.lit...)
	case partVU:
		return strconv.AppendInt(dst, int64(v.VU), 10)
	case partIter:
		return strconv.AppendInt(dst, int64(v.Iter), 10)
	case partSeq:
		return strconv.AppendUint(dst, v.Seq, 10)
	case partNowNS:
		return strconv.AppendInt(dst, v.now().UnixNano(), 10)
	case partNowMS:
		return strconv.AppendInt(dst, v.now().UnixMilli(), 10)
	case partNowUS:
		return strconv.AppendInt(dst, v.now().UnixMicro(), 10)
	case partNowS:
		return strconv.AppendInt(dst, v.now().Unix(), 10)
	case partScenario:
		return appendText(dst, v.Scenario, p.esc)
	case partEnv:
		return appendText(dst, v.env(p.name), p.esc)
	case partVar:
		s, _ := v.Get(p.name)
		return appendText(dst, s, p.esc)
	case partRandInt:
		return strconv.AppendInt(dst, p.a+v.rng().Int64N(p.b-p.a+1), 10)
	case partRandString:
		r := v.rng()
		for range p.a {
			dst = append(dst, randAlphabet[r.IntN(len(randAlphabet))])
		}
		return dst
	case partUUID:
		return appendUUID(dst, v.rng().Uint64(), v.rng().Uint64())
	case partArith:
		return strconv.AppendInt(dst, p.arith(v), 10)
	}
	return dst
}

func (o operand) value(v *Vars) int64 {
	switch o.kind {
	case partVU:
		return int64(v.VU)
	case partIter:
		return int64(v.Iter)
	case partSeq:
		return int64(v.Seq)
	}
	return o.n
}

// rpnItem is one step of a compiled arithmetic expression: an operand to
// push, or (op != 0) an operator applied to the two topmost values.
type rpnItem struct {
	x  operand
	op byte
}

// maxArithDepth bounds the evaluation stack so evaluation needs no allocation.
const maxArithDepth = 16

func (p *part) arith(v *Vars) int64 {
	var stack [maxArithDepth]int64
	n := 0
	for _, it := range p.rpn {
		if it.op == 0 {
			stack[n] = it.x.value(v)
			n++
			continue
		}
		x, y := stack[n-2], stack[n-1]
		n--
		stack[n-1] = applyOp(it.op, x, y)
	}
	return stack[0]
}

func applyOp(op byte, x, y int64) int64 {
	switch op {
	case '+':
		return x + y
	case '-':
		return x - y
	case '*':
		return x * y
	case '/':
		if y == 0 {
			return 0 // only reachable with a variable divisor such as iter
		}
		return x / y
	case '%':
		if y == 0 {
			return 0
		}
		return x % y
	}
	return 0
}

func precedence(op byte) int {
	if op == '+' || op == '-' {
		return 1
	}
	return 2
}

// compileArith turns infix tokens into reverse Polish order (shunting-yard),
// checking operands, parentheses and that evaluation fits maxArithDepth.
func compileArith(toks []string) ([]rpnItem, string) {
	var out []rpnItem
	var ops []byte
	expectOperand := true
	for _, t := range toks {
		switch {
		case t == "(":
			if !expectOperand {
				return nil, "missing operator before '('"
			}
			ops = append(ops, '(')
		case t == ")":
			if expectOperand {
				return nil, "missing operand before ')'"
			}
			for len(ops) > 0 && ops[len(ops)-1] != '(' {
				out = append(out, rpnItem{op: ops[len(ops)-1]})
				ops = ops[:len(ops)-1]
			}
			if len(ops) == 0 {
				return nil, "unbalanced ')'"
			}
			ops = ops[:len(ops)-1]
		case isOp(t):
			if expectOperand {
				return nil, "missing operand before " + strconv.Quote(t)
			}
			for len(ops) > 0 && ops[len(ops)-1] != '(' && precedence(ops[len(ops)-1]) >= precedence(t[0]) {
				out = append(out, rpnItem{op: ops[len(ops)-1]})
				ops = ops[:len(ops)-1]
			}
			ops = append(ops, t[0])
			expectOperand = true
			continue
		default:
			if !expectOperand {
				return nil, "unexpected " + strconv.Quote(t)
			}
			x, ok := parseOperand(t)
			if !ok {
				return nil, "arithmetic works on vu, iter, seq and integers"
			}
			out = append(out, rpnItem{x: x})
			expectOperand = false
			continue
		}
		if t == ")" {
			expectOperand = false
		}
	}
	if expectOperand {
		return nil, "missing operand at the end"
	}
	for len(ops) > 0 {
		if ops[len(ops)-1] == '(' {
			return nil, "unbalanced '('"
		}
		out = append(out, rpnItem{op: ops[len(ops)-1]})
		ops = ops[:len(ops)-1]
	}
	depth, maxDepth := 0, 0
	for i, it := range out {
		if it.op == 0 {
			depth++
			maxDepth = max(maxDepth, depth)
			continue
		}
		depth--
		if y := out[i-1]; (it.op == '/' || it.op == '%') && y.op == 0 && y.x.kind == partLit && y.x.n == 0 {
			return nil, "division by zero"
		}
	}
	if maxDepth > maxArithDepth {
		return nil, "expression too deeply nested"
	}
	return out, ""
}

// appendUUID formats a random (version 4, RFC 9562 variant) UUID.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	const hexDigits = "0123456789abcdef"
	hi = hi&^(0xf<<12) | 4<<12   // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // variant 10xx
	var b [16]byte
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

func appendText(dst []byte, s string, esc bool) []byte {
	if !esc {
		return append(dst, s...)
	}
	return wsproto.AppendJSONEscaped(dst, s)
}

// tmplBuilder assembles the parts of a template, merging adjacent literals.
// The JSON payload compiler uses it to interleave JSON syntax and strings.
type tmplBuilder struct {
	parts []part
	vars  []string
}

func (b *tmplBuilder) lit(s []byte) {
	if len(s) == 0 {
		return
	}
	if n := len(b.parts); n > 0 && b.parts[n-1].kind == partLit {
		b.parts[n-1].lit = append(b.parts[n-1].lit, s...)
		return
	}
	b.parts = append(b.parts, part{kind: partLit, lit: append([]byte(nil), s...)})
}

func (b *tmplBuilder) add(p part) {
	if p.kind == partLit {
		b.lit(p.lit)
		return
	}
	if p.kind == partVar {
		b.vars = appendUnique(b.vars, p.name)
	}
	b.parts = append(b.parts, p)
}

func (b *tmplBuilder) build(src string) *Template {
	return &Template{src: src, parts: b.parts, vars: b.vars}
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// TemplateError is a template syntax error at byte Offset of the source.
type TemplateError struct {
	Offset int
	Msg    string
	Hint   string // a close known expression, if any
}

func (e *TemplateError) Error() string {
	if e.Hint != "" {
		return fmt.Sprintf("%s (did you mean `%s`?)", e.Msg, e.Hint)
	}
	return e.Msg
}

// parseParts compiles template text into parts. esc marks dynamic text for
// JSON escaping and escapes literals too (the text is a JSON string body).
func parseParts(s string, esc bool) ([]part, error) {
	var parts []part
	litOf := func(t string) part {
		if esc {
			return part{kind: partLit, lit: wsproto.AppendJSONEscaped(nil, t)}
		}
		return part{kind: partLit, lit: []byte(t)}
	}
	for i := 0; i < len(s); {
		open := strings.Index(s[i:], "{{")
		if open < 0 {
			parts = append(parts, litOf(s[i:]))
			break
		}
		if open > 0 {
			parts = append(parts, litOf(s[i:i+open]))
		}
		start := i + open + 2
		end := strings.Index(s[start:], "}}")
		if end < 0 {
			return nil, &TemplateError{Offset: i + open, Msg: "unclosed `{{` in template " + strconv.Quote(s)}
		}
		expr := s[start : start+end]
		p, err := parseExpr(expr)
		if err != nil {
			err.Offset = i + open
			return nil, err
		}
		p.esc = esc
		if p.kind == partLit && esc {
			p.lit = wsproto.AppendJSONEscaped(nil, p.lit)
		}
		parts = append(parts, p)
		i = start + end + 2
	}
	return parts, nil
}

// addText compiles template text into the builder.
func (b *tmplBuilder) addText(s string, esc bool) error {
	parts, err := parseParts(s, esc)
	if err != nil {
		return err
	}
	for _, p := range parts {
		b.add(p)
	}
	return nil
}

// builtinExprs are the expression words, for "did you mean" hints.
var builtinExprs = []string{"vu", "iter", "scenario", "seq", "now_ns", "now_us", "now_ms", "now_s", "uuid", "env.NAME", "rand_int", "rand_string"}

// parseExpr compiles the inside of one {{ }}.
func parseExpr(expr string) (part, *TemplateError) {
	e := strings.TrimSpace(expr)
	if len(e) >= 2 && e[0] == '"' && e[len(e)-1] == '"' {
		s, err := strconv.Unquote(e)
		if err != nil {
			return part{}, &TemplateError{Msg: fmt.Sprintf("bad string literal %s in template", e)}
		}
		return part{kind: partLit, lit: []byte(s)}, nil
	}
	toks, terr := tokenizeExpr(e)
	if terr != "" {
		return part{}, &TemplateError{Msg: fmt.Sprintf("template expression `%s`: %s", e, terr)}
	}
	bad := func(msg string) (part, *TemplateError) {
		return part{}, &TemplateError{Msg: fmt.Sprintf("template expression `%s`: %s", e, msg)}
	}
	if len(toks) == 0 {
		return bad("empty expression")
	}
	word := toks[0]
	switch {
	case word != "rand_int" && word != "rand_string" && isArith(toks):
		rpn, msg := compileArith(toks)
		if msg != "" {
			return bad(msg)
		}
		return part{kind: partArith, rpn: rpn}, nil
	case word == "rand_int":
		if len(toks) != 3 {
			return bad("want `rand_int MIN MAX`")
		}
		lo, err1 := strconv.ParseInt(toks[1], 10, 64)
		hi, err2 := strconv.ParseInt(toks[2], 10, 64)
		if err1 != nil || err2 != nil {
			return bad("rand_int bounds must be integers")
		}
		const limit = 1 << 62 // keeps MAX-MIN+1 from overflowing
		if hi < lo || lo < -limit || hi > limit {
			return bad("rand_int wants MIN <= MAX, both within ±2^62")
		}
		return part{kind: partRandInt, a: lo, b: hi}, nil
	case word == "rand_string":
		if len(toks) != 2 {
			return bad("want `rand_string N`")
		}
		n, err := strconv.ParseInt(toks[1], 10, 64)
		if err != nil || n < 1 || n > 1<<20 {
			return bad("rand_string length must be an integer from 1 to 1048576")
		}
		return part{kind: partRandString, a: n}, nil
	case len(toks) != 1:
		return bad("unexpected " + strconv.Quote(toks[1]))
	}
	switch word {
	case "vu":
		return part{kind: partVU}, nil
	case "iter":
		return part{kind: partIter}, nil
	case "scenario":
		return part{kind: partScenario}, nil
	case "seq":
		return part{kind: partSeq}, nil
	case "now_ns":
		return part{kind: partNowNS}, nil
	case "now_ms":
		return part{kind: partNowMS}, nil
	case "now_us":
		return part{kind: partNowUS}, nil
	case "now_s":
		return part{kind: partNowS}, nil
	case "uuid":
		return part{kind: partUUID}, nil
	}
	if name, ok := strings.CutPrefix(word, "env."); ok {
		if name == "" {
			return bad("want `env.NAME`")
		}
		return part{kind: partEnv, name: name}, nil
	}
	if !isIdent(word) {
		p, err := bad("not a known expression or variable name")
		if pre, suf, ok := strings.Cut(word, "."); ok && strings.EqualFold(pre, "env") && suf != "" {
			err.Hint = "env." + suf
		}
		return p, err
	}
	return part{kind: partVar, name: word}, nil
}

// isArith reports whether toks hold an operator or parenthesis.
func isArith(toks []string) bool {
	for _, t := range toks {
		if isOp(t) || t == "(" || t == ")" {
			return true
		}
	}
	return false
}

func isOp(s string) bool {
	return len(s) == 1 && strings.IndexByte("+-*/%", s[0]) >= 0
}

func parseOperand(s string) (operand, bool) {
	switch s {
	case "vu":
		return operand{kind: partVU}, true
	case "iter":
		return operand{kind: partIter}, true
	case "seq":
		return operand{kind: partSeq}, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return operand{}, false
	}
	return operand{kind: partLit, n: n}, true
}

// tokenizeExpr splits an expression into words, integers and operators.
// A '-' directly before digits is a sign when no operand precedes it (or in
// rand_int's arguments); otherwise it is the subtraction operator.
func tokenizeExpr(e string) ([]string, string) {
	var toks []string
	for i := 0; i < len(e); {
		c := e[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '-' && i+1 < len(e) && isDigit(e[i+1]) &&
			(len(toks) == 0 || isOp(toks[len(toks)-1]) || toks[len(toks)-1] == "(" || toks[0] == "rand_int"):
			j := i + 1
			for j < len(e) && isDigit(e[j]) {
				j++
			}
			toks = append(toks, e[i:j])
			i = j
		case strings.IndexByte("+-*/%()", c) >= 0:
			toks = append(toks, e[i:i+1])
			i++
		case isWordByte(c):
			j := i
			for j < len(e) && isWordByte(e[j]) {
				j++
			}
			toks = append(toks, e[i:j])
			i = j
		default:
			return nil, fmt.Sprintf("unexpected %q", c)
		}
	}
	return toks, ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isIdent reports whether s is a valid variable name.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && isDigit(c):
		default:
			return false
		}
	}
	return true
}

// jsonKV is one member of an ordered JSON object (YAML keeps key order, and
// so do rendered payloads).
type jsonKV struct {
	Key   string
	Value any
}

// orderedObject is a JSON object whose keys render in order.
type orderedObject []jsonKV

// JSONTemplate compiles a JSON value into a template rendering it as JSON
// text. Values are map[string]any (keys sorted), []any, string, bool, nil,
// and Go integer and float types. String values are templates: a string that
// is exactly one numeric expression ("{{seq}}", "{{now_ns}}", "{{vu % 20}}")
// renders as a JSON number, any other string renders JSON-escaped.
func JSONTemplate(v any) (*Template, error) {
	var b tmplBuilder
	if err := b.addJSON(v); err != nil {
		return nil, err
	}
	return b.build(string(appendJSONSource(nil, v))), nil
}

func (b *tmplBuilder) addJSON(v any) error {
	switch x := v.(type) {
	case nil:
		b.lit([]byte("null"))
	case bool:
		b.lit(strconv.AppendBool(nil, x))
	case string:
		return b.addJSONString(x)
	case int:
		b.lit(strconv.AppendInt(nil, int64(x), 10))
	case int64:
		b.lit(strconv.AppendInt(nil, x, 10))
	case uint64:
		b.lit(strconv.AppendUint(nil, x, 10))
	case float64:
		if x != x || x > 1.7976931348623157e308 || x < -1.7976931348623157e308 {
			return fmt.Errorf("number %v cannot be written as JSON", x)
		}
		b.lit(strconv.AppendFloat(nil, x, 'g', -1, 64))
	case []any:
		b.lit([]byte("["))
		for i, e := range x {
			if i > 0 {
				b.lit([]byte(","))
			}
			if err := b.addJSON(e); err != nil {
				return err
			}
		}
		b.lit([]byte("]"))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		obj := make(orderedObject, len(keys))
		for i, k := range keys {
			obj[i] = jsonKV{k, x[k]}
		}
		return b.addJSON(obj)
	case orderedObject:
		b.lit([]byte("{"))
		for i, kv := range x {
			if i > 0 {
				b.lit([]byte(","))
			}
			b.lit([]byte(`"`))
			b.lit(wsproto.AppendJSONEscaped(nil, kv.Key))
			b.lit([]byte(`":`))
			if err := b.addJSON(kv.Value); err != nil {
				return fmt.Errorf("%s: %w", kv.Key, err)
			}
		}
		b.lit([]byte("}"))
	default:
		return fmt.Errorf("unsupported JSON value of type %T", v)
	}
	return nil
}

// addJSONString adds a templated JSON string, or a bare number when the
// string is exactly one numeric expression.
func (b *tmplBuilder) addJSONString(s string) error {
	parts, err := parseParts(s, true)
	if err != nil {
		return err
	}
	if len(parts) == 1 && parts[0].numeric() {
		b.add(parts[0])
		return nil
	}
	b.lit([]byte(`"`))
	for _, p := range parts {
		b.add(p)
	}
	b.lit([]byte(`"`))
	return nil
}

// appendJSONSource writes v as JSON with its template strings unrendered,
// as the Template's source text.
func appendJSONSource(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return wsproto.AppendJSONString(dst, x)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONSource(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		obj := make(orderedObject, len(keys))
		for i, k := range keys {
			obj[i] = jsonKV{k, x[k]}
		}
		return appendJSONSource(dst, obj)
	case orderedObject:
		dst = append(dst, '{')
		for i, kv := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONSource(dst, kv.Key)
			dst = append(dst, ':')
			dst = appendJSONSource(dst, kv.Value)
		}
		return append(dst, '}')
	}
	var b tmplBuilder
	if b.addJSON(v) != nil || len(b.parts) != 1 {
		return fmt.Appendf(dst, "%v", v)
	}
	return append(dst, b.parts[0].lit...)
}

// appendRegex renders the template as a regular expression onto dst: literal
// text is copied as regex syntax, and each rendered value is escaped with
// regexp.QuoteMeta's rules so that it matches literally. It does not
// allocate beyond growing dst.
func (t *Template) appendRegex(dst []byte, v *Vars) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		if p.kind == partLit {
			dst = append(dst, p.lit...)
			continue
		}
		start := len(dst)
		dst = p.append(dst, v)
		dst = quoteMetaFrom(dst, start)
	}
	return dst
}

// quoteMetaFrom escapes the regex metacharacters of dst[start:] in place.
func quoteMetaFrom(dst []byte, start int) []byte {
	n := 0
	for _, c := range dst[start:] {
		if isRegexMeta(c) {
			n++
		}
	}
	if n == 0 {
		return dst
	}
	end := len(dst)
	dst = slices.Grow(dst, n)[:end+n]
	j := end + n
	for i := end - 1; i >= start; i-- {
		c := dst[i]
		j--
		dst[j] = c
		if isRegexMeta(c) {
			j--
			dst[j] = '\\'
		}
	}
	return dst
}

// isRegexMeta reports whether c is one of the bytes regexp.QuoteMeta escapes.
func isRegexMeta(c byte) bool {
	return strings.IndexByte(`\.+*?()|[]{}^$`, c) >= 0
}
