package scenario

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

const sampleMsg = ` { "op" : "said", "room":"room-3", "from":"u7", "seq": 42, "ts":1700000000123456789,
  "neg": -5, "f": 2.5, "e": 1e3, "ok": true, "no": false, "nil": null,
  "text": "line\n\"q\" \u00e9\ud83d\ude00 tab\t", "k\"ey": "escaped key",
  "user": {"id": 9, "name": "bob", "tags": ["a", {"x": 1}], "deep": {"er": "yes"}},
  "items": [10, 20, [30], {"v": "w"}], "empty": {}, "arr": [] }`

func TestLookup(t *testing.T) {
	msg := []byte(sampleMsg)
	cases := []struct {
		path, want string
		ok         bool
	}{
		{"op", `"said"`, true},
		{"seq", `42`, true},
		{"user.name", `"bob"`, true},
		{"user.deep.er", `"yes"`, true},
		{"user.tags.1.x", `1`, true},
		{"items.2", `[30]`, true},
		{"items.3.v", `"w"`, true},
		{"items.4", ``, false},
		{"items.-1", ``, false},
		{"items.x", ``, false},
		{"user", `{"id": 9, "name": "bob", "tags": ["a", {"x": 1}], "deep": {"er": "yes"}}`, true},
		{"k\"ey", `"escaped key"`, true},
		{"nil", `null`, true},
		{"missing", ``, false},
		{"op.x", ``, false},
		{"empty.x", ``, false},
		{"arr.0", ``, false},
		{"", strings.TrimSpace(sampleMsg), true},
	}
	for _, c := range cases {
		got, ok := Lookup(msg, c.path)
		if ok != c.ok || string(got) != c.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}

func TestLookupIntAndString(t *testing.T) {
	msg := []byte(sampleMsg)
	ints := []struct {
		path string
		want int64
		ok   bool
	}{
		{"seq", 42, true}, {"ts", 1700000000123456789, true}, {"neg", -5, true},
		{"f", 2, true}, {"e", 1000, true}, {"user.id", 9, true}, {"items.0", 10, true},
		{"op", 0, false}, {"ok", 0, false}, {"nil", 0, false}, {"missing", 0, false},
	}
	for _, c := range ints {
		got, ok := LookupInt(msg, c.path)
		if got != c.want || ok != c.ok {
			t.Errorf("LookupInt(%q) = %d, %v; want %d, %v", c.path, got, ok, c.want, c.ok)
		}
	}
	strs := []struct {
		path, want string
		ok         bool
	}{
		{"op", "said", true},
		{"text", "line\n\"q\" é😀 tab\t", true},
		{"user.tags.0", "a", true},
		{"seq", "", false},
		{"user", "", false},
	}
	for _, c := range strs {
		got, ok := LookupString(msg, c.path)
		if string(got) != c.want || ok != c.ok {
			t.Errorf("LookupString(%q) = %q, %v; want %q, %v", c.path, got, ok, c.want, c.ok)
		}
	}
	for _, big := range []string{`{"n":9223372036854775807}`, `{"n":-9223372036854775808}`} {
		var want struct{ N int64 }
		_ = json.Unmarshal([]byte(big), &want)
		if got, ok := LookupInt([]byte(big), "n"); !ok || got != want.N {
			t.Errorf("LookupInt(%s) = %d, %v", big, got, ok)
		}
	}
	if _, ok := LookupInt([]byte(`{"n":1e300}`), "n"); ok {
		t.Error("LookupInt accepted an out-of-range number")
	}
}

func TestLookupMalformed(t *testing.T) {
	for _, msg := range []string{``, `{`, `{"a"`, `{"a":`, `{"a" 1}`, `{"a":1 "b":2}`, `[1,`, `"x`, `{"a":"\`, `{"a":{"b":[}`, `nope`, `{"a":"\u12"}`, `{"x":"\ud800"}`} {
		for _, p := range []string{"a", "b", "a.b", "0", "x"} {
			Lookup([]byte(msg), p) // must not panic
			LookupString([]byte(msg), p)
		}
	}
	if _, ok := Lookup([]byte(`{"a":1 "b":2}`), "b"); ok {
		t.Error("found a key after a missing comma")
	}
	if s, ok := LookupString([]byte(`{"x":"\ud800z"}`), "x"); !ok || string(s) != "\uFFFDz" {
		t.Errorf("lone surrogate decoded as %q, %v", s, ok)
	}
}

func mustMatcher(t testing.TB, js map[string]any, re string) *Matcher {
	t.Helper()
	m := &Matcher{JSON: js}
	if re != "" {
		m.Regex = regexp.MustCompile(re)
	}
	if err := m.Compile(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatch(t *testing.T) {
	v := testVars() // vu 7, seq 11, me=alice
	msg := sampleMsg
	cases := []struct {
		name string
		js   map[string]any
		re   string
		op   ws.OpCode
		msg  string
		want bool
	}{
		{"flat", map[string]any{"op": "said"}, "", ws.OpText, msg, true},
		{"flat mismatch", map[string]any{"op": "say"}, "", ws.OpText, msg, false},
		{"several", map[string]any{"op": "said", "seq": 42, "ok": true, "no": false, "nil": nil}, "", ws.OpText, msg, true},
		{"number as float", map[string]any{"e": 1000, "f": 2.5}, "", ws.OpText, msg, true},
		{"number mismatch", map[string]any{"seq": 43}, "", ws.OpText, msg, false},
		{"string vs number", map[string]any{"seq": "42"}, "", ws.OpText, msg, false},
		{"bool mismatch", map[string]any{"ok": false}, "", ws.OpText, msg, false},
		{"null mismatch", map[string]any{"op": nil}, "", ws.OpText, msg, false},
		{"null matches absent", map[string]any{"op": "said", "history": nil}, "", ws.OpText, msg, true},
		{"nested subset", map[string]any{"user": map[string]any{"name": "bob", "deep": map[string]any{"er": "yes"}}}, "", ws.OpText, msg, true},
		{"nested mismatch", map[string]any{"user": map[string]any{"name": "eve"}}, "", ws.OpText, msg, false},
		{"empty object", map[string]any{"empty": map[string]any{}}, "", ws.OpText, msg, true},
		{"object vs string", map[string]any{"op": map[string]any{}}, "", ws.OpText, msg, false},
		{"array", map[string]any{"items": []any{10, 20, []any{30}, map[string]any{}}}, "", ws.OpText, msg, true},
		{"array length", map[string]any{"items": []any{10, 20}}, "", ws.OpText, msg, false},
		{"empty array", map[string]any{"arr": []any{}}, "", ws.OpText, msg, true},
		{"escaped value", map[string]any{"text": "line\n\"q\" é😀 tab\t"}, "", ws.OpText, msg, true},
		{"escaped key", map[string]any{"k\"ey": "escaped key"}, "", ws.OpText, msg, true},
		{"missing key", map[string]any{"nope": 1}, "", ws.OpText, msg, false},
		{"template", map[string]any{"from": "u{{vu}}"}, "", ws.OpText, msg, true},
		{"template mismatch", map[string]any{"from": "{{me}}"}, "", ws.OpText, msg, false},
		{"numeric template vs number", map[string]any{"n": "{{seq}}"}, "", ws.OpText, `{"n":11}`, true},
		{"numeric template vs string", map[string]any{"n": "{{seq}}"}, "", ws.OpText, `{"n":"11"}`, true},
		{"numeric template mismatch", map[string]any{"n": "{{seq}}"}, "", ws.OpText, `{"n":12}`, false},
		{"regex", nil, `"op"\s*:\s*"said"`, ws.OpText, msg, true},
		{"regex mismatch", nil, `^hello`, ws.OpText, msg, false},
		{"regex and json", map[string]any{"op": "said"}, `room-3`, ws.OpText, msg, true},
		{"regex template", nil, `^vu={{vu}} seq=`, ws.OpText, "vu=7 seq=3 ...", true},
		{"regex template other vu", nil, `^vu={{vu}} seq=`, ws.OpText, "vu=17 seq=3 ...", false},
		{"regex template prefix vu", nil, `^vu={{vu}} seq=`, ws.OpText, "vu=70 seq=3 ...", false},
		{"regex template arithmetic", nil, `^room-{{vu % 4}}$`, ws.OpText, "room-3", true},
		{"regex template capture var", nil, `from {{me}}\b`, ws.OpText, "hi from alice!", true},
		{"regex template capture var mismatch", nil, `from {{me}}\b`, ws.OpText, "hi from alicex", false},
		{"regex template and json", map[string]any{"op": "said"}, `"seq":\s*{{seq}}\b`, ws.OpText, `{"op":"said","seq": 11}`, true},
		{"any message", nil, "", ws.OpBinary, "\x00\x01", true},
		{"pong never", nil, "", ws.OpPong, "", false},
		{"not an object", map[string]any{"op": "said"}, "", ws.OpText, `["op","said"]`, false},
		{"garbage", map[string]any{"op": "said"}, "", ws.OpText, `{"op":"sa`, false},
		{"empty message", map[string]any{"op": "said"}, "", ws.OpText, ``, false},
	}
	for _, c := range cases {
		m := mustMatcher(t, c.js, c.re)
		if got := m.Match(c.op, []byte(c.msg), v); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
		// An uncompiled matcher gives the same answer.
		raw := &Matcher{JSON: c.js, Regex: m.Regex}
		if got := raw.Match(c.op, []byte(c.msg), v); got != c.want {
			t.Errorf("%s (uncompiled): Match = %v, want %v", c.name, got, c.want)
		}
	}
	bin := &Matcher{Binary: true}
	if bin.Match(ws.OpText, []byte("x"), v) || !bin.Match(ws.OpBinary, []byte("x"), v) {
		t.Error("Binary matcher: wrong frame types")
	}
	if !mustMatcher(t, map[string]any{"from": "u{{vu}}"}, "").Match(ws.OpText, []byte(`{"from":"u0"}`), nil) {
		t.Error("templated match with nil Vars should render with zero Vars")
	}
}

func TestCaptureInto(t *testing.T) {
	v := testVars()
	e := &ExpectStep{Name: "welcome", Capture: map[string]string{
		"who": "user.name", "n": "seq", "txt": "text", "obj": "user.tags",
	}}
	if err := e.CaptureInto([]byte(sampleMsg), v); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"who": "bob", "n": "42", "txt": "line\n\"q\" é😀 tab\t", "obj": `["a", {"x": 1}]`} {
		if got, _ := v.Get(name); got != want {
			t.Errorf("captured %s = %q, want %q", name, got, want)
		}
	}
	re := &ExpectStep{Match: Matcher{Regex: regexp.MustCompile(`hello (\w+) #(\d+)`)},
		Capture: map[string]string{"all": "$0", "name": "$1", "num": "$2"}}
	if err := re.CaptureInto([]byte("well hello world #12!"), v); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"all": "hello world #12", "name": "world", "num": "12"} {
		if got, _ := v.Get(name); got != want {
			t.Errorf("captured %s = %q, want %q", name, got, want)
		}
	}
	bad := &ExpectStep{Name: "x", Capture: map[string]string{"a": "nope", "b": "$3"}}
	err := bad.CaptureInto([]byte(`{"op":1}`), v)
	if err == nil || !strings.Contains(err.Error(), "a (nope)") || !strings.Contains(err.Error(), "no regex") {
		t.Errorf("CaptureInto error = %v", err)
	}
	if err := re.CaptureInto([]byte("no match"), v); err == nil {
		t.Error("regex capture of a non-matching message succeeded")
	}
}

func TestMatchRegexTemplateEscapesValues(t *testing.T) {
	v := testVars()
	v.Set("tok", "a.b+c")
	e := &ExpectStep{Match: *mustMatcher(t, nil, `^tok=({{tok}}) n=(\d+)$`),
		Capture: map[string]string{"got": "$1", "n": "$2", "tok": "$0"}}
	cases := []struct {
		msg  string
		want bool
	}{
		{"tok=a.b+c n=5", true},
		{"tok=aXbbc n=5", false}, // would match an unescaped a.b+c
		{"tok=a.b+c n=x", false},
		{"tok=a.bc n=5", false},
	}
	for _, c := range cases {
		if got := e.Match.Match(ws.OpText, []byte(c.msg), v); got != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.msg, got, c.want)
		}
	}
	// Captures use the rendered regex, as it was before this capture
	// overwrites tok.
	if err := e.CaptureInto([]byte("tok=a.b+c n=5"), v); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"got": "a.b+c", "n": "5", "tok": "tok=a.b+c n=5"} {
		if got, _ := v.Get(name); got != want {
			t.Errorf("captured %s = %q, want %q", name, got, want)
		}
	}
	// The variable changed: the cached regex is recompiled for the new value.
	if !e.Match.Match(ws.OpText, []byte("tok=tok=a.b+c n=5 n=6"), v) {
		t.Error("regex not re-rendered after the variable changed")
	}
	if e.Match.Match(ws.OpText, []byte("tok=a.b+c n=5"), v) {
		t.Error("stale cached regex matched")
	}
	// Each VU renders its own: VU 8 does not match VU 7's message.
	m := mustMatcher(t, nil, `^vu={{vu}} seq=\d+$`)
	v7, v8 := NewVars(7, "s", 1, nil), NewVars(8, "s", 1, nil)
	for range 2 {
		if !m.Match(ws.OpText, []byte("vu=7 seq=1"), v7) || m.Match(ws.OpText, []byte("vu=7 seq=1"), v8) ||
			!m.Match(ws.OpText, []byte("vu=8 seq=1"), v8) || m.Match(ws.OpText, []byte("vu=8 seq=1"), v7) {
			t.Fatal("templated regex matched another VU's message")
		}
	}
	if !m.Match(ws.OpText, []byte("vu=0 seq=1"), nil) {
		t.Error("templated regex with nil Vars should render with zero Vars")
	}
	// A rendering that does not compile matches nothing.
	bad := mustMatcher(t, nil, `^a{2,{{n}}}$`) // a{2,} with the sample (empty) n
	vn := NewVars(1, "s", 1, nil)
	vn.Set("n", "3")
	if !bad.Match(ws.OpText, []byte("aaa"), vn) {
		t.Error("a{2,3} should match aaa")
	}
	vn.Set("n", "1")
	if bad.Match(ws.OpText, []byte("a"), vn) || bad.Match(ws.OpText, []byte("aa"), vn) {
		t.Error("a{2,1} does not compile and must match nothing")
	}
}

