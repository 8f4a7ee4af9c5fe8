package recgen

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/scenario"
)

var t0 = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

// conn builds a recorded connection: lines starting with '>' are client
// messages, '<' server ones, "~D" a pause of duration D; "#" lines binary
// (hex-free: their text as bytes) from the server.
func conn(n uint64, request string, lines ...string) *Conn {
	c := &Conn{Source: "test.trace", N: n, Start: t0, Handshake: true,
		Request:  inspect.ParseHead([]byte(request)),
		Response: inspect.ParseHead([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))}
	at := t0
	for _, l := range lines {
		switch l[0] {
		case '~':
			d, err := time.ParseDuration(l[1:])
			if err != nil {
				panic(err)
			}
			at = at.Add(d)
			continue
		case '>':
			at = at.Add(time.Millisecond)
			c.Msgs = append(c.Msgs, Msg{Send: true, At: at, Payload: []byte(l[1:])})
		case '<':
			at = at.Add(time.Millisecond)
			c.Msgs = append(c.Msgs, Msg{At: at, Payload: []byte(l[1:])})
		case '#':
			at = at.Add(time.Millisecond)
			c.Msgs = append(c.Msgs, Msg{At: at, Binary: true, Payload: []byte(l[1:])})
		}
	}
	return c
}

const chatReq = "GET /chat HTTP/1.1\r\nHost: chat.example:8080\r\nUpgrade: websocket\r\nOrigin: https://chat.example\r\nUser-Agent: test\r\nCookie: sid=secret\r\nAuthorization: Bearer xyz\r\nX-Client: 7\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n\r\n"

// gen generates and checks the file with the scenario parser.
func gen(t *testing.T, o Options, conns ...*Conn) *Result {
	t.Helper()
	res, err := Generate([]Source{{Path: "test.trace", Conns: len(conns)}}, conns, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scenario.Parse("generated.yaml", res.YAML); err != nil {
		t.Fatalf("generated file does not parse: %v\n%s", err, res.YAML)
	}
	again, _ := Generate([]Source{{Path: "test.trace", Conns: len(conns)}}, conns, o)
	if !bytes.Equal(again.YAML, res.YAML) {
		t.Fatalf("not deterministic")
	}
	return res
}

func has(t *testing.T, res *Result, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(string(res.YAML), w) {
			t.Errorf("generated file lacks %q:\n%s", w, res.YAML)
		}
	}
}

func hasNot(t *testing.T, res *Result, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if strings.Contains(string(res.YAML), w) {
			t.Errorf("generated file has %q:\n%s", w, res.YAML)
		}
	}
}

func TestConnectOptions(t *testing.T) {
	c := conn(1, chatReq, ">hello")
	res := gen(t, DefaultOptions(), c)
	has(t, res, `target: "ws://chat.example:8080"`, `"Origin": "https://chat.example"`, `"X-Client": "7"`,
		`subprotocols: ["chat.v1", "chat.v2"]`, "# left out: Cookie, Authorization")
	hasNot(t, res, "secret", "xyz", "User-Agent")
	o := DefaultOptions()
	o.KeepAuth = true
	res = gen(t, o, c)
	has(t, res, `"Cookie": "{{env.WSBENCH_COOKIE}}"`, `"Authorization": "{{env.WSBENCH_AUTHORIZATION}}"`)
	hasNot(t, res, "secret", "xyz")
	// Query: identities and credentials.
	c = conn(1, "GET /ws?user=zoe&token=abc&room=r1 HTTP/1.1\r\nHost: h\r\n\r\n", ">hi")
	res = gen(t, DefaultOptions(), c)
	has(t, res, `path: "/ws?user=zoe-{{vu}}&token={{env.WSBENCH_Q_TOKEN}}&room=r1"`)
}

