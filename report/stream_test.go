package report

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestStreamRoundTripAndCombine(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	var bufs [2]bytes.Buffer
	var results [2]*Results
	for i := range bufs {
		reg := NewRegistry()
		reg.StartAt(start)
		w := NewStreamWriter(&bufs[i])
		lat := reg.Latency("rtt")
		ctr := reg.Counter("msgs.sent")
		g := reg.Gauge("vus")
		for s := 1; s <= 2; s++ {
			for k := 0; k < 100; k++ {
				lat.Record(time.Duration(i+1) * time.Millisecond)
			}
			ctr.Add(10)
			g.Set(int64(5 * (i + 1)))
			if err := w.Interval(reg.Tick(start.Add(time.Duration(s) * time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		results[i] = reg.Results(Meta{Start: start, End: start.Add(2 * time.Second)})
		if err := w.WriteResults(results[i]); err != nil {
			t.Fatal(err)
		}
	}

	c := NewCombiner(2, start)
	var finals []*Results
	for i := range bufs {
		r := NewStreamReader(&bufs[i])
		n := 0
		for {
			iv, res, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if res != nil {
				finals = append(finals, res)
				continue
			}
			n++
			if n == 1 { // only the first interval of each source before the tick
				c.Add(i, iv)
			}
		}
	}
	iv := c.Tick(start.Add(time.Second))
	if got := iv.Delta("msgs.sent"); got != 20 {
		t.Errorf("combined delta msgs.sent = %d, want 20", got)
	}
	if got := iv.Total("msgs.sent"); got != 20 {
		t.Errorf("combined total msgs.sent = %d, want 20", got)
	}
	if got := iv.Gauges["vus"]; got != 15 {
		t.Errorf("combined gauge vus = %d, want 15", got)
	}
	h := iv.Latencies["rtt"]
	if h == nil || h.TotalCount() != 200 {
		t.Fatalf("combined rtt histogram = %v, want 200 samples", h)
	}
	if p99 := time.Duration(h.ValueAtQuantile(99)); p99 < 1900*time.Microsecond || p99 > 2100*time.Microsecond {
		t.Errorf("combined p99 = %v, want ≈2ms", p99)
	}
	if next := c.Tick(start.Add(2 * time.Second)); next.Delta("msgs.sent") != 0 || len(next.Latencies) != 0 {
		t.Errorf("second tick with nothing added: %v", next.Counters)
	}
	if len(finals) != 2 {
		t.Fatalf("got %d results records, want 2", len(finals))
	}
	merged, err := Merge(finals...)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Counters["msgs.sent"] != 40 {
		t.Errorf("merged msgs.sent = %d, want 40", merged.Counters["msgs.sent"])
	}
	if st, _ := merged.Latency("rtt"); st.Count != 400 {
		t.Errorf("merged rtt count = %d, want 400", st.Count)
	}
}

func TestStreamReaderErrors(t *testing.T) {
	for _, in := range []string{
		"not json\n",
		`{"type":"interval"}` + "\n",
		`{"type":"bogus","interval":{}}` + "\n",
		`{"type":"interval","interval":{"latencies":{"x":"!!"}}}` + "\n",
		`{"type":"results","results":{"latencies":[{"name":"a","count":3}]}}` + "\n",
	} {
		r := NewStreamReader(strings.NewReader(in))
		_, _, err := r.Next()
		if err == nil || !strings.Contains(err.Error(), "stream line 1") {
			t.Errorf("%q: err = %v, want one naming line 1", in, err)
		}
	}
}
