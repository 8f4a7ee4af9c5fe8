package chat

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	`{"op":"nick","name":"alice","id":1}`,
	`{"op":"join","room":"#lobby","id":"j"}`,
	`{"op":"say","room":"#lobby","text":"hi","ts":123,"seq":4,"exclude_self":true}`,
	`{"op":"shout","text":"all \u00e9 \ud83d\ude00","meta":{"a":[1,2,{"b":null}]}}`,
	`{"op":"dm","to":"alice","text":"psst","id":-1.5e3}`,
	`{"op":"leave","room":"#lobby"}`,
	`{"op":"echo","x":[true,false,null]}`,
	`{"\u006fp":"nick","name":"\u0062ob"}`,
	`{"op":"say","room":"#lobby","text":"\ud800 lone"}`,
	`{"op":1}`, `[]`, `{`, `{"op":"say",}`, ` {} `, `"op"`,
}

// FuzzHandle feeds arbitrary messages to a hub with a few users in a room:
// Handle must never panic and every frame it sends must be a JSON object.
func FuzzHandle(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := &validOutbox{t: t}
		h, err := NewHub(Config{HistorySize: 2, MaxTextLen: 64, RateLimit: 1000}, out)
		if err != nil {
			t.Fatal(err)
		}
		h.Handle(1, []byte(`{"op":"nick","name":"alice"}`))
		h.Handle(1, []byte(`{"op":"join","room":"#lobby"}`))
		h.Handle(2, []byte(`{"op":"nick","name":"bob"}`))
		h.Handle(2, []byte(`{"op":"join","room":"#lobby"}`))
		h.Handle(1, msg)
		h.Handle(3, msg) // no nick yet
		h.Handle(2, []byte(`{"op":"join","room":"#lobby"}`))
		h.Closed(1)
		h.Closed(2)
		h.Closed(3)
	})
}

// FuzzParse checks the scanner against encoding/json: it accepts exactly the
// valid JSON objects in UTF-8, and the unescaped op agrees.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var r request
		got := r.parse(msg)
		var m map[string]json.RawMessage
		// The hub also refuses invalid UTF-8, which encoding/json replaces.
		want := utf8.Valid(msg) && json.Unmarshal(msg, &m) == nil && m != nil
		if got != want {
			t.Fatalf("parse(%q) = %v, encoding/json says %v", msg, got, want)
		}
		if !got {
			return
		}
		var op string
		opOK := json.Unmarshal(m["op"], &op) == nil && m["op"] != nil && m["op"][0] == '"'
		gotOp, ok := r.str(kOp)
		if ok != opOK || (ok && string(gotOp) != op) {
			t.Fatalf("parse(%q): op = %q,%v; encoding/json says %q,%v", msg, gotOp, ok, op, opOK)
		}
	})
}
