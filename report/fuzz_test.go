package report

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseThreshold: no input panics, errors name the threshold, and an
// accepted threshold evaluates without panicking.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{
		"delivery p99 < 50ms", "errors rate < 0.1%", "connect_failed count == 0", "echo p(99.9) >= 2 s",
		"vus max != 10", "delivery p99 < 5x", "a b c < 1", "p99 <", "x p100 <= -1us", "x count =< 3", "",
		"delivery{scenario=lurkers} p99 < 100ms", "delivery{scenario=a, room=b} count == 0", "x{ p99 < 1ms", "x} p99 < 1ms",
		"x{a=b}{c=d} max < 1s", "{a=b} p99 < 1ms", "x{a=} rate < 1%", "x{=b} count > 0", "errors{scenario=s} rate < 0.1%",
	} {
		f.Add(s)
	}
	res := fixtureResults(f)
	f.Fuzz(func(t *testing.T, expr string) {
		th, err := ParseThreshold(expr)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "threshold ") {
				t.Fatalf("error %q does not name the threshold", err)
			}
			return
		}
		if th.Metric == "" || th.Name == "" || th.Stat == "" || th.Op == "" || th.Metric != SeriesName(th.Name, th.Tags) {
			t.Fatalf("accepted %q as %+v", expr, th)
		}
		v := Evaluate(res, []Threshold{th})
		if len(v) != 1 || v[0].Expr != expr || v[0].Actual == "" {
			t.Fatalf("verdict %+v", v)
		}
	})
}

// FuzzReadJSON: no input panics, and what is accepted renders and merges.
func FuzzReadJSON(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, fixtureResults(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"latencies":[{"name":"x","count":1,"histogram":"HISTFAAAACd42pJpmSzMwMDAyAABzFCakYGB2c1gxwIG+w9QEUAAAAD//1KmBEw="}],"series":[{"t":-5}]}`))
	f.Add([]byte(`{"meta":{"start":"2026-11-21T23:00:00Z","end":"2026-11-21T22:00:00Z"},"thresholds":[{"expr":"x p99 < 1ms"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteSummary(&out, r); err != nil {
			t.Fatalf("summary of accepted results: %v", err)
		}
		if _, err := Merge(r, r); err != nil {
			t.Fatalf("merge of accepted results: %v", err)
		}
	})
}
