package cluster

import "strings"

const hexDigits = "0123456789ABCDEF"

// Token escapes a nickname or room name into one NATS subject token and
// JetStream key: A-Z a-z 0-9 _ - stay, every other byte becomes =XX (two
// upper-case hex digits), so "a.b#c" is "a=2Eb=23c".
func Token(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if tokenByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String()
}

// Untoken reverses Token; ok is false for a malformed token.
func Untoken(t string) (string, bool) {
	if !strings.Contains(t, "=") {
		return t, t != ""
	}
	b := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c != '=' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(t) {
			return "", false
		}
		hi, lo := unhex(t[i+1]), unhex(t[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), true
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
