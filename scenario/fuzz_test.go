package scenario

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// FuzzParse: arbitrary YAML never panics, and whatever parses can be used.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/scenarios/*.yaml")
	errs, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, name := range append(seeds, errs...) {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("duration: 1s\nsteps: [connect, {send: {json: {a: '{{vu % 3}}'}}}, {expect: {json: {a: 1}}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a plan and an error")
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(p.Scenarios) == 0 {
			t.Fatal("a valid plan has no scenarios")
		}
		v := NewVars(1, "s", 1, func(string) string { return "e" })
		for _, s := range p.Scenarios {
			if len(s.Steps) == 0 {
				t.Fatalf("scenario %s has no steps", s.Name)
			}
			exercise(t, s.Steps, v)
			for i := range s.Listeners {
				s.Listeners[i].Match.Match(ws.OpText, []byte(`{"op":"said","ts":1}`), v)
			}
		}
	})
}

func exercise(t *testing.T, steps []Step, v *Vars) {
	for i := range steps {
		st := &steps[i]
		switch st.Kind {
		case StepConnect:
			if dt, err := newDialTarget("ws://127.0.0.1:1", st.Connect.Options); err == nil {
				dt.render(v)
			} else {
				t.Fatalf("a parsed connect step does not compile: %v", err)
			}
		case StepSend:
			out := st.Send.Body.Append(nil, v)
			if st.Send.Kind == PayloadJSON && !json.Valid(out) {
				t.Fatalf("JSON send rendered invalid JSON %q from %q", out, st.Send.Body.String())
			}
		case StepExpect:
			msg := []byte(`{"op":"welcome","name":"x"}`)
			if st.Expect.Match.Match(ws.OpText, msg, v) {
				_ = st.Expect.CaptureInto(msg, v)
			}
		case StepThink, StepPing, StepClose:
			if st.Think == nil && st.Ping == nil && st.Close == nil {
				t.Fatalf("step %s without its options", st.Kind)
			}
		}
		if inner, _ := blockSteps(st); inner != nil {
			exercise(t, inner, v)
		}
	}
}

// FuzzLookup: the scanner never panics, and on valid JSON agrees with
// encoding/json about the values it finds.
func FuzzLookup(f *testing.F) {
	f.Add([]byte(sampleMsg), "user.deep.er")
	f.Add([]byte(`{"a":{"b":[1,{"c":"\u00e9\ud83d\ude00"}]}}`), "a.b.1.c")
	f.Add([]byte(`{"ts":1700000000123456789,"seq":-4}`), "ts")
	f.Add([]byte(`[1,2,3]`), "2")
	f.Add([]byte(`{"a":"\"}`), "a")
	f.Fuzz(func(t *testing.T, msg []byte, path string) {
		raw, ok := Lookup(msg, path)
		n, iok := LookupInt(msg, path)
		s, sok := LookupString(msg, path)
		if !json.Valid(msg) || !ok {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("Lookup(%q, %q) = %q, not a JSON value", msg, path, raw)
		}
		if sok && utf8.Valid(raw) {
			var want string
			if err := json.Unmarshal(raw, &want); err != nil || want != string(s) {
				t.Fatalf("LookupString = %q, encoding/json says %q (%v)", s, want, err)
			}
		}
		if iok && raw[0] != '"' {
			var f float64
			if err := json.Unmarshal(raw, &f); err != nil || (isIntText(raw) && float64(n) != f && f < 1<<53 && f > -(1<<53)) {
				t.Fatalf("LookupInt = %d, encoding/json says %v (%v)", n, f, err)
			}
		}
	})
}

