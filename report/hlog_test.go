package report

import (
	"bytes"
	"strings"
	"testing"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// TestHLogReadBack writes an interval log and reads it back with
// hdrhistogram-go's reader: one tagged histogram per metric per interval,
// same counts, relative timestamps.
func TestHLogReadBack(t *testing.T) {
	r := NewRegistry()
	r.Latency("odd name, with spaces").Record(5000)
	ivs := feed(r, 3, 1)
	var buf bytes.Buffer
	hw := NewHLogWriter(&buf)
	for _, iv := range ivs {
		if err := hw.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	text := buf.String()
	for _, want := range []string{"#[Histogram log format version 1.3]", "#[StartTime: 1795302000 (seconds since epoch), 2026-11-21T23:00:00Z]", "#[BaseTime: 1795302000", `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`, "Tag=delivery.raw,1.000000,1.000000,9.003007,HISTF"} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	rd := hdr.NewHistogramLogReader(strings.NewReader(text))
	var got []*hdr.Histogram
	for {
		h, err := rd.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		got = append(got, h)
	}
	names := ivs[0].LatencyNames()
	if len(got) != len(ivs)*len(names) {
		t.Fatalf("read %d histograms, want %d", len(got), len(ivs)*len(names))
	}
	for i, h := range got {
		iv, name := ivs[i/len(names)], names[i%len(names)]
		if h.Tag() != HLogTag(name) {
			t.Errorf("histogram %d tag %q, want %q", i, h.Tag(), HLogTag(name))
		}
		if h.TotalCount() != iv.Latencies[name].TotalCount() {
			t.Errorf("histogram %d (%s) count %d, want %d", i, name, h.TotalCount(), iv.Latencies[name].TotalCount())
		}
		if h.Max() != iv.Latencies[name].Max() {
			t.Errorf("histogram %d (%s) max %d, want %d", i, name, h.Max(), iv.Latencies[name].Max())
		}
	}
	if HLogTag("odd name, with spaces") != "odd_name__with_spaces" || HLogTag("") != "unnamed" {
		t.Fatalf("HLogTag = %q", HLogTag("odd name, with spaces"))
	}
}
