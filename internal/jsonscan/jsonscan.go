// Package jsonscan skips over JSON values in place and compares or decodes
// JSON strings, without allocating. The scenario matchers (field lookups in received messages)
// and the Socket.IO packet scanner use it to find the bytes of a member or
// an array element and hand them on as sub-slices of the input.
package jsonscan

import (
	"unicode/utf16"
	"unicode/utf8"
)

// SkipWS returns the index of the first non-whitespace byte at or after i.
func SkipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipString returns the index after the JSON string that starts at b[i]
// (which must be '"'), and whether it holds escapes. A \u escape must have
// four hex digits; other escapes are not checked.
func SkipString(b []byte, i int) (end int, esc, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			if j+1 >= len(b) {
				return 0, false, false
			}
			if b[j+1] == 'u' {
				if j+5 >= len(b) {
					return 0, false, false
				}
				for _, h := range b[j+2 : j+6] {
					if !isHex(h) {
						return 0, false, false
					}
				}
				j += 5
				continue
			}
			j++
		case '"':
			return j + 1, esc, true
		}
	}
	return 0, false, false
}

// SkipValue returns the index after the JSON value that starts at b[i].
// Containers are skipped by bracket depth, with their strings skipped
// whole; the spelling of numbers and literals is not checked.
func SkipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := SkipString(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, ok := SkipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && isScalar(b[j]) {
		j++
	}
	return j, j > i
}

func isScalar(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// stringReader walks the decoded bytes of a JSON string body one rune
// (or raw byte) at a time without allocating.
type stringReader struct {
	s   []byte
	buf [utf8.UTFMax]byte
}

// next returns the next decoded chunk, or nil at the end.
func (r *stringReader) next() []byte {
	if len(r.s) == 0 {
		return nil
	}
	if r.s[0] != '\\' {
		i := 1
		for i < len(r.s) && r.s[i] != '\\' {
			i++
		}
		chunk := r.s[:i]
		r.s = r.s[i:]
		return chunk
	}
	if len(r.s) < 2 {
		r.s = nil
		return r.buf[:0]
	}
	c := r.s[1]
	r.s = r.s[2:]
	switch c {
	case 'n':
		c = '\n'
	case 't':
		c = '\t'
	case 'r':
		c = '\r'
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'u':
		ru := r.hex4()
		if utf16.IsSurrogate(ru) {
			if len(r.s) >= 6 && r.s[0] == '\\' && r.s[1] == 'u' {
				save := r.s
				r.s = r.s[2:]
				if dec := utf16.DecodeRune(ru, r.hex4()); dec != utf8.RuneError {
					ru = dec
				} else {
					r.s = save
					ru = utf8.RuneError
				}
			} else {
				ru = utf8.RuneError
			}
		}
		n := utf8.EncodeRune(r.buf[:], ru)
		return r.buf[:n]
	}
	r.buf[0] = c // '"', '\\', '/' and anything unknown stand for themselves
	return r.buf[:1]
}

func (r *stringReader) hex4() rune {
	if len(r.s) < 4 {
		r.s = nil
		return utf8.RuneError
	}
	var v rune
	for _, c := range r.s[:4] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			r.s = r.s[4:]
			return utf8.RuneError
		}
	}
	r.s = r.s[4:]
	return v
}

// EqualString reports whether the JSON string body s (escaped when esc)
// decodes to want.
func EqualString[S ~string | ~[]byte](s []byte, esc bool, want S) bool {
	if !esc {
		return string(s) == string(want)
	}
	r := stringReader{s: s}
	for {
		chunk := r.next()
		if chunk == nil {
			return len(want) == 0
		}
		if len(chunk) > len(want) || string(chunk) != string(want[:len(chunk)]) {
			return false
		}
		want = want[len(chunk):]
	}
}

// AppendUnescaped appends the decoded JSON string body s to dst.
func AppendUnescaped(dst, s []byte) []byte {
	r := stringReader{s: s}
	for chunk := r.next(); chunk != nil; chunk = r.next() {
		dst = append(dst, chunk...)
	}
	return dst
}