func TestCompileRegexTemplateErrors(t *testing.T) {
	for re, want := range map[string]string{
		`^a{2,{{vu}}}$`:  "does not compile",
		`^{{vu`:          "unclosed `{{`",
		`^{{nope nope}}`: "template expression",
	} {
		m := &Matcher{Regex: regexp.MustCompile(re)}
		if err := m.Compile(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q) = %v, want containing %q", re, err, want)
		}
	}
	m := mustMatcher(t, nil, `^(\w+) {{vu}} (x)`)
	if n := m.numSubexp(); n != 2 {
		t.Errorf("numSubexp = %d, want 2", n)
	}
}

func TestCaptureRepeatedDoesNotAllocate(t *testing.T) {
	v := testVars()
	e := &ExpectStep{Capture: map[string]string{"who": "from"}}
	msg := []byte(`{"op":"welcome","from":"u7"}`)
	_ = e.CaptureInto(msg, v)
	allocs := testing.AllocsPerRun(100, func() { _ = e.CaptureInto(msg, v) })
	if allocs != 0 {
		t.Errorf("repeated capture of an unchanged value: %.0f allocs", allocs)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	v := testVars()
	m := mustMatcher(t, map[string]any{"op": "said", "room": "room-{{vu % 4}}", "seq": 42, "user": map[string]any{"deep": map[string]any{"er": "yes"}}}, "")
	msg := []byte(strings.Replace(sampleMsg, "room-3", "room-3", 1))
	if !m.Match(ws.OpText, msg, v) {
		t.Fatal("no match")
	}
	if a := testing.AllocsPerRun(100, func() { m.Match(ws.OpText, msg, v) }); a != 0 {
		t.Errorf("Match allocated %.1f times per message", a)
	}
	rm := mustMatcher(t, map[string]any{"op": "said"}, `"room":\s*"room-{{vu % 4}}"`)
	if !rm.Match(ws.OpText, msg, v) {
		t.Fatal("templated regex: no match")
	}
	if raceEnabled {
		return // the regexp package keeps its matchers in a sync.Pool
	}
	if a := testing.AllocsPerRun(100, func() { rm.Match(ws.OpText, msg, v) }); a != 0 {
		t.Errorf("templated regex Match allocated %.1f times per message", a)
	}
}

func BenchmarkMatchJSON(b *testing.B) {
	m := mustMatcher(b, map[string]any{"op": "said", "room": "room-{{vu % 20}}"}, "")
	msg := []byte(`{"op":"said","room":"room-7","from":"u7","text":"hello there","ts":1700000000123456789,"seq":42,"id":42}`)
	v := NewVars(7, "talkers", 1, nil)
	if !m.Match(ws.OpText, msg, v) {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		m.Match(ws.OpText, msg, v)
	}
}

// BenchmarkMatchRegexTemplate shows that a templated regex, once compiled
// for a VU's variables, matches without allocating.
func BenchmarkMatchRegexTemplate(b *testing.B) {
	m := mustMatcher(b, nil, `^vu={{vu}} seq=`)
	msg := []byte("vu=7 seq=42 ...................................................")
	v := NewVars(7, "echoers", 1, nil)
	if !m.Match(ws.OpText, msg, v) {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		m.Match(ws.OpText, msg, v)
	}
}

func BenchmarkLookupInt(b *testing.B) {
	msg := []byte(`{"op":"said","room":"room-7","from":"u7","text":"hello there","ts":1700000000123456789,"seq":42,"id":42}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, ok := LookupInt(msg, "ts"); !ok {
			b.Fatal("not found")
		}
	}
}
