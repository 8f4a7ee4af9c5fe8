package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report/ -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func summaryFixture(t *testing.T) *Results {
	res := fixtureResults(t)
	var ths []Threshold
	for _, e := range []string{"delivery p99 < 50ms", "errors rate < 0.1%", "connect_failed count == 0", "never p99 < 1s"} {
		th, err := ParseThreshold(e)
		if err != nil {
			t.Fatal(err)
		}
		ths = append(ths, th)
	}
	res.Thresholds = Evaluate(res, ths)
	return res
}

func TestSummaryGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSummary(&buf, summaryFixture(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.golden", buf.Bytes())
}

func TestSummaryMergedGolden(t *testing.T) {
	a := summaryFixture(t)
	a.Meta.Segment = "0:1/2"
	b := summaryFixture(t)
	b.Meta.Segment = "1/2:1"
	b.Meta.Interrupted = true
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, m); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary-merged.golden", buf.Bytes())
}

func TestSummaryEmpty(t *testing.T) {
	var buf bytes.Buffer
	r := NewRegistry().Results(Meta{Start: t0, End: t0.Add(time.Second)})
	if err := WriteSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "duration:  1s (2026-11-21 23:00:00 → 23:00:01 UTC)\n" {
		t.Fatalf("empty summary = %q", got)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestSummaryWriteError(t *testing.T) {
	err := WriteSummary(failWriter{}, summaryFixture(t))
	if err == nil || !strings.Contains(err.Error(), "file already closed") {
		t.Fatalf("error = %v", err)
	}
}

func TestSummaryHidesZeroErrorKinds(t *testing.T) {
	reg := NewRegistry()
	start := time.Unix(1700000000, 0)
	reg.StartAt(start)
	reg.Counter("errors.expect_timeout")
	reg.Counter("errors.protocol").Add(3)
	reg.Counter("conn.failed.refused")
	reg.Counter("conn.opened").Add(5)
	res := reg.Results(Meta{Start: start, End: start.Add(time.Second)})
	var buf bytes.Buffer
	if err := WriteSummary(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"errors (all)", "errors.protocol", "connect_failed (all)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"errors.expect_timeout", "conn.failed.refused"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("summary shows the zero counter %q:\n%s", unwanted, out)
		}
	}
}

func TestSummaryShowsStaleRepliesOnlyWhenSeen(t *testing.T) {
	for _, n := range []int64{0, 2} {
		reg := NewRegistry()
		start := time.Unix(1700000000, 0)
		reg.StartAt(start)
		reg.Counter(CounterMsgsSent).Add(5)
		reg.Counter(CounterExpectStale).Add(n)
		var buf bytes.Buffer
		if err := WriteSummary(&buf, reg.Results(Meta{Start: start, End: start.Add(time.Second)})); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(buf.String(), CounterExpectStale); got != (n > 0) {
			t.Errorf("%s = %d: shown %v, want %v:\n%s", CounterExpectStale, n, got, n > 0, buf.String())
		}
	}
}