// FuzzTemplate: templates never panic, static text is kept, and JSON
// templates always render valid JSON.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"u{{vu}}", "room-{{vu % 20}}", "{{now_ns}}", "{{env.HOME}}-{{rand_string 4}}", `{{"{{"}}`, "{{uuid}}", "{{rand_int -5 5}}", "a\"b\\c\n", "{{me}}", "{{vu"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := NewVars(3, "sc\"n", 7, func(string) string { return "\x00\"\\" })
		v.Set("me", "\u2028\xff")
		tm, err := ParseTemplate(s)
		if err == nil {
			out := tm.Render(v)
			if !strings.Contains(s, "{{") && out != s {
				t.Fatalf("static %q rendered %q", s, out)
			}
		}
		jt, jerr := JSONTemplate(map[string]any{"k": s, "l": []any{s, 1}})
		if (err == nil) != (jerr == nil) {
			t.Fatalf("ParseTemplate and JSONTemplate disagree on %q: %v / %v", s, err, jerr)
		}
		if jerr == nil {
			if out := jt.Append(nil, v); !json.Valid(out) {
				t.Fatalf("JSON template of %q rendered invalid JSON %q", s, out)
			}
		}
	})
}

// FuzzMemberValues: the one-pass lookup of up to three member names finds
// exactly what Lookup finds for each of them on its own, on any input.
func FuzzMemberValues(f *testing.F) {
	f.Add([]byte(`{"op":"said","from":"u7","ts":17,"seq":42}`), "ts", "seq", "from")
	f.Add([]byte(`{"a\u0062":1,"ab":2,"c":{"ts":3}}`), "ab", "c", "")
	f.Add([]byte(`{"x":1,"x":2,"y":[1,2`), "x", "y", "x")
	f.Add([]byte(`[1,{"0":2}]`), "0", "", "1")
	f.Fuzz(func(t *testing.T, msg []byte, a, b, c string) {
		for _, k := range []string{a, b, c} {
			if strings.Contains(k, ".") {
				return
			}
		}
		cl := &clistener{Listener: &Listener{LatencyField: a, SeqField: b, SenderField: c}}
		compilePlan(cl)
		var got [numFields][]byte
		cl.plan.find(msg, &got)
		for k, key := range cl.plan.keys {
			if key == "" {
				continue
			}
			want, _ := Lookup(msg, key)
			if string(got[k]) != string(want) || (got[k] == nil) != (want == nil) {
				t.Fatalf("field %q of %q: one pass %q, Lookup %q", key, msg, got[k], want)
			}
		}
	})
}

// FuzzMatchFind: a listener's one-pass match and field lookup agrees with
// Match followed by Lookup of each field, on any input.
func FuzzMatchFind(f *testing.F) {
	f.Add([]byte(`{"op":"said","from":"u7","ts":17,"seq":42}`), "ts", "seq", "from")
	f.Add([]byte(`{"op":"said","history":null,"ts":1}`), "ts", "", "")
	f.Add([]byte(`{"op":"said","history":[],"op":"x"}`), "op", "history", "")
	f.Add([]byte(` {"op" : "sa\u0069d", "n": {"k": 2}}`), "n", "op", "x")
	f.Fuzz(func(t *testing.T, msg []byte, a, b, c string) {
		for _, k := range []string{a, b, c} {
			if strings.Contains(k, ".") {
				return
			}
		}
		l := &Listener{Match: Matcher{JSON: map[string]any{"op": "said", "history": nil, "n": map[string]any{"k": 2}}},
			LatencyField: a, SeqField: b, SenderField: c}
		if len(msg) > 0 && msg[0] == ' ' {
			l.Match.JSON = map[string]any{"op": "said", "history": nil}
		}
		if err := l.Match.Compile(); err != nil {
			t.Fatal(err)
		}
		cl := &clistener{Listener: l}
		compilePlan(cl)
		if cl.plan.all == nil {
			t.Fatal("the one-pass plan is not used")
		}
		var got [numFields][]byte
		ok := cl.matchFind(ws.OpText, msg, nil, &got)
		if want := l.Match.Match(ws.OpText, msg, nil); ok != want {
			t.Fatalf("%q: one pass matched %v, Match %v", msg, ok, want)
		}
		if !ok {
			return
		}
		for k, key := range cl.plan.keys {
			if key == "" {
				continue
			}
			want, _ := Lookup(msg, key)
			if string(got[k]) != string(want) || (got[k] == nil) != (want == nil) {
				t.Fatalf("field %q of %q: one pass %q, Lookup %q", key, msg, got[k], want)
			}
		}
	})
}
