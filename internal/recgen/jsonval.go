package recgen

// jsonval.go holds recorded JSON messages as trees that keep their key
// order (a scenario's `json:` payload is written in file order, so the
// replayed message has the recorded shape), and writes them back as YAML
// flow collections.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// kind of a JSON value.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNum
	kStr
	kArr
	kObj
)

// value is a JSON value; for a leaf, tmpl (when set) is the template
// written instead of the recorded value.
type value struct {
	kind kind
	b    bool
	num  string // the number as recorded
	str  string
	tmpl string // a template replacing this leaf ("alice-{{vu}}", "{{seq}}")
	arr  []*value
	keys []string
	vals []*value
}

// maxDepth bounds the nesting parseJSON accepts.
const maxDepth = 64

var errNotJSON = errors.New("not one JSON value")

// parseJSON reads one JSON object or array, keeping key order. Anything
// else (text, scalars, trailing bytes, an object with a key twice) is
// errNotJSON.
func parseJSON(b []byte) (*value, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') || !json.Valid(t) {
		return nil, errNotJSON
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotJSON
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (*value, error) {
	if depth > maxDepth {
		return nil, errNotJSON
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &value{kind: kNull}, nil
	case bool:
		return &value{kind: kBool, b: t}, nil
	case json.Number:
		return &value{kind: kNum, num: string(t)}, nil
	case string:
		return &value{kind: kStr, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &value{kind: kArr}
			for dec.More() {
				e, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			_, err := dec.Token()
			return v, err
		case '{':
			v := &value{kind: kObj}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				if slices.Contains(v.keys, k) {
					// YAML mappings cannot repeat a key: such a message
					// is replayed as text, byte for byte.
					return nil, errNotJSON
				}
				e, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k)
				v.vals = append(v.vals, e)
			}
			_, err := dec.Token()
			return v, err
		}
	}
	return nil, errNotJSON
}

// get is the member named key of an object, nil when absent.
func (v *value) get(key string) *value {
	if v == nil || v.kind != kObj {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// isInt reports whether a number is an integer as written, and its value.
func (v *value) isInt() (int64, bool) {
	if v.kind != kNum {
		return 0, false
	}
	n, err := strconv.ParseInt(v.num, 10, 64)
	return n, err == nil
}

// scalar is a leaf's recorded text, for comparing values across messages.
func (v *value) scalar() (string, bool) {
	switch v.kind {
	case kStr:
		return "s:" + v.str, true
	case kNum:
		return "n:" + v.num, true
	}
	return "", false
}

// walk visits every leaf with its dotted path (array elements as
// `[]`) and the name of the key holding it ("" in arrays).
func (v *value) walk(path, key string, f func(path, key string, leaf *value)) {
	switch v.kind {
	case kObj:
		for i, k := range v.keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			v.vals[i].walk(p, k, f)
		}
	case kArr:
		for _, e := range v.arr {
			e.walk(path+"[]", "", f)
		}
	default:
		f(path, key, v)
	}
}

// yaml appends v as a YAML flow value. Strings are double-quoted and
// escaped for YAML; a literal string that contains "{{" is escaped as a
// template, since scenario strings are templates.
func (v *value) yaml(b *strings.Builder) {
	if v.tmpl != "" {
		b.WriteString(quote(v.tmpl))
		return
	}
	switch v.kind {
	case kNull:
		b.WriteString("null")
	case kBool:
		b.WriteString(strconv.FormatBool(v.b))
	case kNum:
		b.WriteString(v.num)
	case kStr:
		b.WriteString(quote(escapeTemplate(v.str)))
	case kArr:
		b.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				b.WriteString(", ")
			}
			e.yaml(b)
		}
		b.WriteByte(']')
	case kObj:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(k))
			b.WriteString(": ")
			v.vals[i].yaml(b)
		}
		b.WriteByte('}')
	}
}

// yamlString is v as a YAML flow value.
func (v *value) yamlString() string {
	var b strings.Builder
	v.yaml(&b)
	return b.String()
}

// escapeTemplate makes literal text safe in a scenario template: "{{"
// becomes the quoted literal {{"{{"}}.
func escapeTemplate(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return strings.ReplaceAll(s, "{{", `{{"{{"}}`)
}

// quote writes s as a YAML double-quoted scalar: the escapes YAML and
// JSON share, \uXXXX (or \UXXXXXXXX) for everything not printable, and
// invalid UTF-8 as U+FFFD.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			switch {
			case r < 0x20 || r == 0x7f || r == 0x85 || r == 0xfeff || r == 0x2028 || r == 0x2029 || (r >= 0x80 && r < 0xa0):
				b.WriteString(`\u` + hex4(r))
			case !unicode.IsPrint(r) && r > 0xffff:
				b.WriteString(`\U` + strconv.FormatInt(int64(r)+0x100000000, 16)[1:])
			case !unicode.IsPrint(r) && r != ' ':
				b.WriteString(`\u` + hex4(r))
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hex4(r rune) string {
	return strconv.FormatInt(int64(r)+0x10000, 16)[1:]
}
