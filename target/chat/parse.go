package chat

import (
	"unicode/utf16"
	"unicode/utf8"
)

// fieldKey classifies a top-level member of a client message.
type fieldKey uint8

const (
	kOther fieldKey = iota
	kOp
	kID
	kName
	kRoom
	kTo
	kText
	kExcludeSelf
	kFrom
	kSrvTS
	kHistory
)

func classify(key []byte) fieldKey {
	switch string(key) { // no allocation: the compiler compares in place
	case "op":
		return kOp
	case "id":
		return kID
	case "name":
		return kName
	case "room":
		return kRoom
	case "to":
		return kTo
	case "text":
		return kText
	case "exclude_self":
		return kExcludeSelf
	case "from":
		return kFrom
	case "srv_ts":
		return kSrvTS
	case "history":
		return kHistory
	}
	return kOther
}

// member is one `"key": value` of the top-level object, as offsets into the
// message so unknown members can be copied out byte for byte.
type member struct {
	start    int // the key's opening quote
	valStart int
	valEnd   int
	key      fieldKey
}

// request is a parsed client message. It keeps offsets, not copies: parsing
// is a single validating pass over the bytes with no reflection and, for
// messages without escapes in keys or looked-up values, no allocation.
type request struct {
	msg     []byte
	members []member
	known   [kHistory + 1]int // index+1 into members of the last member with that key; 0 = absent
	unesc   []byte            // scratch for unescaped strings
}

// maxDepth bounds nesting in pass-through values.
const maxDepth = 64

// parse validates msg as one JSON object and indexes its members. It returns
// false when msg is not valid JSON or not an object.
func (r *request) parse(msg []byte) bool {
	r.msg = msg
	r.members = r.members[:0]
	r.known = [kHistory + 1]int{}
	r.unesc = r.unesc[:0]
	if !utf8.Valid(msg) {
		return false
	}
	p := msg
	i := skipWS(p, 0)
	if i >= len(p) || p[i] != '{' {
		return false
	}
	i = skipWS(p, i+1)
	if i < len(p) && p[i] == '}' {
		return skipWS(p, i+1) == len(p)
	}
	for {
		if i >= len(p) || p[i] != '"' {
			return false
		}
		start := i
		end, esc, ok := scanString(p, i)
		if !ok {
			return false
		}
		var key fieldKey
		if esc {
			u, ok := r.unescape(p[start+1 : end-1])
			if !ok {
				return false
			}
			key = classify(u)
		} else {
			key = classify(p[start+1 : end-1])
		}
		i = skipWS(p, end)
		if i >= len(p) || p[i] != ':' {
			return false
		}
		i = skipWS(p, i+1)
		vs := i
		i, ok = scanValue(p, i, 1)
		if !ok {
			return false
		}
		r.members = append(r.members, member{start: start, valStart: vs, valEnd: i, key: key})
		if key != kOther {
			r.known[key] = len(r.members)
		}
		i = skipWS(p, i)
		if i >= len(p) {
			return false
		}
		switch p[i] {
		case ',':
			i = skipWS(p, i+1)
		case '}':
			return skipWS(p, i+1) == len(p)
		default:
			return false
		}
	}
}

// raw returns the raw JSON value of a known key, or nil when absent.
func (r *request) raw(k fieldKey) []byte {
	j := r.known[k]
	if j == 0 {
		return nil
	}
	m := r.members[j-1]
	return r.msg[m.valStart:m.valEnd]
}

// has reports whether the key is present.
func (r *request) has(k fieldKey) bool { return r.known[k] != 0 }

// str returns the unescaped contents of a string-valued key; ok is false when
// the key is absent or not a string.
func (r *request) str(k fieldKey) (s []byte, ok bool) {
	v := r.raw(k)
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	body := v[1 : len(v)-1]
	for _, c := range body {
		if c == '\\' {
			return r.unescape(body)
		}
	}
	return body, true
}

// boolean reports whether the key is the literal true.
func (r *request) boolean(k fieldKey) bool {
	v := r.raw(k)
	return len(v) == 4 && string(v) == "true"
}

// unescape decodes the body of a validated JSON string into r.unesc and
// returns the decoded part. Earlier results stay valid (appending never
// rewrites them).
func (r *request) unescape(body []byte) ([]byte, bool) {
	start := len(r.unesc)
	out := r.unesc
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(body) {
			return nil, false
		}
		switch body[i] {
		case '"', '\\', '/':
			out = append(out, body[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			ru, ok := hex4(body[i+1:])
			if !ok {
				return nil, false
			}
			i += 4
			if utf16.IsSurrogate(ru) {
				// A high surrogate pairs with a directly following \uXXXX low
				// one; anything else decodes to U+FFFD, like encoding/json.
				d := utf8.RuneError
				if i+6 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					if lo, ok := hex4(body[i+3:]); ok {
						if d = utf16.DecodeRune(ru, lo); d != utf8.RuneError {
							i += 6
						}
					}
				}
				ru = d
			}
			out = utf8.AppendRune(out, ru)
		default:
			return nil, false
		}
	}
	r.unesc = out
	return out[start:], true
}

func hex4(p []byte) (rune, bool) {
	if len(p) < 4 {
		return 0, false
	}
	var v rune
	for _, c := range p[:4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func skipWS(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString scans the JSON string starting at p[i] == '"' and returns the
// index after its closing quote and whether it holds escapes.
func scanString(p []byte, i int) (end int, esc bool, ok bool) {
	i++
	for i < len(p) {
		c := p[i]
		switch {
		case c == '"':
			return i + 1, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(p) {
				return 0, false, false
			}
			switch p[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(p[i+2:]); !ok {
					return 0, false, false
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default:
			i++
		}
	}
	return 0, false, false
}

// scanValue validates one JSON value starting at p[i] and returns the index
// after it.
func scanValue(p []byte, i, depth int) (int, bool) {
	if i >= len(p) {
		return 0, false
	}
	switch c := p[i]; {
	case c == '"':
		end, _, ok := scanString(p, i)
		return end, ok
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return 0, false
		}
		return scanContainer(p, i, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(p, i)
	case c == 't':
		return literal(p, i, "true")
	case c == 'f':
		return literal(p, i, "false")
	case c == 'n':
		return literal(p, i, "null")
	}
	return 0, false
}

func literal(p []byte, i int, lit string) (int, bool) {
	if len(p)-i < len(lit) || string(p[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

func scanContainer(p []byte, i, depth int) (int, bool) {
	obj := p[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipWS(p, i+1)
	if i < len(p) && p[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if obj {
			if i >= len(p) || p[i] != '"' {
				return 0, false
			}
			if i, _, ok = scanString(p, i); !ok {
				return 0, false
			}
			i = skipWS(p, i)
			if i >= len(p) || p[i] != ':' {
				return 0, false
			}
			i = skipWS(p, i+1)
		}
		if i, ok = scanValue(p, i, depth); !ok {
			return 0, false
		}
		i = skipWS(p, i)
		if i >= len(p) {
			return 0, false
		}
		switch p[i] {
		case ',':
			i = skipWS(p, i+1)
		case closer:
			return i + 1, true
		default:
			return 0, false
		}
	}
}

func scanNumber(p []byte, i int) (int, bool) {
	if p[i] == '-' {
		i++
	}
	if i >= len(p) {
		return 0, false
	}
	switch {
	case p[i] == '0':
		i++
	case p[i] >= '1' && p[i] <= '9':
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(p) && p[i] == '.' {
		i++
		d := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		d := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false
		}
	}
	return i, true
}
