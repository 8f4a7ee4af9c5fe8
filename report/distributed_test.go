package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func distributedPart(t *testing.T, host string, maxErr time.Duration, synced bool, late time.Duration, at time.Time) *Results {
	t.Helper()
	reg := NewRegistry()
	for i := 0; i < 100; i++ {
		reg.Latency("delivery").Record(2 * time.Millisecond)
	}
	res := reg.Results(Meta{Start: at, End: at.Add(time.Second)})
	res.Meta.StartAt = &StartInfo{At: at, Late: late}
	res.Meta.Clock = &ClockInfo{
		Hosts:        []HostClock{{Host: host, Source: "adjtimex", Synced: synced, MaxError: maxErr, EstError: maxErr / 2}},
		CrossMetrics: []string{"delivery"},
	}
	// Through JSON, as the merge job reads them.
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestMergeCarriesWorstStartAndClock(t *testing.T) {
	at := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	parts := []*Results{
		distributedPart(t, "node-a", 300*time.Microsecond, true, 0, at),
		distributedPart(t, "node-b", 900*time.Microsecond, true, 40*time.Millisecond, at),
		distributedPart(t, "node-a", 500*time.Microsecond, true, 0, at), // second pod on node-a
		distributedPart(t, "node-c", 100*time.Microsecond, false, 7*time.Millisecond, at),
	}
	m, err := Merge(parts...)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Meta.StartAt; s == nil || !s.At.Equal(at) || s.Late != 40*time.Millisecond || s.LateSources != 2 {
		t.Fatalf("merged start %+v, want at %v, worst 40ms, 2 late", s, at)
	}
	c := m.Meta.Clock
	if c == nil || len(c.Hosts) != 3 {
		t.Fatalf("merged clock %+v, want 3 hosts", c)
	}
	if a := c.Hosts[0]; a.Host != "node-a" || a.MaxError != 500*time.Microsecond {
		t.Errorf("node-a merged to %+v, want its worst bound 500µs", a)
	}
	if u := c.Uncertainty(); u != 1400*time.Microsecond {
		t.Errorf("uncertainty %v, want 900µs + 500µs", u)
	}
	// Merging merged results again changes nothing (a merge job may merge merges).
	again, err := Merge(m, parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if again.Meta.Clock.Uncertainty() != c.Uncertainty() || again.Meta.StartAt.Late != 40*time.Millisecond {
		t.Errorf("re-merge changed clock/start: %+v %+v", again.Meta.Clock, again.Meta.StartAt)
	}

	var out bytes.Buffer
	if err := WriteSummary(&out, m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"start-at:  2026-12-06 18:00:00.000 UTC, 2 of 4 processes late, the latest by 40",
		"samples from 3 hosts", "±1.4", "1 host(s) not synchronised",
		"delivery p50 2",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "warning: the clock uncertainty of delivery is more than a tenth of its p50") {
		t.Errorf("±1.4ms on a 2ms p50 gave no warning:\n%s", out.String())
	}
	// The HTML report says the same.
	var page bytes.Buffer
	if err := WriteHTML(&page, m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 of 4 processes late, the latest by 40", "delivery p50 2.00ms ± 1.40ms", "Clock: the clock uncertainty of delivery is more than a tenth"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}

	// Well-synchronised hosts: ±100µs on a 2ms p50 is shown without a warning.
	m, err = Merge(distributedPart(t, "node-a", 50*time.Microsecond, true, 0, at), distributedPart(t, "node-b", 50*time.Microsecond, true, 0, at))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := WriteSummary(&out, m); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "± 100µs") || strings.Contains(s, "warning:") || !strings.Contains(s, "on time") {
		t.Errorf("two synchronised hosts:\n%s", s)
	}

	// One host: one clock, no cross-machine uncertainty to show.
	out.Reset()
	if err := WriteSummary(&out, parts[0]); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Clock:") {
		t.Errorf("one host, yet a clock note:\n%s", out.String())
	}
}
