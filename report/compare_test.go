package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestCompareIdenticalHasNoRegression(t *testing.T) {
	r := htmlFixture(t)
	cmp := Compare(r, r, 0)
	if reg := cmp.Regressions(); len(reg) > 0 {
		t.Fatalf("identical runs: %d regressions, first %+v", len(reg), reg[0])
	}
	for _, ch := range cmp.Changes {
		if ch.Ratio() != 0 {
			t.Errorf("%s %s changed by %v between identical runs", ch.Metric, ch.Stat, ch.Ratio())
		}
	}
}

func TestCompareFlagsSlowerLatency(t *testing.T) {
	base, slow := htmlFixture(t), slowedFixture(t, 3)
	cmp := Compare(base, slow, 0.10)
	flagged := map[string]bool{}
	for _, ch := range cmp.Regressions() {
		flagged[ch.Metric+" "+ch.Stat] = true
	}
	for _, want := range []string{"delivery p50", "delivery p99", "delivery.raw p90", "delivery mean"} {
		if !flagged[want] {
			t.Errorf("%s not flagged; flagged: %v", want, flagged)
		}
	}
	for k := range flagged {
		if strings.HasPrefix(k, "echo ") || strings.HasSuffix(k, " max") || strings.HasPrefix(k, SchedLatency) {
			t.Errorf("%s flagged but did not regress or never gates", k)
		}
	}
	// Turned around, the slower run is the base: an improvement, no regression.
	if reg := Compare(slow, base, 0.10).Regressions(); len(reg) > 0 {
		t.Errorf("a faster new run regressed: %+v", reg)
	}
	// A tolerance above the slow-down lets it pass.
	if reg := Compare(base, slow, 2.5).Regressions(); len(reg) > 0 {
		t.Errorf("3× slower within 250%% tolerance: %+v", reg)
	}
}

func TestCompareCounters(t *testing.T) {
	base := htmlFixture(t)
	worse := htmlFixture(t)
	worse.Counters["errors.dial"] = 5                            // appears
	worse.Counters["msgs.recv"] = base.Counters["msgs.recv"] / 2 // rate halves
	worse.Counters["reconnects"] = 1000                          // neutral
	got := map[string]bool{}
	for _, ch := range Compare(base, worse, 0.1).Regressions() {
		got[ch.Metric] = true
	}
	if !got["errors.dial"] || !got["msgs.recv"] || got["reconnects"] || len(got) != 2 {
		t.Errorf("regressed counters %v; want errors.dial and msgs.recv", got)
	}
}

func TestWriteComparison(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteComparison(&buf, Compare(htmlFixture(t), slowedFixture(t, 3), 0.1)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"✗ REGRESSION", "+200.0%", "regression(s) beyond 10.0%"} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
}

func TestParseTolerance(t *testing.T) {
	for in, want := range map[string]float64{"10%": 0.1, "10": 0.1, " 2.5 % ": 0.025, "0%": 0} {
		if got, err := ParseTolerance(in); err != nil || got != want {
			t.Errorf("ParseTolerance(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ten", "-5%", "NaN", "10%%"} {
		if _, err := ParseTolerance(in); err == nil || !strings.Contains(err.Error(), "percentage") {
			t.Errorf("ParseTolerance(%q): err %v; want a clear error", in, err)
		}
	}
}