func TestParameters(t *testing.T) {
	ms := t0.Add(3 * time.Millisecond).UnixMilli()
	c := conn(1, chatReq,
		fmt.Sprintf(`>{"type":"login","user":"zoe","rid":"req-7","at":%d,"n":5,"session":1234}`, ms),
		`<{"type":"welcome","user":"zoe","rid":"req-7"}`,
		"~1500ms",
		`>{"type":"move","x":3,"n":6,"who":"zoe","t_us":`+fmt.Sprint(t0.UnixMicro())+`}`,
		`>{"type":"move","x":3,"n":7,"secs":`+fmt.Sprint(t0.Unix())+`,"ts":`+fmt.Sprint(t0.Unix())+`}`,
		`<{"type":"moved","by":"zoe"}`,
		`>{"type":"password","password":"hunter2","count":1}`,
		`>{"type":"ping","ref":"9b2c4e1a-77aa-4f3b-9c1d-2a3b4c5d6e71"}`,
	)
	res := gen(t, DefaultOptions(), c)
	has(t, res,
		`"user": "zoe-{{vu}}"`, `"rid": "req-{{seq}}"`, `"at": "{{now_ms}}"`, `"n": "{{seq}}"`, `"session": "{{vu}}"`,
		`"who": "zoe-{{vu}}"`, `"t_us": "{{now_us}}"`, `"ts": "{{now_s}}"`, `"secs": `+fmt.Sprint(t0.Unix()),
		`"password": "{{env.WSBENCH_PASSWORD}}"`, `"ref": "9b2c4e1a-77aa-4f3b-9c1d-2a3b4c5d6e71"`,
		// The reply correlated by rid, matched on kind and identity.
		`expect: {name: login, json: {"type": "welcome", "user": "zoe-{{vu}}", "rid": "req-{{seq}}"}}`,
		`expect: {name: move, json: {"type": "moved", "by": "zoe-{{vu}}"}}`,
		"think: 1.501s",
	)
	hasNot(t, res, "hunter2")
	var lines []string
	for _, ch := range res.Changes {
		lines = append(lines, ch.String())
	}
	report := strings.Join(lines, "\n")
	for _, w := range []string{`n "5", "6", "7" → "{{seq}}"`, `user "zoe" → "zoe-{{vu}}"`, `password "(recorded value)" → "{{env.WSBENCH_PASSWORD}}": a credential`} {
		if !strings.Contains(report, w) {
			t.Errorf("report lacks %q:\n%s", w, report)
		}
	}
	o := DefaultOptions()
	o.NoParams = true
	res = gen(t, o, c)
	has(t, res, `"user": "zoe"`, `"password": "{{env.WSBENCH_PASSWORD}}"`)
	hasNot(t, res, "{{vu}}", "{{seq}}", "{{now")
}

func TestRepliesAndThinks(t *testing.T) {
	c := conn(1, "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n",
		"<hello, {{guest}}",
		"~20s", ">ping {{x}}", "<ping {{x}}",
		"~2ms", ">bin please", "#\x00\x01",
		">fire and forget", ">{\"op\":\"q\"}",
		"~6s", "<late",
		"~300ms",
	)
	o := DefaultOptions()
	o.ThinkScale, o.ThinkMax = 0.5, 8*time.Second
	res := gen(t, o, c)
	has(t, res,
		`expect: {name: greeting}`,
		`- think: 8s  # recorded 20.001s`,
		`send: {text: "ping {{\"{{\"}}x}}"}`, `expect: {name: reply, regex: "^ping \\{\\{x\\}\\}$"}`,
		`expect: {name: reply, binary: true}`,
		`send: {json: {"op": "q"}}`,
		"- think: 3.001s  # recorded 6.001s",
	)
	hasNot(t, res, `"late"`, "think: 2ms")
	if n := strings.Count(string(res.YAML), "- expect"); n != 3 {
		t.Errorf("%d expects, want 3 (a reply 6 s late is not one):\n%s", n, res.YAML)
	}
}

func TestMergeSimilar(t *testing.T) {
	a := conn(1, chatReq, `>{"op":"nick","name":"a"}`, `<{"op":"welcome"}`, "~1s", `>{"op":"say","text":"x"}`)
	b := conn(2, chatReq, `>{"op":"nick","name":"b"}`, `<{"op":"welcome"}`, "~3s", `>{"op":"say","text":"y"}`)
	c := conn(3, chatReq, `>{"op":"nick","name":"c"}`, `<{"op":"welcome"}`)
	o := DefaultOptions()
	o.VUs = 9
	res := gen(t, o, a, b, c)
	if res.Scenarios != 3 {
		t.Errorf("%d scenarios without --merge-similar, want 3", res.Scenarios)
	}
	has(t, res, "  c1:", "  c2:", "  c3:", "vus: 3")
	o.MergeSimilar = true
	res = gen(t, o, a, b, c)
	if res.Scenarios != 2 {
		t.Errorf("%d scenarios with --merge-similar, want 2", res.Scenarios)
	}
	has(t, res, "# the same sequence (--merge-similar): c2 of test.trace", "vus: 6", "vus: 3")
	hasNot(t, res, "  c2:")
	if len(res.Changes) != 1 || res.Changes[0].String() != `c1-c3 of test.trace: name "a", "b", "c" → "a-{{vu}}", …: an identity, by field name: one per VU (3 values)` {
		t.Errorf("changes of alike connections not merged into one line: %v", res.Changes)
	}
}

