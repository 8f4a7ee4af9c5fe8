package report

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJSONRoundTrip(t *testing.T) {
	res := fixtureResults(t)
	th, _ := ParseThreshold("delivery p99 < 50ms")
	res.Thresholds = Evaluate(res, []Threshold{th})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var buf2 bytes.Buffer
	if err := WriteJSON(&buf2, back); err != nil {
		t.Fatal(err)
	}
	if buf.String() != buf2.String() {
		t.Fatalf("JSON changed on round trip:\n%s\n---\n%s", buf.String(), buf2.String())
	}
	for _, l := range res.Latencies {
		if !res.Histogram(l.Name).Equals(back.Histogram(l.Name)) {
			t.Fatalf("histogram %q differs after round trip", l.Name)
		}
	}
	if !back.Meta.Start.Equal(t0) || back.Duration() != 5*time.Second {
		t.Fatalf("meta %+v duration %v", back.Meta, back.Duration())
	}
	// The stored stats match the ones recomputed from the decoded histograms.
	for _, l := range back.Latencies {
		again := statsOf(l.Name, back.Histogram(l.Name), l.Clamped)
		if !reflect.DeepEqual(again, l) {
			t.Fatalf("stats of %q: stored %+v, recomputed %+v", l.Name, l, again)
		}
	}
	// The documented field names are there.
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"meta", "latencies", "counters", "gauges", "series", "thresholds", "sources"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("results JSON lacks %q", k)
		}
	}
	if !strings.Contains(buf.String(), `"p99_9_ns"`) || !strings.Contains(buf.String(), `"histogram": "HIST`) {
		t.Error("latency fields missing from JSON")
	}
}

func TestReadJSONErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{`, "read results: unexpected EOF"},
		{`[]`, "read results: json: cannot unmarshal array"},
		{`{"latencies":[{"name":"x","count":3,"histogram":"!!"}]}`, `latency "x": decode histogram`},
		{`{"latencies":[{"name":"x","count":3}]}`, `latency "x": 3 samples but no histogram`},
		{`{"latencies":[{"count":0}]}`, "latency without a name"},
		{`{"latencies":[{"name":"x"},{"name":"x"}]}`, `latency "x" appears twice`},
	}
	for _, tc := range tests {
		_, err := ReadJSON(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadJSON(%s) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestMergeExact: two registries each fed half of the samples, written to
// JSON, read back and merged, equal one registry fed all of them.
func TestMergeExact(t *testing.T) {
	one, a, b := NewRegistry(), NewRegistry(), NewRegistry()
	for _, r := range []*Registry{one, a, b} {
		r.StartAt(t0)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"connect", "handshake", "echo", "delivery", "delivery.raw"}
	for s := 0; s < 4; s++ {
		for i := 0; i < 4000; i++ {
			half := a
			if i%2 == 1 {
				half = b
			}
			name := names[rng.IntN(len(names))]
			d := time.Duration(rng.ExpFloat64() * float64(5*time.Millisecond))
			one.Latency(name).Record(d)
			half.Latency(name).Record(d)
			one.Counter("msgs.sent").Inc()
			half.Counter("msgs.sent").Inc()
			if rng.IntN(100) == 0 {
				one.Counter("errors.timeout").Inc()
				half.Counter("errors.timeout").Inc()
			}
		}
		one.Gauge("vus").Set(int64(20 * (s + 1)))
		a.Gauge("vus").Set(int64(10 * (s + 1)))
		b.Gauge("vus").Set(int64(10 * (s + 1)))
		now := t0.Add(time.Duration(s+1) * time.Second)
		for _, r := range []*Registry{one, a, b} {
			r.Tick(now)
		}
	}
	for _, r := range []*Registry{one, a} {
		r.Latency("ping").Record(-time.Millisecond) // clamped once in all, once in a
	}
	end := t0.Add(4 * time.Second)
	all := one.Results(Meta{Scenario: "s", Start: t0, End: end})
	ra := a.Results(Meta{Scenario: "s", Segment: "0:1/2", Start: t0, End: end})
	rb := b.Results(Meta{Scenario: "s", Segment: "1/2:1", Start: t0, End: end})

	var files []*Results
	for _, r := range []*Results{ra, rb} {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		f, err := ReadJSON(&buf)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	m, err := Merge(files...)
	if err != nil {
		t.Fatal(err)
	}
	if m.Sources != 2 || m.Meta.Segment != "0:1/2,1/2:1" || m.Meta.Scenario != "s" || !m.Meta.Start.Equal(t0) || !m.Meta.End.Equal(end) {
		t.Fatalf("merged meta %+v sources %d", m.Meta, m.Sources)
	}
	if !reflect.DeepEqual(m.Latencies, all.Latencies) {
		t.Errorf("merged latencies\n%+v\nwant\n%+v", m.Latencies, all.Latencies)
	}
	for _, l := range all.Latencies {
		if !m.Histogram(l.Name).Equals(all.Histogram(l.Name)) {
			t.Errorf("histogram %q differs", l.Name)
		}
	}
	if !reflect.DeepEqual(m.Counters, all.Counters) {
		t.Errorf("merged counters %v, want %v", m.Counters, all.Counters)
	}
	if !reflect.DeepEqual(m.Gauges, all.Gauges) {
		t.Errorf("merged gauges %v, want %v", m.Gauges, all.Gauges)
	}
	if len(m.Series) != len(all.Series) {
		t.Fatalf("merged series has %d points, want %d", len(m.Series), len(all.Series))
	}
	for i, p := range m.Series {
		w := all.Series[i]
		if p.T != w.T || !reflect.DeepEqual(p.Counters, w.Counters) || !reflect.DeepEqual(p.Gauges, w.Gauges) {
			t.Errorf("series[%d] = %+v, want %+v", i, p, w)
		}
		for name, wl := range w.Latencies {
			if p.Latencies[name].Count != wl.Count {
				t.Errorf("series[%d] %s count %d, want %d", i, name, p.Latencies[name].Count, wl.Count)
			}
		}
	}
}

func TestMergeShiftsSeriesAndReevaluates(t *testing.T) {
	a, b := NewRegistry(), NewRegistry()
	a.StartAt(t0)
	b.StartAt(t0.Add(2 * time.Second))
	a.Counter("msgs.sent").Add(10)
	a.Latency("echo").Record(time.Millisecond)
	a.Tick(t0.Add(time.Second))
	b.Counter("msgs.sent").Add(5)
	b.Latency("echo").Record(3 * time.Millisecond)
	b.Tick(t0.Add(3 * time.Second))
	ra := a.Results(Meta{End: t0.Add(time.Second)})
	rb := b.Results(Meta{End: t0.Add(3 * time.Second)})
	th, _ := ParseThreshold("echo max < 2ms")
	ra.Thresholds = Evaluate(ra, []Threshold{th})
	rb.Thresholds = Evaluate(rb, []Threshold{th})
	if !ra.Thresholds[0].Pass || rb.Thresholds[0].Pass {
		t.Fatalf("precondition: %+v %+v", ra.Thresholds, rb.Thresholds)
	}
	m, err := Merge(ra, rb)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Series) != 2 || m.Series[0].T != 0 || m.Series[1].T != 2 || m.Series[1].Counters["msgs.sent"] != 5 {
		t.Fatalf("series %+v", m.Series)
	}
	if m.Duration() != 3*time.Second {
		t.Fatalf("duration %v", m.Duration())
	}
	if len(m.Thresholds) != 1 || m.Thresholds[0].Pass {
		t.Fatalf("merged thresholds %+v", m.Thresholds)
	}
	if _, err := Merge(); err == nil {
		t.Fatal("Merge() without results succeeded")
	}
}
