package wsproto

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, quotes included, exactly as
// encoding/json writes a string holding those bytes with HTML escaping off
// (json.Encoder.SetEscapeHTML(false)): '"' and '\\' escaped, control
// characters as \n, \r, \t, \b, \f or \u00XX, U+2028 and U+2029 as \u2028
// and \u2029 (JavaScript takes them for line ends), and each byte of
// invalid UTF-8 as \ufffd. It never allocates when dst has room.
//
// Every JSON string wsbench writes goes through it: the reference chat
// server's messages, scenario JSON payloads and inspect's JSON output.
func AppendJSONString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	dst = AppendJSONEscaped(dst, s)
	return append(dst, '"')
}

// AppendJSONEscaped appends the inside of AppendJSONString(s): the escaped
// text without the quotes, for a string built from several pieces.
func AppendJSONEscaped[S ~string | ~[]byte](dst []byte, s S) []byte {
	start := 0 // s[start:i] needs no escaping and is not yet copied
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		// The conversion of at most 4 bytes does not allocate.
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}
