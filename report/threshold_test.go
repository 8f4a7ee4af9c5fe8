package report

import (
	"strings"
	"testing"
	"time"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		expr    string
		metric  string
		stat    string
		pct     float64
		op      string
		value   float64
		unit    Unit
		wantErr string
	}{
		{expr: "delivery p99 < 50ms", metric: "delivery", stat: "p99", pct: 99, op: "<", value: 50e6, unit: UnitDuration},
		{expr: "errors rate < 0.1%", metric: "errors", stat: "rate", op: "<", value: 0.1, unit: UnitPercent},
		{expr: "connect_failed count == 0", metric: "connect_failed", stat: "count", op: "==", value: 0},
		{expr: "echo p99.9<=2s", metric: "echo", stat: "p99.9", pct: 99.9, op: "<=", value: 2e9, unit: UnitDuration},
		{expr: "  echo   p(99.99) >= 250 us ", metric: "echo", stat: "p99.99", pct: 99.99, op: ">=", value: 250e3, unit: UnitDuration},
		{expr: "echo P95 != 3µs", metric: "echo", stat: "p95", pct: 95, op: "!=", value: 3e3, unit: UnitDuration},
		{expr: "handshake max > 1m", metric: "handshake", stat: "max", op: ">", value: 60e9, unit: UnitDuration},
		{expr: "handshake avg < 1.5ms", metric: "handshake", stat: "mean", op: "<", value: 1.5e6, unit: UnitDuration},
		{expr: "connect min < 10ns", metric: "connect", stat: "min", op: "<", value: 10, unit: UnitDuration},
		{expr: "vus max >= 100", metric: "vus", stat: "max", op: ">=", value: 100},
		{expr: "msgs.recv rate > 1000", metric: "msgs.recv", stat: "rate", op: ">", value: 1000},
		{expr: "delivery.lost count < 1%", metric: "delivery.lost", stat: "count", op: "<", value: 1, unit: UnitPercent},
		{expr: "echo med < 1ms", metric: "echo", stat: "p50", pct: 50, op: "<", value: 1e6, unit: UnitDuration},

		{expr: "delivery p99 < 5x", wantErr: `threshold "delivery p99 < 5x": unknown unit "x" (use ns, us, ms, s, m or %)`},
		{expr: "", wantErr: `threshold "": empty; want <metric> <stat> <op> <value>`},
		{expr: "delivery p99 50ms", wantErr: `missing comparison operator (use <, <=, >, >=, == or !=)`},
		{expr: "delivery p99 = 50ms", wantErr: `unknown operator "=" (use <, <=, >, >=, == or !=)`},
		{expr: "delivery p99 =< 50ms", wantErr: `unknown operator "=<"`},
		{expr: "delivery < 50ms", wantErr: `missing stat after metric "delivery"`},
		{expr: "< 50ms", wantErr: `missing metric and stat before "<"`},
		{expr: "my delivery p99 < 50ms", wantErr: `found 3 words before "<"`},
		{expr: "delivery p98x < 50ms", wantErr: `bad percentile "p98x"`},
		{expr: "delivery p0 < 50ms", wantErr: `bad percentile "p0"`},
		{expr: "delivery p101 < 50ms", wantErr: `bad percentile "p101"`},
		{expr: "delivery stddev < 50ms", wantErr: `unknown stat "stddev" (use p50, p90, p95, p99`},
		{expr: "delivery p99 <", wantErr: `missing value after "<"`},
		{expr: "delivery p99 < fast", wantErr: `value "fast" is not a number`},
		{expr: "delivery p99 < 50", wantErr: `p99 is a latency percentile: give a duration with a unit, e.g. p99 < 50ms`},
		{expr: "delivery p99 < 5%", wantErr: `p99 is a latency percentile`},
		{expr: "errors count < 5ms", wantErr: `count takes a plain number or a percentage, not a duration`},
		{expr: "vus max < 5%", wantErr: `max takes a duration (latency) or a plain number (gauge), not a percentage`},
		{expr: "x count < 1e3", wantErr: `unknown unit "e3"`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			th, err := ParseThreshold(tc.expr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "threshold "+`"`) {
					t.Fatalf("error %q does not name the threshold", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if th.Metric != tc.metric || th.Stat != tc.stat || th.Percentile != tc.pct || th.Op != tc.op || th.Unit != tc.unit || th.Expr != tc.expr {
				t.Fatalf("got %+v", th)
			}
			if d := th.Value - tc.value; d > 1e-6 || d < -1e-6 {
				t.Fatalf("value = %v, want %v", th.Value, tc.value)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	res := fixtureResults(t)
	// fixture (5 s): delivery 1..11 ms; msgs.sent 5000; conn.opened 250;
	// conn.failed.refused 5; errors.expect_timeout 2 + closed_by_peer 1;
	// delivery.lost 5; listener.said 5000; vus max 250.
	tests := []struct {
		expr   string
		pass   bool
		actual string
		reason string
	}{
		{"delivery p99 < 50ms", true, "11.00ms", ""},
		{"delivery p99 < 10ms", false, "11.00ms", ""},
		{"delivery p50 >= 5ms", true, "6.00ms", ""},
		{"delivery max <= 11.01ms", true, "11.00ms", ""}, // highest equivalent value of 11ms
		{"delivery max <= 11ms", false, "11.00ms", ""},
		{"delivery min > 999us", true, "1.00ms", ""}, // lowest equivalent value of 1ms
		{"delivery count == 5000", true, "5000", ""},
		{"delivery rate > 999", true, "1000.0/s", ""},
		{"delivery mean < 1s", true, "5.99ms", ""},
		{"errors count == 4", true, "4", ""},          // 2 expect timeouts, 1 closed by peer, 1 clamped sample
		{"errors rate < 0.1%", true, "0.0761%", ""},   // 4 / (5000 + 255)
		{"errors rate < 0.05%", false, "0.0761%", ""}, // same value, stricter
		{"errors.clamped_sample count == 1", true, "1", ""},
		{"errors.closed_by_peer count < 1", false, "1", ""},
		{"connect_failed count == 0", false, "5", ""},
		{"connect_failed count < 2%", true, "1.96%", ""},  // 5 / 255
		{"conn.failed.timeout count == 0", true, "0", ""}, // family member never created: zero
		{"delivery.lost count < 1%", true, "0.0999%", ""}, // 5 / (5000 + 5)
		{"delivery.duplicate count == 0", true, "0", ""},
		{"msgs.sent rate >= 1000", true, "1000.0/s", ""},
		{"vus max >= 250", true, "250", ""},
		{"never p99 < 1s", false, "no data", `latency "never" recorded no samples`},
		{"nosuch p99 < 1s", false, "no data", `metric "nosuch" recorded nothing`},
		{"msgs.sent p99 < 1s", false, "n/a", `p99 needs a latency metric; "msgs.sent" is a counter`},
		{"vus mean < 5", false, "n/a", `mean does not apply to gauge "vus"`},
		{"delivery max < 100", false, "n/a", `needs a duration with a unit`},
		{"delivery count < 1%", false, "n/a", `a percentage is not defined for latency`},
		{"msgs.sent count < 1%", false, "n/a", `no denominator for a percentage of "msgs.sent"`},
		{"delivery.reordered count < 1%", true, "0%", ""},
		{"iterations.failed count < 1%", false, "no data", `no iterations recorded`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			th, err := ParseThreshold(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			v := Evaluate(res, []Threshold{th})[0]
			if v.Pass != tc.pass || v.Actual != tc.actual || !strings.Contains(v.Reason, tc.reason) || (tc.reason == "" && v.Reason != "") {
				t.Fatalf("got %+v, want pass=%v actual=%q reason~%q", v, tc.pass, tc.actual, tc.reason)
			}
			if v.Expr != tc.expr {
				t.Fatalf("verdict expr %q", v.Expr)
			}
		})
	}
}

func TestEvaluateNoDuration(t *testing.T) {
	r := NewRegistry()
	r.Counter("msgs.sent").Add(10)
	res := r.Results(Meta{})
	res.Meta = Meta{}
	th, _ := ParseThreshold("msgs.sent rate > 1")
	v := Evaluate(res, []Threshold{th})[0]
	if v.Pass || !strings.Contains(v.Reason, "duration is unknown") {
		t.Fatalf("got %+v", v)
	}
	_ = time.Second
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"}, {640, "640ns"}, {time.Microsecond, "1µs"}, {1499, "1µs"}, {812345, "812µs"},
		{999_600, "1.00ms"}, {12_345_678, "12.35ms"}, {999_996_000, "1.000s"}, {1_234_567_890, "1.235s"},
		{59_999_900_000, "1m0.0s"}, {125_300_000_000, "2m5.3s"}, {-2 * time.Millisecond, "-2.00ms"},
	}
	for _, tc := range tests {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%d) = %q, want %q", int64(tc.d), got, tc.want)
		}
	}
	for p, want := range map[float64]string{0: "0%", 0.0571: "0.0571%", 1.961: "1.96%", 12.53: "12.5%", 100: "100.0%", 0.0000123: "0.000012%"} {
		if got := formatPercent(p); got != want {
			t.Errorf("formatPercent(%v) = %q, want %q", p, got, want)
		}
	}
}

func TestRecordable(t *testing.T) {
	recorded := append(RecordedMetrics(), "rtt", "listener.said")
	for _, c := range []struct {
		metric string
		want   bool
	}{
		{"rtt", true}, {"handshake", true}, {AliasErrors, true}, {AliasConnectFailed, true},
		{"conn.closed", true}, {"conn.closed.4000", true}, {"conn.failed.refused", true},
		{"listener", true}, {"listener.said", true}, {"delivery", true}, {ErrClampedSample, true},
		{"rttt", false}, {"listener.typo", false}, {"errors.dail", false}, {"conn.closed.", false}, {"", false},
	} {
		if got := Recordable(c.metric, recorded); got != c.want {
			t.Errorf("Recordable(%q) = %v, want %v", c.metric, got, c.want)
		}
	}
}
