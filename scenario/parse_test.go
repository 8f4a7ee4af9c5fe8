package scenario

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestParseErrorsGolden parses every testdata/errors/*.yaml and compares the
// error text with the .golden file beside it.
func TestParseErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error cases: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := LoadFile(file)
			if err == nil {
				t.Fatal("parsed without error")
			}
			var one *Error
			var list ErrorList
			if !errors.As(err, &one) && !errors.As(err, &list) {
				t.Fatalf("error %T is neither *Error nor ErrorList", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
			// Every line names file:line:col.
			lineRE := regexp.MustCompile(`^` + regexp.QuoteMeta(file) + `:\d+(:\d+)?: `)
			for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if !lineRE.MatchString(l) {
					t.Errorf("line without file:line:col: %q", l)
				}
			}
		})
	}
}

// laughs is a YAML alias bomb: 10^8 nodes once expanded.
var laughs = func() string {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}()

func TestParseErrorCases(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field hint", "duration: 10s\nvu: 3\nsteps: [connect]", "t.yaml:2:1: vu: unknown field `vu` (did you mean `vus`?)"},
		{"duration needs unit", "duration: 10\nsteps: [connect]", "t.yaml:1:11: duration: expected a duration with a unit, got integer \"10\" (did you mean `10s`?)"},
		{"step hint", "duration: 1s\nsteps: [connect, clsoe]", "t.yaml:2:18: steps[1]: unknown step `clsoe` (did you mean `close`?)"},
		{"template hint", "duration: 1s\nsteps: [connect, {send: {text: '{{iterr}}'}}]", "unknown template expression `iterr` (not built in, and no expect captures it) (did you mean `iter`?)"},
		{"open needs duration", "arrival_rate: 5\nsteps: [connect]", "the open model needs `duration` or `stages`"},
		{"closed needs length", "vus: 5\nsteps: [connect]", "the closed model needs `duration`, `stages` or `iterations`"},
		{"missing steps", "duration: 1s", "missing `steps`"},
		{"json must be a mapping", "duration: 1s\nsteps: [connect, {expect: {json: [1]}}]", "steps[1].expect.json: expected a mapping"},
		{"random bytes range", "duration: 1s\nsteps: [connect, {send: {random_bytes: 0}}]", "random_bytes: must be between 1 and 16777216"},
		{"bad hex", "duration: 1s\nsteps: [connect, {send: {binary_hex: zz}}]", "binary_hex: invalid hex"},
		{"bad base64", "duration: 1s\nsteps: [connect, {send: {binary_base64: '!!'}}]", "binary_base64: invalid base64"},
		{"ping payload", "duration: 1s\nsteps: [connect, {ping: {payload: " + strings.Repeat("x", 126) + "}}]", "ping payload is at most 125 bytes"},
		{"close reason", "duration: 1s\nsteps: [connect, {close: {reason: " + strings.Repeat("x", 124) + "}}]", "close reason is at most 123 bytes"},
		{"source", "duration: 1s\nconnect: {source: 10.0.0.9-10.0.0.1}\nsteps: [connect]", "start after end"},
		{"header name", "duration: 1s\nconnect: {headers: {'bad name': x}}\nsteps: [connect]", "invalid HTTP header name"},
		{"path slash", "duration: 1s\nconnect: {path: chat}\nsteps: [connect]", "connect.path: must start with `/` (did you mean `/chat`?)"},
		{"multiple documents", "duration: 1s\nsteps: [connect]\n---\nduration: 2s", "one YAML document"},
		{"capture builtin", "duration: 1s\nsteps: [connect, {expect: {capture: {seq: x}}}]", "`seq` is a built-in template name"},
		{"nan in json", "duration: 1s\nsteps: [connect, {send: {json: {x: .nan}}}]", "cannot be written as JSON"},
		{"regex group without regex", "duration: 1s\nsteps: [connect, {expect: {capture: {x: $1}}}]", "regex group $1 needs a `regex` matcher"},
		{"regex template does not compile", "duration: 1s\nsteps: [connect, {expect: {regex: '^a{2,{{vu}}}$'}}]", "steps[1].expect: regex \"^a{2,{{vu}}}$\" rendered with sample values as \"^a{2,0}$\" does not compile"},
		{"regex template syntax", "duration: 1s\nsteps: [connect, {expect: {regex: '^vu={{vu'}}]", "unclosed `{{`"},
		{"regex template unknown var", "duration: 1s\nsteps: [connect, {expect: {regex: '^{{whom}}'}}]", "steps[1].expect.regex: unknown template expression `whom`"},
		{"regex template groups", "duration: 1s\nsteps: [connect, {expect: {regex: '^vu={{vu}} (\\w+)', capture: {w: $2}}}]", "the regex has 1 capture group(s), no $2"},
		{"iterations negative", "iterations: -1\nsteps: [connect]", "iterations: must be between 0 and 1000000000"},
		{"scenarios not a map", "scenarios: [a]", "expected a mapping of scenario name to scenario"},
		{"not a mapping", "- 1\n- 2", "t.yaml:1:1: expected a mapping, got a list"},
		{"deep flow nesting", "x: " + strings.Repeat("[", 300), "t.yaml:1:204: nesting deeper than 200 levels"},
		{"billion laughs", laughs, "aliases expand to more than 200000 nodes"},
	}
	for _, c := range cases {
		_, err := Parse("t.yaml", []byte(c.yaml))
		if err == nil {
			t.Errorf("%s: parsed without error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error\n%v\nwant containing\n%s", c.name, err, c.want)
		}
	}
}

func TestParseChatRoom(t *testing.T) {
	p, err := LoadFile("testdata/scenarios/chat-room.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Target != Builtin || p.Duration != 30*time.Second || p.GracefulStop != 5*time.Second {
		t.Errorf("plan header: target %q duration %s graceful %s", p.Target, p.Duration, p.GracefulStop)
	}
	if len(p.Thresholds) != 2 || p.Thresholds[0].Expr != "delivery p99 < 50ms" || p.Thresholds[1].Pos.Line != 6 {
		t.Errorf("thresholds: %+v", p.Thresholds)
	}
	if len(p.Scenarios) != 3 || p.Scenarios[0].Name != "talkers" || p.Scenarios[1].Name != "lurkers" || p.Scenarios[2].Name != "storm" {
		t.Fatalf("scenarios out of file order: %+v", p.Scenarios)
	}
	talk, lurk, storm := p.Scenarios[0], p.Scenarios[1], p.Scenarios[2]

	// Load models.
	if talk.Load.Model != Closed || talk.Load.VUs != 50 || talk.Load.Duration != 30*time.Second || talk.Weight != 1 {
		t.Errorf("talkers load: %+v weight %d", talk.Load, talk.Weight)
	}
	if lurk.Load.Model != Closed || lurk.Load.VUs != 0 || len(lurk.Load.Stages) != 2 || lurk.Load.Length() != 20*time.Second || lurk.Weight != 3 {
		t.Errorf("lurkers load: %+v", lurk.Load)
	}
	if storm.Load.Model != Open || storm.Load.Rate != 20 || storm.Load.MaxVUs != 500 || storm.Load.Duration != 20*time.Second {
		t.Errorf("storm load: %+v", storm.Load)
	}

	// Connect options inherit and merge.
	if talk.Connect.Path != "/chat" || talk.Connect.ConnectTimeout != 5*time.Second || talk.Connect.Subprotocols[0] != "chat" {
		t.Errorf("talkers connect: %+v", talk.Connect)
	}
	v := NewVars(3, "talkers", 1, func(string) string { return "tok" })
	if u, h := renderDial(t, "ws://127.0.0.1:1/", talk.Steps[0].Connect.Options, v); u != "ws://127.0.0.1:1/chat" || h.Get("X-Token") != "tok" {
		t.Errorf("rendered URL %q, headers %v", u, h)
	}

	// Reconnect and listeners.
	if r := talk.Reconnect; r.Mode != ReconnectBackoff || r.Initial != 100*time.Millisecond || r.Max != 5*time.Second || r.MaxAttempts != 10 {
		t.Errorf("reconnect: %+v", r)
	}
	if len(talk.Listeners) != 1 {
		t.Fatalf("listeners: %+v", talk.Listeners)
	}
	l := talk.Listeners[0]
	if l.Name != "delivery" || l.LatencyField != "ts" || l.LatencyUnit != time.Nanosecond || l.SenderField != "from" || l.SeqField != "seq" {
		t.Errorf("listener: %+v", l)
	}
	if !l.Match.Match(ws.OpText, []byte(`{"op":"said","ts":1}`), v) || l.Match.Match(ws.OpText, []byte(`{"op":"ack"}`), v) {
		t.Error("listener matcher")
	}

	// Steps.
	kinds := func(steps []Step) string {
		var s []string
		for _, st := range steps {
			s = append(s, st.Kind.String())
		}
		return strings.Join(s, ",")
	}
	if got := kinds(talk.Steps); got != "connect,send,expect,send,repeat,think,ping,close" {
		t.Errorf("talkers steps: %s", got)
	}
	nick := talk.Steps[1].Send
	if nick.Kind != PayloadJSON || string(nick.Body.Append(nil, v)) != `{"op":"nick","name":"u3"}` {
		t.Errorf("nick body: %s", nick.Body.Append(nil, v))
	}
	welcome := talk.Steps[2].Expect
	if welcome.Name != "welcome" || welcome.Timeout != 2*time.Second || welcome.OnTimeout != TimeoutFail || welcome.Capture["me"] != "name" {
		t.Errorf("welcome: %+v", welcome)
	}
	rep := talk.Steps[4].Repeat
	if rep.Count != 100 || rep.Every != 100*time.Millisecond || len(rep.Steps) != 2 {
		t.Fatalf("repeat: %+v", rep)
	}
	v.Set("me", "al\"ice")
	v.Seq = 5
	v.Now = func() time.Time { return time.Unix(0, 99) }
	say := string(rep.Steps[0].Send.Body.Append(nil, v))
	if say != `{"op":"say","room":"room-3","text":"hi from al\"ice","ts":99,"seq":5,"id":5}` || rep.Steps[0].Send.Name != "say" {
		t.Errorf("say body: %s", say)
	}
	if th := talk.Steps[5].Think; th.Dist != ThinkFixed || th.Fixed != time.Second {
		t.Errorf("think: %+v", th)
	}
	if pg := talk.Steps[6].Ping; pg.Name != "ping" || pg.Timeout != 2*time.Second {
		t.Errorf("ping: %+v", pg)
	}
	if c := talk.Steps[7].Close; c.Code != 1000 || c.Reason != "bye" {
		t.Errorf("close: %+v", c)
	}
	if talk.Steps[1].Pos.Line != 16 || talk.Steps[1].Pos.Col != 9 {
		t.Errorf("step position: %v", talk.Steps[1].Pos)
	}

	if got := kinds(lurk.Steps); got != "connect,send,think,group,close" {
		t.Errorf("lurkers steps: %s", got)
	}
	if th := lurk.Steps[2].Think; th.Dist != ThinkUniform || th.Min != time.Second || th.Max != 3*time.Second {
		t.Errorf("uniform think: %+v", th)
	}
	g := lurk.Steps[3].Group
	if g.Name != "idle" || g.Steps[0].Think.Dist != ThinkExponential || g.Steps[0].Think.Mean != 2*time.Second || g.Steps[1].Ping.Name != "ping" {
		t.Errorf("group: %+v", g)
	}
	if c := lurk.Steps[4].Close; c.Code != 1000 {
		t.Errorf("bare close: %+v", c)
	}

	hello := storm.Steps[1].Send
	if hello.Kind != PayloadText || !regexp.MustCompile(`^hello [a-zA-Z0-9]{8} [0-9a-f-]{36}$`).Match(hello.Body.Append(nil, v)) {
		t.Errorf("text body: %s", hello.Body.Append(nil, v))
	}
	exp := storm.Steps[2].Expect
	if exp.Name != "expect" || exp.Timeout != DefaultExpectTimeout || exp.Match.Regex == nil || exp.Capture["word"] != "$1" {
		t.Errorf("regex expect: %+v", exp)
	}
	if s := storm.Steps[3].Send; s.Kind != PayloadBinary || string(s.Raw) != "\x0a\x0b\x0c" {
		t.Errorf("hex: %+v", s)
	}
	if s := storm.Steps[4].Send; string(s.Raw) != "\x00\x01\x02" {
		t.Errorf("base64: %+v", s)
	}
	if s := storm.Steps[5].Send; s.RandomBytes != 64 {
		t.Errorf("random: %+v", s)
	}
}

func TestParseSingleScenarioDefaults(t *testing.T) {
	_, err := Parse("s.yaml", []byte(`
steps:
  - connect: {path: /echo, headers: {A: b}}
  - send: hello
  - expect: {}
`))
	if err == nil {
		t.Fatal("a closed model with no duration, stages or iterations parsed")
	}
	p, err := Parse("s.yaml", []byte(`
target: ws://127.0.0.1:9000/
iterations: 3
connect: {headers: {X: "1"}, compression: true}
steps:
  - connect: {path: /echo, headers: {A: b}}
  - send: hello
  - expect
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Target != "ws://127.0.0.1:9000" || p.GracefulStop != DefaultGracefulStop || len(p.Scenarios) != 1 {
		t.Fatalf("plan: %+v", p)
	}
	s := p.Scenarios[0]
	if s.Name != "default" || s.Load.Model != Closed || s.Load.VUs != 1 || s.Load.Iterations != 3 || s.Weight != 1 {
		t.Errorf("scenario: %+v", s)
	}
	o := s.Steps[0].Connect.Options
	if o.Path != "/echo" || o.Headers["X"] != "1" || o.Headers["A"] != "b" || !o.Compression {
		t.Errorf("merged connect: %+v", o)
	}
	if s.Connect.Headers["A"] != "" {
		t.Error("step connect options leaked into the scenario's")
	}
	if s.Steps[1].Send.Kind != PayloadText || s.Steps[1].Send.Body.String() != "hello" {
		t.Errorf("send shorthand: %+v", s.Steps[1].Send)
	}
	if e := s.Steps[2].Expect; e == nil || e.Name != "expect" || e.Timeout != DefaultExpectTimeout || !e.Match.Match(ws.OpText, []byte("x"), nil) {
		t.Errorf("bare expect: %+v", e)
	}
	if s.Reconnect.Mode != ReconnectOff {
		t.Errorf("default reconnect: %+v", s.Reconnect)
	}

	open, err := Parse("o.yaml", []byte("arrival_rate: 50\nduration: 1m\nsteps: [connect, close]"))
	if err != nil {
		t.Fatal(err)
	}
	if l := open.Scenarios[0].Load; l.Model != Open || l.MaxVUs != 500 || l.Rate != 50 {
		t.Errorf("open defaults: %+v", l)
	}
	small, err := Parse("o.yaml", []byte("arrival_rate: 1.5\nstages: [{duration: 10s, target: 3.5}]\nsteps: [connect]"))
	if err != nil {
		t.Fatal(err)
	}
	if l := small.Scenarios[0].Load; l.MaxVUs != DefaultMinMaxVUs || l.Stages[0].Target != 3.5 || l.Length() != 10*time.Second {
		t.Errorf("open stages: %+v", l)
	}
}

func TestParseYAMLFeatures(t *testing.T) {
	_, err := Parse("a.yaml", []byte(`
x-common: &common
  duration: 10s
  steps: [connect, close]
scenarios:
  a:
    <<: *common
    vus: 2
  b:
    <<: *common
    duration: 20s
    reconnect: immediate
    steps:
      - connect
      - send:
          text: |
            multi
            line
`))
	if err == nil {
		t.Fatal("unknown top-level key x-common accepted")
	}
	if !strings.Contains(err.Error(), "unknown field `x-common`") {
		t.Fatalf("error: %v", err)
	}
	p, err := Parse("a.yaml", []byte(`
scenarios:
  a: &common
    duration: 10s
    steps: [connect, close]
  b:
    <<: *common
    duration: 20s
    reconnect: immediate
    steps:
      - connect
      - send:
          text: |
            multi
            line
  c: *common
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := p.Scenarios[0], p.Scenarios[1], p.Scenarios[2]
	if a.Load.Duration != 10*time.Second || b.Load.Duration != 20*time.Second || c.Load.Duration != 10*time.Second {
		t.Errorf("merge keys and aliases: %s %s %s", a.Load.Duration, b.Load.Duration, c.Load.Duration)
	}
	if b.Reconnect.Mode != ReconnectImmediate || b.Steps[1].Send.Body.String() != "multi\nline\n" {
		t.Errorf("b: %+v %q", b.Reconnect, b.Steps[1].Send.Body.String())
	}
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }

func TestParseEverything(t *testing.T) {
	p, err := LoadFile("testdata/scenarios/everything.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tagged := 0
	for _, sc := range p.Scenarios {
		WalkSteps(sc.Steps, func(st *Step) {
			if st.Kind == StepPing && st.Ping.Name == "rtt" && st.Tags.String() == "phase=warm,room=r-1.big" {
				tagged++
			}
		})
	}
	if tagged != 1 {
		t.Errorf("the tagged ping was not found (%d)", tagged)
	}
	c := p.Connect
	if p.Target != "ws://127.0.0.1:8080" || p.GracefulStop != 0 || p.Duration != time.Minute {
		t.Errorf("file: target %q graceful %s duration %s", p.Target, p.GracefulStop, p.Duration)
	}
	if c.Path != "/chat?user=u{{vu}}" || c.Headers["X-Version"] != "2" || len(c.Subprotocols) != 1 || c.Subprotocols[0] != "chat.v1" ||
		c.ConnectTimeout != 3*time.Second || c.HandshakeTimeout != 4*time.Second || !c.Compression || !c.Insecure ||
		c.CAFile != "/etc/ssl/extra.pem" || c.Source != "127.0.0.0/30" || c.RecvBuffer != 8192 ||
		c.Backoff != (DialBackoff{Initial: 20 * time.Millisecond, Max: 2 * time.Second}) {
		t.Errorf("connect: %+v", c)
	}
	v := NewVars(4, "arrivals", 1, func(string) string { return "t" })
	if u, _ := renderDial(t, "ws://h:1", c, v); u != "ws://h:1/chat?user=u4" {
		t.Errorf("templated URL %q", u)
	}
	arr, steady := p.Scenarios[0], p.Scenarios[1]
	l := arr.Load
	if l.Model != Open || l.Rate != 0 || l.MaxVUs != 40 || len(l.Stages) != 2 || l.Stages[0].Target != 10.5 || arr.Weight != 2 {
		t.Errorf("open load: %+v", l)
	}
	if r := arr.Reconnect; r.Mode != ReconnectBackoff || r.Initial != 50*time.Millisecond || r.Max != time.Second {
		t.Errorf("reconnect: %+v", r)
	}
	said := arr.Listeners[0]
	if said.Match.Match(ws.OpText, []byte(`{"op":"said","meta":{"room":"r1"},"tags":["a",1,true,null]}`), v) != true ||
		said.Match.Match(ws.OpText, []byte(`{"op":"said","meta":{"room":"r2"},"tags":["a",1,true,null]}`), v) {
		t.Error("inline nested listener matcher")
	}
	if d := arr.Listeners[2]; d.LatencyField != "meta.ts" || d.LatencyUnit != time.Microsecond || d.SeqField != "seq" || d.SenderField != "" {
		t.Errorf("delivery listener: %+v", d)
	}
	if !arr.Listeners[1].Match.Match(ws.OpBinary, []byte("hello"), v) {
		t.Error("regex listener")
	}
	st := arr.Steps
	o := st[0].Connect.Options
	if o.Path != "/echo" || o.Headers["X-Step"] != "{{scenario}}" || o.Headers["X-Token"] != "{{env.TOKEN}}" || o.HandshakeTimeout != time.Second || o.ConnectTimeout != 3*time.Second {
		t.Errorf("connect step options: %+v", o)
	}
	if _, h := renderDial(t, "ws://h:1", o, v); h.Get("X-Step") != "arrivals" || h.Get("X-Token") != "t" {
		t.Errorf("rendered headers: %v", h)
	}
	body := st[1].Send.Body.Append(nil, v)
	if !regexp.MustCompile(`^\[1,"two",\{"three":[123]\},4\.5,false,null\]$`).Match(body) {
		t.Errorf("array body: %s", body)
	}
	e := st[2].Expect
	if e.OnTimeout != TimeoutContinue || e.Timeout != time.Second || e.Name != "first_echo" {
		t.Errorf("expect: %+v", e)
	}
	if err := e.CaptureInto(body, v); err != nil {
		t.Fatal(err)
	}
	if three, _ := v.Get("three"); !strings.Contains(string(body), `"three":`+three) {
		t.Errorf("captured three=%q from %s", three, body)
	}
	if th := st[5].Think; th.Dist != ThinkFixed || th.Fixed != 10*time.Millisecond || th.NoRead {
		t.Errorf("fixed think: %+v", th)
	}
	if th := st[6].Think; th.Dist != ThinkExponential || th.Mean != 5*time.Millisecond || !th.NoRead {
		t.Errorf("think without reading: %+v", th)
	}
	if pg := st[7].Ping; pg.Name != "rtt" || string(pg.Payload) != "hi" {
		t.Errorf("ping: %+v", pg)
	}
	if cl := st[8].Close; cl.Code != 4000 || cl.Reason != "done" {
		t.Errorf("close: %+v", cl)
	}
	if steady.Load.VUs != 2 || steady.Load.Iterations != 3 || steady.Load.Duration != 30*time.Second || steady.Reconnect.Mode != ReconnectImmediate {
		t.Errorf("steady: %+v %+v", steady.Load, steady.Reconnect)
	}
	rep := steady.Steps[3].Group.Steps[0].Repeat
	if rep.Count != 5 || rep.Duration != 2*time.Second || rep.Every != 200*time.Millisecond {
		t.Errorf("repeat: %+v", rep)
	}
	if got := string(steady.Steps[4].Send.Raw) + string(steady.Steps[5].Send.Raw); got != "hello\xde\xad\xbe\xef" || steady.Steps[6].Send.RandomBytes != 16 {
		t.Errorf("binary payloads: %q", got)
	}
}

// renderDial renders the URL and headers (static and templated) a VU with
// variables v dials for the connect options o, the way the runner does.
func renderDial(t *testing.T, base string, o ConnectOptions, v *Vars) (string, http.Header) {
	t.Helper()
	dt, err := newDialTarget(base, o)
	if err != nil {
		t.Fatal(err)
	}
	u, templated := dt.render(v)
	h := http.Header{}
	for _, m := range []map[string][]string{dt.static, templated} {
		for name, vals := range m {
			h[http.CanonicalHeaderKey(name)] = vals
		}
	}
	return u, h
}
