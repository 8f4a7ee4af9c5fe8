package socketio

import (
	"github.com/wsbench/wsbench/internal/jsonscan"
)

// scan.go is a small JSON scanner over packet payloads: it finds array
// elements and object members by position without decoding, so the
// runner looks at every inbound event without allocating.

// EventName returns the name of an EVENT or BINARY_EVENT payload (the
// first element of the array): its raw contents without quotes, and
// whether they contain escapes (compare with NameEqual then). It does not
// allocate.
func EventName(data []byte) (name []byte, escaped bool, ok bool) {
	i := jsonscan.SkipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, false, false
	}
	i = jsonscan.SkipWS(data, i+1)
	end, esc, ok := jsonscan.SkipString(data, i)
	if !ok {
		return nil, false, false
	}
	return data[i+1 : end-1], esc, true
}

// NameEqual reports whether a raw JSON string content (as returned by
// EventName) equals want. It does not allocate.
func NameEqual(raw []byte, escaped bool, want string) bool {
	if !escaped {
		return string(raw) == want
	}
	return jsonscan.EqualString(raw, true, want)
}

// Arg returns the raw JSON of element n of the array data (for an event
// payload element 0 is the name and 1 the first argument; for an ack
// payload element 0 is the first argument). It does not allocate.
func Arg(data []byte, n int) ([]byte, bool) {
	i := jsonscan.SkipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, false
	}
	i = jsonscan.SkipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil, false
	}
	for k := 0; ; k++ {
		end, ok := jsonscan.SkipValue(data, i)
		if !ok {
			return nil, false
		}
		if k == n {
			return data[i:end], true
		}
		i = jsonscan.SkipWS(data, end)
		if i >= len(data) || data[i] != ',' {
			return nil, false
		}
		i = jsonscan.SkipWS(data, i+1)
	}
}

// member returns the raw value of key in the JSON object obj.
func member(obj []byte, key string) ([]byte, bool) {
	i := jsonscan.SkipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	i = jsonscan.SkipWS(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil, false
	}
	for {
		kend, esc, ok := jsonscan.SkipString(obj, i)
		if !ok {
			return nil, false
		}
		match := !esc && string(obj[i+1:kend-1]) == key
		i = jsonscan.SkipWS(obj, kend)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		i = jsonscan.SkipWS(obj, i+1)
		vend, ok := jsonscan.SkipValue(obj, i)
		if !ok {
			return nil, false
		}
		if match {
			return obj[i:vend], true
		}
		i = jsonscan.SkipWS(obj, vend)
		if i >= len(obj) || obj[i] != ',' {
			return nil, false
		}
		i = jsonscan.SkipWS(obj, i+1)
	}
}

// unquote returns the contents of the JSON string raw (with quotes),
// aliasing raw when it has no escapes.
func unquote(raw []byte) ([]byte, bool) {
	end, esc, ok := jsonscan.SkipString(raw, 0)
	if !ok || end != len(raw) {
		return nil, false
	}
	in := raw[1 : len(raw)-1]
	if !esc {
		return in, true
	}
	return jsonscan.AppendUnescaped(make([]byte, 0, len(in)), in), true
}
