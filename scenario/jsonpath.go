package scenario

import (
	"strconv"
	"strings"

	"github.com/wsbench/wsbench/internal/jsonscan"
)

// This file is a small JSON scanner that finds values in a message by dot
// path ("from", "user.id", "items.0") without decoding the message, so
// listeners and expects look at every inbound message without allocating.
// It tolerates malformed input: a lookup in garbage reports not found.

// Lookup returns the raw JSON bytes of the value at a dot path in msg (for
// a string, including its quotes). Path segments are object keys; a
// segment of digits also indexes an array. The empty path is the whole
// message. It does not allocate.
func Lookup(msg []byte, path string) ([]byte, bool) {
	i := jsonscan.SkipWS(msg, 0)
	if path != "" {
		for {
			seg, rest, more := strings.Cut(path, ".")
			var ok bool
			if i, ok = descend(msg, i, seg); !ok {
				return nil, false
			}
			if !more {
				break
			}
			path = rest
		}
	}
	end, ok := jsonscan.SkipValue(msg, i)
	if !ok {
		return nil, false
	}
	return msg[i:end], true
}

// LookupInt returns the integer at a dot path. Numbers with a fraction or
// exponent are truncated; strings, booleans and missing fields report false.
// It does not allocate.
func LookupInt(msg []byte, path string) (int64, bool) {
	raw, ok := Lookup(msg, path)
	if !ok {
		return 0, false
	}
	return parseJSONInt(raw)
}

// LookupString returns the contents of the JSON string at a dot path. The
// result aliases msg when the string has no escapes (no allocation), and is
// a fresh unescaped copy otherwise. Non-string values report false.
func LookupString(msg []byte, path string) ([]byte, bool) {
	raw, ok := Lookup(msg, path)
	if !ok || len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	if !hasBackslash(inner) {
		return inner, true
	}
	return jsonscan.AppendUnescaped(nil, inner), true
}

// descend moves from the value starting at i to its member seg.
func descend(msg []byte, i int, seg string) (int, bool) {
	if i >= len(msg) {
		return 0, false
	}
	switch msg[i] {
	case '{':
		return findKey(msg, i, seg)
	case '[':
		n, err := strconv.Atoi(seg)
		if err != nil || n < 0 || seg[0] == '+' {
			return 0, false
		}
		return findIndex(msg, i, n)
	}
	return 0, false
}

// findKey returns the start of the value of key in the object at msg[i].
func findKey(msg []byte, i int, key string) (int, bool) {
	i++ // '{'
	for {
		i = jsonscan.SkipWS(msg, i)
		if i >= len(msg) || msg[i] != '"' {
			return 0, false // '}' (not found) or malformed
		}
		end, esc, ok := jsonscan.SkipString(msg, i)
		if !ok {
			return 0, false
		}
		k := msg[i+1 : end-1]
		i = jsonscan.SkipWS(msg, end)
		if i >= len(msg) || msg[i] != ':' {
			return 0, false
		}
		i = jsonscan.SkipWS(msg, i+1)
		if jsonscan.EqualString(k, esc, key) {
			return i, i < len(msg)
		}
		if i, ok = jsonscan.SkipValue(msg, i); !ok {
			return 0, false
		}
		i = jsonscan.SkipWS(msg, i)
		if i >= len(msg) || msg[i] != ',' {
			return 0, false
		}
		i++
	}
}

// findIndex returns the start of element n of the array at msg[i].
func findIndex(msg []byte, i, n int) (int, bool) {
	i = jsonscan.SkipWS(msg, i+1)
	if i < len(msg) && msg[i] == ']' {
		return 0, false
	}
	for k := 0; ; k++ {
		if i >= len(msg) {
			return 0, false
		}
		if k == n {
			return i, true
		}
		var ok bool
		if i, ok = jsonscan.SkipValue(msg, i); !ok {
			return 0, false
		}
		i = jsonscan.SkipWS(msg, i)
		if i >= len(msg) || msg[i] != ',' {
			return 0, false
		}
		i = jsonscan.SkipWS(msg, i+1)
	}
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// parseJSONInt parses a raw JSON number as an integer without allocating.
func parseJSONInt(raw []byte) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	neg := raw[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	if i >= len(raw) {
		return 0, false
	}
	var n uint64
	for ; i < len(raw); i++ {
		c := raw[i]
		if c < '0' || c > '9' {
			break
		}
		if n > (1<<63)/10 {
			return parseJSONFloatInt(raw)
		}
		n = n*10 + uint64(c-'0')
	}
	if i < len(raw) || n > 1<<63 || (!neg && n == 1<<63) {
		return parseJSONFloatInt(raw)
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

func parseJSONFloatInt(raw []byte) (int64, bool) {
	f, ok := parseJSONFloat(raw)
	if !ok || f >= 1<<63 || f < -(1<<63) {
		return 0, false
	}
	return int64(f), true
}

// parseJSONFloat parses a raw JSON number.
func parseJSONFloat(raw []byte) (float64, bool) {
	if len(raw) == 0 || !(raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}
