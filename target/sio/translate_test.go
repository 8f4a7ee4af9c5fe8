package sio

import (
	"encoding/json"
	"testing"

	"github.com/wsbench/wsbench/internal/socketio"
)

func TestAppendChatRequest(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		id         int64
		want       string // "" = refused
	}{
		{"nick", `["nick","alice"]`, socketio.NoID, `{"name":"alice","op":"nick"}`},
		{"nick", `["nick",{"name":"alice"}]`, 3, `{"name":"alice","op":"nick","id":3}`},
		{"join", `["join","#a"]`, 0, `{"room":"#a","op":"join","id":0}`},
		{"leave", `["leave",{"room":"#a"}]`, socketio.NoID, `{"room":"#a","op":"leave"}`},
		{"say", `["say","#a","hi"]`, 7, `{"room":"#a","text":"hi","op":"say","id":7}`},
		{"say", `["say",{"room":"#a","text":"hi","ts":1,"seq":2}]`, 1, `{"room":"#a","text":"hi","ts":1,"seq":2,"op":"say","id":1}`},
		// A client's own op and id come first, so the server's (last) win.
		{"say", `["say",{"op":"shout","id":99,"room":"#a","text":"x"}]`, 1, `{"op":"shout","id":99,"room":"#a","text":"x","op":"say","id":1}`},
		{"shout", `["shout","all"]`, socketio.NoID, `{"text":"all","op":"shout"}`},
		{"dm", `["dm","bob","psst"]`, 2, `{"to":"bob","text":"psst","op":"dm","id":2}`},
		{"dm", `["dm", { } ]`, socketio.NoID, `{"op":"dm"}`},
		{"say", `["say"]`, socketio.NoID, `{"op":"say"}`}, // the hub answers missing_field
		{"rooms", `["rooms"]`, 5, `{"op":"rooms","id":5}`},
		{"fly", `["fly"]`, 5, ``},
	} {
		got, e := appendChatRequest(nil, tc.name, []byte(tc.data), tc.id)
		if tc.want == "" {
			if e == nil || e.code != "unknown_event" {
				t.Errorf("%s: got %q, %v; want unknown_event", tc.data, got, e)
			}
			continue
		}
		if e != nil || string(got) != tc.want {
			t.Errorf("%s id %d: got %q (%v), want %q", tc.data, tc.id, got, e, tc.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: %q is not JSON", tc.data, got)
		}
	}
}

func TestAppendEventPacket(t *testing.T) {
	for _, tc := range []struct{ payload, want string }{
		{`{"op":"ack","id":12}`, `4312[{"ok":true}]`},
		{`{"op":"error","id":4,"code":"not_in_room","message":"not in room #a"}`, `434[{"ok":false,"code":"not_in_room","message":"not in room #a"}]`},
		{`{"op":"error","code":"bad_json","message":"x"}`, `42["error",{"op":"error","code":"bad_json","message":"x"}]`},
		{`{"op":"said","room":"#a","from":"bob","text":"hi"}`, `42["said",{"op":"said","room":"#a","from":"bob","text":"hi"}]`},
		{`{"op":"welcome","name":"a"}`, `42["welcome",{"op":"welcome","name":"a"}]`},
		{`{"op":"ack","id":"str"}`, `42["ack",{"op":"ack","id":"str"}]`},
		{`{"no":"op"}`, ``},
		{`[1]`, ``},
	} {
		got, ok := appendEventPacket(nil, []byte(tc.payload))
		if tc.want == "" {
			if ok {
				t.Errorf("%s: got %q, want refused", tc.payload, got)
			}
			continue
		}
		if !ok || string(got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.payload, got, tc.want)
		}
		if _, err := socketio.Decode(got[1:]); err != nil {
			t.Errorf("%s: %q does not decode: %v", tc.payload, got, err)
		}
	}
}

func TestAppendRestArgs(t *testing.T) {
	for in, want := range map[string]string{
		`["echo"]`:              `[]`,
		`["echo",1,"two"]`:      `[1,"two"]`,
		`[ "echo" , {"a":1} ] `: `[{"a":1}]`,
	} {
		if got := string(appendRestArgs(nil, []byte(in))); got != want {
			t.Errorf("appendRestArgs(%s) = %s, want %s", in, got, want)
		}
	}
}
