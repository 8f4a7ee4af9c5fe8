package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// TestWriteSeriesCSV: one row per second per metric, whose values are the
// series' own.
func TestWriteSeriesCSV(t *testing.T) {
	res := htmlFixture(t)
	var buf bytes.Buffer
	if err := WriteSeries(&buf, res, SeriesCSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0][4]; got != "value" {
		t.Fatalf("header %v", recs[0])
	}
	want := 0
	for _, p := range res.Series {
		want += len(p.Counters) + len(p.Gauges) + len(p.Latencies)
	}
	if len(recs)-1 != want {
		t.Fatalf("%d rows; want %d", len(recs)-1, want)
	}
	var sent, delCount int64
	for _, r := range recs[1:] {
		switch r[2] {
		case "msgs.sent":
			v, _ := strconv.ParseInt(r[4], 10, 64)
			sent += v
		case "delivery":
			v, _ := strconv.ParseInt(r[5], 10, 64)
			delCount += v
			sec, _ := strconv.Atoi(r[0])
			p99, _ := strconv.ParseInt(r[8], 10, 64)
			if time.Duration(p99) != res.Series[sec].Latencies["delivery"].P99 || r[7] == "" || r[9] == "" {
				t.Errorf("delivery row %v does not match the series", r)
			}
			if r[1] != t0.Add(time.Duration(sec)*time.Second).Format(time.RFC3339) {
				t.Errorf("time column %q", r[1])
			}
		}
	}
	d, _ := res.Latency("delivery")
	if sent != res.Counters["msgs.sent"] || delCount != d.Count {
		t.Errorf("rows sum to %d msgs.sent and %d deliveries; results have %d and %d", sent, delCount, res.Counters["msgs.sent"], d.Count)
	}
}

func TestWriteSeriesJSONL(t *testing.T) {
	res := htmlFixture(t)
	var buf bytes.Buffer
	if err := WriteSeries(&buf, res, SeriesJSONL); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if row["kind"] == "latency" && row["p99_ns"] == nil {
			t.Errorf("latency row without p99: %s", sc.Text())
		}
		if row["kind"] == "counter" && row["value"] == nil {
			t.Errorf("counter row without value: %s", sc.Text())
		}
		n++
	}
	if n == 0 {
		t.Fatal("no rows")
	}
}

func TestSeriesFormatOf(t *testing.T) {
	for path, want := range map[string]SeriesFormat{"a.csv": SeriesCSV, "B.CSV": SeriesCSV, "x.jsonl": SeriesJSONL, "x.ndjson": SeriesJSONL} {
		if got, err := SeriesFormatOf(path); err != nil || got != want {
			t.Errorf("%s: %v %v", path, got, err)
		}
	}
	if _, err := SeriesFormatOf("x.txt"); err == nil {
		t.Error("x.txt accepted")
	}
}

// TestMergeSeriesP90Max: merged per-second p90 is the higher of the
// sources', max the exact maximum.
func TestMergeSeriesP90Max(t *testing.T) {
	a, b := htmlFixture(t), slowedFixture(t, 3)
	b.Series = []SeriesPoint{{T: 0, Latencies: map[string]SeriesLatency{"delivery": {Count: 1, P50: 1, P90: 99, P99: 100, Max: time.Hour}}}}
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Series[0].Latencies["delivery"]
	want := a.Series[0].Latencies["delivery"]
	if got.P90 != want.P90 || got.Max != time.Hour {
		t.Errorf("merged second 0: p90 %v max %v; want %v and 1h", got.P90, got.Max, want.P90)
	}
}
