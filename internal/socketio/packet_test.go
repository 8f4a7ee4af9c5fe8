package socketio

import (
	"errors"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
		err  bool
	}{
		{in: `0`, want: Packet{Type: Connect, ID: NoID}},
		{in: `0{"token":"x"}`, want: Packet{Type: Connect, ID: NoID, Data: []byte(`{"token":"x"}`)}},
		{in: `0/admin,{"sid":"abc"}`, want: Packet{Type: Connect, Namespace: []byte("/admin"), ID: NoID, Data: []byte(`{"sid":"abc"}`)}},
		{in: `1`, want: Packet{Type: Disconnect, ID: NoID}},
		{in: `1/admin,`, want: Packet{Type: Disconnect, Namespace: []byte("/admin"), ID: NoID}},
		{in: `2["hello",1]`, want: Packet{Type: Event, ID: NoID, Data: []byte(`["hello",1]`)}},
		{in: `2/chat,12["say",{"a":1}]`, want: Packet{Type: Event, Namespace: []byte("/chat"), ID: 12, Data: []byte(`["say",{"a":1}]`)}},
		{in: `27["x"]`, want: Packet{Type: Event, ID: 7, Data: []byte(`["x"]`)}},
		{in: `37[]`, want: Packet{Type: Ack, ID: 7, Data: []byte(`[]`)}},
		{in: `3/n,0["ok"]`, want: Packet{Type: Ack, Namespace: []byte("/n"), ID: 0, Data: []byte(`["ok"]`)}},
		{in: `4{"message":"Not authorized"}`, want: Packet{Type: ConnectError, ID: NoID, Data: []byte(`{"message":"Not authorized"}`)}},
		{in: `51-["bin",{"_placeholder":true,"num":0}]`, want: Packet{Type: BinaryEvent, Attachments: 1, ID: NoID, Data: []byte(`["bin",{"_placeholder":true,"num":0}]`)}},
		{in: `62-/ns,9[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: Packet{Type: BinaryAck, Attachments: 2, Namespace: []byte("/ns"), ID: 9, Data: []byte(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
		{in: ``, err: true},
		{in: `7`, err: true},
		{in: `x`, err: true},
		{in: `2`, err: true},           // event without payload
		{in: `2{"a":1}`, err: true},    // event payload not an array
		{in: `3["x"]`, err: true},      // ack without id
		{in: `5["x"]`, err: true},      // binary without count
		{in: `51["x"]`, err: true},     // binary count without dash
		{in: `59999-["x"]`, err: true}, // too many attachments
		{in: `2abc`, err: true},
		{in: `2[`, err: true},                            // unterminated array
		{in: `2[1]`, err: true},                          // no event name
		{in: `2["a"]x`, err: true},                       // trailing bytes
		{in: `31[1,`, err: true},                         // unterminated ack
		{in: `299999999999999999999999["x"]`, err: true}, // id overflow
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if tt.err {
			if err == nil || !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrEmpty)) {
				t.Errorf("Decode(%q) = %+v, %v; want a malformed error", tt.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.in, err)
			continue
		}
		if got.Type != tt.want.Type || got.Attachments != tt.want.Attachments || string(got.Namespace) != string(tt.want.Namespace) ||
			got.ID != tt.want.ID || string(got.Data) != string(tt.want.Data) {
			t.Errorf("Decode(%q) = %+v (ns %q data %q), want %+v", tt.in, got, got.Namespace, got.Data, tt.want)
		}
		// Encoding what was decoded gives the input back (namespace "/" aside).
		if enc := Append(nil, got); string(enc) != "4"+tt.in && !(got.Type == Disconnect && tt.in == "1/admin,") {
			t.Errorf("Append(Decode(%q)) = %q", tt.in, enc)
		}
	}
}

func TestSplitEngine(t *testing.T) {
	for _, tt := range []struct {
		in   string
		typ  byte
		data string
		err  bool
	}{
		{in: "2", typ: EnginePing},
		{in: "3probe", typ: EnginePong, data: "probe"},
		{in: `42["a"]`, typ: EngineMessage, data: `2["a"]`},
		{in: "6", typ: EngineNoop},
		{in: "", err: true},
		{in: "9", err: true},
	} {
		typ, data, err := SplitEngine([]byte(tt.in))
		if (err != nil) != tt.err || typ != tt.typ || string(data) != tt.data {
			t.Errorf("SplitEngine(%q) = %q, %q, %v", tt.in, typ, data, err)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		ns, event string
		id        int64
		att       int
		data      string
		want      string
	}{
		{"", "hello", NoID, 0, `["hello"]`, `42["hello"]`},
		{"/", "hello", NoID, 0, `["hello",1]`, `42["hello",1]`},
		{"/chat", "say", 3, 0, `["say",{"text":"hi"}]`, `42/chat,3["say",{"text":"hi"}]`},
		{"", `q"t\`, NoID, 0, `["q\"t\\"]`, `42["q\"t\\"]`},
		{"", "bin", 4, 1, `["bin",{"_placeholder":true,"num":0}]`, `451-4["bin",{"_placeholder":true,"num":0}]`},
		{"", "ctl\n", NoID, 0, `["ctl\u000a"]`, `42["ctl\u000a"]`},
	}
	for _, tt := range tests {
		pk := Packet{Type: Event, Namespace: []byte(tt.ns), ID: tt.id, Data: []byte(tt.data)}
		if tt.att > 0 {
			pk.Type, pk.Attachments = BinaryEvent, tt.att
		}
		b := Append(nil, pk)
		if string(b) != tt.want {
			t.Errorf("Append(%q, %q) = %s, want %s", tt.ns, tt.event, b, tt.want)
		}
		pk, err := Decode(b[1:])
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		name, esc, ok := EventName(pk.Data)
		if !ok || !NameEqual(name, esc, tt.event) {
			t.Errorf("EventName(%s) = %q %v %v, want %q", pk.Data, name, esc, ok, tt.event)
		}
	}
	if got := string(AppendConnect(nil, "/admin", []byte(`{"token":"t"}`))); got != `40/admin,{"token":"t"}` {
		t.Errorf("AppendConnect = %s", got)
	}
	if got := string(AppendConnect(nil, "/", nil)); got != `40` {
		t.Errorf("AppendConnect main = %s", got)
	}
	if got := string(AppendDisconnect(nil, "/x")); got != `41/x,` {
		t.Errorf("AppendDisconnect = %s", got)
	}
}

func TestArg(t *testing.T) {
	data := []byte(` [ "said" , {"a":[1,"]"]} ,2, "x\"y" ,null]`)
	for n, want := range []string{`"said"`, `{"a":[1,"]"]}`, `2`, `"x\"y"`, `null`} {
		got, ok := Arg(data, n)
		if !ok || string(got) != want {
			t.Errorf("Arg(%d) = %q %v, want %q", n, got, ok, want)
		}
	}
	if _, ok := Arg(data, 5); ok {
		t.Error("Arg past the end found something")
	}
	for _, bad := range []string{``, `{}`, `[]`, `[1`, `["x`, `[1 2]`} {
		if got, ok := Arg([]byte(bad), 1); ok {
			t.Errorf("Arg(%q, 1) = %q", bad, got)
		}
	}
}

func TestParseOpen(t *testing.T) {
	o, err := ParseOpen([]byte(`{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.SID != "lv_VI97HAXpY6yYWAAAC" || o.PingInterval != 25*time.Second || o.PingTimeout != 20*time.Second || o.MaxPayload != 1000000 {
		t.Errorf("ParseOpen = %+v", o)
	}
	for _, bad := range []string{``, `{}`, `{"sid":"x","pingInterval":1}`, `{"sid":"x","pingInterval":-1,"pingTimeout":1}`, `[1]`} {
		if _, err := ParseOpen([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOpen(%q) err = %v", bad, err)
		}
	}
}

func TestConnectReplies(t *testing.T) {
	r := ParseConnectError([]byte(`{"message":"bad \"token\"","data":{"code":401}}`))
	if string(r.Message) != `bad "token"` || string(r.Data) != `{"code":401}` {
		t.Errorf("ParseConnectError = %q %q", r.Message, r.Data)
	}
	if r := ParseConnectError([]byte(`"Invalid namespace"`)); string(r.Message) != "Invalid namespace" {
		t.Errorf("ParseConnectError(string) = %q", r.Message)
	}
	if r := ParseConnectError([]byte(`garbage`)); r.Message != nil {
		t.Errorf("ParseConnectError(garbage) = %q", r.Message)
	}
}

func TestTypeString(t *testing.T) {
	if BinaryAck.String() != "BINARY_ACK" || Type(9).String() != "type(9)" {
		t.Error(BinaryAck.String(), Type(9).String())
	}
}