func TestSocketIO(t *testing.T) {
	c := conn(1, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: h:3000\r\n\r\n",
		`<0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
		`>40/admin,{"token":"s3","name":"kim"}`,
		`<40/admin,{"sid":"y"}`,
		`<42/admin,["hello",{"to":"kim"}]`,
		"~100ms", `>42/admin,1["join","room-1"]`, `<43/admin,1[{"ok":true}]`,
		`<2`, `>3`,
		`>451-/admin,["up",{"_placeholder":true,"num":0}]`, "#\x01\x02",
		`>42/admin,["say",{"from":"kim","seq":1}]`, `<42/admin,["said",{"from":"kim"}]`,
	)
	c.Msgs[len(c.Msgs)-3].Send = true // the attachment is the client's
	res := gen(t, DefaultOptions(), c)
	has(t, res, "protocol: socketio", `namespace: "/admin"`, `auth: {"token": "{{env.WSBENCH_TOKEN}}", "name": "kim-{{vu}}"}`,
		`expect: {name: greeting, event: "hello", json: {"to": "kim-{{vu}}"}}`,
		`emit: {event: "join", args: ["room-1"], name: join, ack: true}`,
		`emit: {event: "up", binary_base64: "AQI="}`,
		`emit: {event: "say", args: [{"from": "kim-{{vu}}", "seq": "{{seq}}"}]}`,
		`expect: {name: say, event: "said", json: {"from": "kim-{{vu}}"}}`)
	hasNot(t, res, "send:", "s3", `"2"`)
}

// FuzzGenerate: whatever was recorded, the generated file parses, and
// the same input gives the same bytes.
func FuzzGenerate(f *testing.F) {
	f.Add("/chat?user=a", `>{"op":"nick","name":"a","id":1}
<{"op":"ack","id":1}
~1s
>{"op":"say","text":"{{x}}\u0085","ts":1796590485472805347}
<"\ud800"`)
	f.Add("/socket.io/?EIO=4&transport=websocket", `<0{"sid":"x"}
>40{"k":"v"}
>42["a\u2028b",{"":[null,true,1e5]}]
<42["a",{"":1}]`)
	f.Add("/x", ">\x00\xff\r\n\t'\"\\: - [ ] { } # & * ! | > % @ `")
	f.Fuzz(func(t *testing.T, path, script string) {
		if strings.ContainsAny(path, " \r\n") {
			return
		}
		var lines []string
		for l := range strings.SplitSeq(script, "\n") {
			if l == "" || !strings.ContainsRune("<>#~", rune(l[0])) {
				continue
			}
			if l[0] == '~' {
				if _, err := time.ParseDuration(l[1:]); err != nil {
					continue
				}
			}
			lines = append(lines, l)
		}
		c := conn(1, "GET "+path+" HTTP/1.1\r\nHost: h\r\nX-A: "+strings.ReplaceAll(path, "{", "(")+"\r\n\r\n", lines...)
		for _, o := range []Options{DefaultOptions(), {VUs: 3, Iterations: 0, Duration: time.Minute, ThinkScale: 2, ReplyWindow: time.Second, MergeSimilar: true, KeepAuth: true}} {
			res, err := Generate([]Source{{Path: "f.trace", Conns: 1}}, []*Conn{c, c}, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := scenario.Parse("generated.yaml", res.YAML); err != nil {
				t.Fatalf("generated file does not parse: %v\n%s", err, res.YAML)
			}
			again, _ := Generate([]Source{{Path: "f.trace", Conns: 1}}, []*Conn{c, c}, o)
			if !bytes.Equal(again.YAML, res.YAML) {
				t.Fatal("not deterministic")
			}
		}
	})
}

// TestSeveralSources: scenarios of several files are named after them,
// uniquely even when two files share a base name.
func TestSeveralSources(t *testing.T) {
	a := conn(1, chatReq, `>{"op":"echo"}`)
	b := conn(1, chatReq, `>{"op":"echo"}`)
	c := conn(2, chatReq, `>{"op":"echo"}`)
	a.Source, b.Source, c.Source = "x/day1.trace", "y/day1.trace", "y/day1.trace"
	srcs := []Source{{Path: "x/day1.trace", Conns: 1}, {Path: "y/day1.trace", Conns: 2}}
	res, err := Generate(srcs, []*Conn{a, b, c}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scenario.Parse("g.yaml", res.YAML); err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	has(t, res, "  day1-c1:", "  day1-c1-2:", "  day1-c2:", "#   day1.trace: 1 connection", "#   day1.trace: 2 connections")
}

// TestRefusedUpgrade: a connection the server did not upgrade is left out
// with a note; a recording of only such connections is an error.
func TestRefusedUpgrade(t *testing.T) {
	ok := conn(1, chatReq, `>{"op":"echo"}`)
	refused := conn(2, chatReq)
	refused.Response = inspect.ParseHead([]byte("HTTP/1.1 403 Forbidden\r\n\r\n"))
	res := gen(t, DefaultOptions(), ok, refused)
	if res.Scenarios != 1 || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "c2 of test.trace: the upgrade was answered 403, not 101: left out") {
		t.Errorf("%d scenarios, notes %q", res.Scenarios, res.Notes)
	}
	if _, err := Generate(nil, []*Conn{refused}, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "none upgraded") {
		t.Errorf("only a refused upgrade: %v", err)
	}
}
