package scenario

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testVars() *Vars {
	v := NewVars(7, "talkers", 42, func(name string) string {
		if name == "TOKEN" {
			return `se"cret`
		}
		return ""
	})
	v.Iter = 3
	v.Seq = 11
	v.Now = func() time.Time { return time.Unix(1700000000, 123456789) }
	v.Set("me", "alice")
	return v
}

func TestTemplateExpressions(t *testing.T) {
	cases := []struct {
		src  string
		want string // exact, or a regexp when it starts with ^
	}{
		{"plain text", "plain text"},
		{"", ""},
		{"u{{vu}}", "u7"},
		{"{{ vu }}", "7"},
		{"{{iter}}", "3"},
		{"{{scenario}}", "talkers"},
		{"{{seq}}", "11"},
		{"{{now_ns}}", "1700000000123456789"},
		{"{{now_ms}}", "1700000000123"},
		{"{{now_us}}", "1700000000123456"},
		{"{{now_s}}", "1700000000"},
		{"{{env.TOKEN}}", `se"cret`},
		{"{{env.MISSING}}", ""},
		{"{{me}}", "alice"},
		{"{{unset}}", ""},
		{"room-{{vu % 5}}", "room-2"},
		{"{{vu / 2}}", "3"},
		{"{{vu+1}}", "8"},
		{"{{vu - 10}}", "-3"},
		{"{{iter * 4}}", "12"},
		{"{{10 % vu}}", "3"},
		{"{{seq - 1}}", "10"},
		{"{{vu-1}}", "6"},
		{"{{iter / iter}}", "1"},
		{`{{"{{"}}x}}`, "{{x}}"},
		{"a}}b", "a}}b"},
		{"{{rand_int 5 5}}", "5"},
		{"{{rand_int -3 -3}}", "-3"},
		{"{{rand_int 1 100}}", `^([1-9][0-9]?|100)$`},
		{"{{rand_string 8}}", `^[a-zA-Z0-9]{8}$`},
		{"{{uuid}}", `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
	}
	for _, c := range cases {
		tmpl, err := ParseTemplate(c.src)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", c.src, err)
			continue
		}
		got := tmpl.Render(testVars())
		if strings.HasPrefix(c.want, "^") {
			if !regexp.MustCompile(c.want).MatchString(got) {
				t.Errorf("%q rendered %q, want match of %s", c.src, got, c.want)
			}
		} else if got != c.want {
			t.Errorf("%q rendered %q, want %q", c.src, got, c.want)
		}
		if tmpl.String() != c.src {
			t.Errorf("String() = %q, want %q", tmpl.String(), c.src)
		}
	}
}

func TestTemplateDivisionByVariableZero(t *testing.T) {
	v := testVars()
	v.Iter = 0
	if got := mustTemplate("{{vu / iter}}{{vu % iter}}").Render(v); got != "00" {
		t.Fatalf("got %q, want 00", got)
	}
}

func TestTemplateErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"{{vu", "unclosed `{{`"},
		{"{{}}", "empty expression"},
		{"{{vu +}}", "missing operand at the end"},
		{"{{vu % 0}}", "division by zero"},
		{"{{rand_int 1}}", "want `rand_int MIN MAX`"},
		{"{{rand_int 5 1}}", "MIN <= MAX"},
		{"{{rand_int a b}}", "must be integers"},
		{"{{rand_string 0}}", "rand_string length"},
		{"{{rand_string}}", "want `rand_string N`"},
		{"{{env.}}", "want `env.NAME`"},
		{"{{vu $}}", "unexpected '$'"},
		{"{{1x}}", "not a known expression"},
		{"{{scenario * 2}}", "arithmetic works on"},
		{`{{"abc}}`, "unexpected '\"'"},
	}
	for _, c := range cases {
		_, err := ParseTemplate(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseTemplate(%q) error = %v, want containing %q", c.src, err, c.want)
		}
	}
}

func TestTemplateVariablesAndStatic(t *testing.T) {
	tm := mustTemplate("{{me}}-{{you}}-{{me}}-{{vu}}")
	if got := strings.Join(tm.Variables(), ","); got != "me,you" {
		t.Errorf("Variables() = %q", got)
	}
	if tm.Static() {
		t.Error("Static() = true for a dynamic template")
	}
	if !mustTemplate(`static {{"text"}}`).Static() {
		t.Error("Static() = false for a static template")
	}
}

func TestJSONTemplate(t *testing.T) {
	v := testVars()
	v.Set("quote", "a\"b\\c\n\x01é")
	v.Set("odd", "\b\f\u2028\u2029<&>\xff")
	cases := []struct {
		in   any
		want string
	}{
		{map[string]any{"op": "say", "seq": "{{seq}}", "ts": "{{now_ns}}", "room": "room-{{vu % 5}}"},
			`{"op":"say","room":"room-2","seq":11,"ts":1700000000123456789}`},
		{orderedObject{{"z", 1}, {"a", true}, {"n", nil}, {"f", 1.5}, {"l", []any{"{{vu}}", "x{{vu}}"}}},
			`{"z":1,"a":true,"n":null,"f":1.5,"l":[7,"x7"]}`},
		{map[string]any{"t": "{{quote}}", "k\"ey": "lit\"eral\t"},
			`{"k\"ey":"lit\"eral\t","t":"a\"b\\c\n\u0001é"}`},
		{map[string]any{"s": "{{scenario}}", "id": "{{uuid}}x", "n": "{{rand_int 3 3}}"}, ``},
		{"{{env.TOKEN}}", `"se\"cret"`},
		{map[string]any{"big": int64(-5), "u": uint64(9)}, `{"big":-5,"u":9}`},
		// Escaped as encoding/json escapes (HTML escaping off), in literal
		// text and in rendered values alike: \b, \f, U+2028/U+2029, bad UTF-8.
		{map[string]any{"lit": "\b\f\u2028\u2029<&>\xff", "v": "{{odd}}"},
			`{"lit":"\b\f\u2028\u2029<&>\ufffd","v":"\b\f\u2028\u2029<&>\ufffd"}`},
	}
	for _, c := range cases {
		tm, err := JSONTemplate(c.in)
		if err != nil {
			t.Fatalf("JSONTemplate(%v): %v", c.in, err)
		}
		out := tm.Append(nil, v)
		if !json.Valid(out) {
			t.Errorf("JSONTemplate(%v) rendered invalid JSON %s", c.in, out)
		}
		if c.want != "" && string(out) != c.want {
			t.Errorf("JSONTemplate(%v) = %s, want %s", c.in, out, c.want)
		}
	}
	if _, err := JSONTemplate(map[string]any{"x": "{{vu"}); err == nil {
		t.Error("JSONTemplate accepted a bad template")
	}
	if _, err := JSONTemplate(struct{}{}); err == nil {
		t.Error("JSONTemplate accepted a struct")
	}
	tm, _ := JSONTemplate(map[string]any{"seq": "{{seq}}"})
	if tm.String() != `{"seq":"{{seq}}"}` {
		t.Errorf("JSON template source = %s", tm.String())
	}
}

func TestVarsDeterministicRandom(t *testing.T) {
	tm := mustTemplate("{{uuid}} {{rand_string 12}} {{rand_int 0 1000000}}")
	a := tm.Render(NewVars(3, "s", 9, nil))
	b := tm.Render(NewVars(3, "s", 9, nil))
	c := tm.Render(NewVars(4, "s", 9, nil))
	if a != b {
		t.Errorf("same seed and VU rendered %q and %q", a, b)
	}
	if a == c {
		t.Errorf("different VUs rendered the same %q", a)
	}
	var zero Vars // hand-built Vars without a random source still renders
	if got := tm.Render(&zero); got == "" {
		t.Error("zero Vars rendered nothing")
	}
}

func BenchmarkTemplateAppend(b *testing.B) {
	tm, err := JSONTemplate(orderedObject{
		{"op", "say"}, {"room", "room-{{vu % 20}}"}, {"text", "hi"},
		{"ts", "{{now_ns}}"}, {"seq", "{{seq}}"}, {"id", "{{seq}}"},
	})
	if err != nil {
		b.Fatal(err)
	}
	v := NewVars(17, "talkers", 1, nil)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		v.Seq++
		buf = tm.Append(buf[:0], v)
	}
}

func TestTemplateArithmetic(t *testing.T) {
	cases := []struct {
		expr string
		vu   int
		want string
	}{
		{"{{vu % 20}}", 45, "5"},
		{"{{vu - 1 + 2 * (vu % 2)}}", 1, "2"},
		{"{{vu - 1 + 2 * (vu % 2)}}", 2, "1"},
		{"{{vu - 1 + 2 * (vu % 2)}}", 7, "8"},
		{"{{2 + 3 * 4}}", 1, "14"},
		{"{{(2 + 3) * 4}}", 1, "20"},
		{"{{10 - 4 - 3}}", 1, "3"},
		{"{{100 / 10 / 5}}", 1, "2"},
		{"{{-3 + vu}}", 5, "2"},
		{"{{(-3) * (vu + 1)}}", 1, "-6"},
		{"{{((((vu))))}}", 9, "9"},
	}
	for _, c := range cases {
		tp, err := ParseTemplate(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := string(tp.Append(nil, NewVars(c.vu, "s", 1, nil))); got != c.want {
			t.Errorf("%s with vu=%d = %s, want %s", c.expr, c.vu, got, c.want)
		}
	}
	for _, bad := range []string{"{{vu +}}", "{{(vu}}", "{{vu)}}", "{{vu (2)}}", "{{vu % 0}}", "{{* vu}}", "{{vu + name}}",
		"{{1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+(1+1))))))))))))))))}}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%s: parsed, want an error", bad)
		}
	}
}

// mustTemplate is ParseTemplate for constant strings in tests; it panics
// on error.
func mustTemplate(s string) *Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}
