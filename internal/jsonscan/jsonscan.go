// Package jsonscan skips over JSON values in place, without decoding or
// allocating. The scenario matchers (field lookups in received messages)
// and the Socket.IO packet scanner use it to find the bytes of a member or
// an array element and hand them on as sub-slices of the input.
package jsonscan

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
