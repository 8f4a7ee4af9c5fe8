package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func tagsOf(kv ...string) Tags {
	var t Tags
	for i := 0; i+1 < len(kv); i += 2 {
		t = append(t, Tag{kv[i], kv[i+1]})
	}
	return SortTags(t)
}

func TestSeriesNames(t *testing.T) {
	name := SeriesName("delivery", tagsOf("scenario", "lurkers", "room", "big"))
	if name != "delivery{room=big,scenario=lurkers}" {
		t.Fatalf("SeriesName = %q", name)
	}
	m, tags, ok := SplitSeries(name)
	if !ok || m != "delivery" || tags.String() != "room=big,scenario=lurkers" {
		t.Fatalf("SplitSeries = %q %v %v", m, tags, ok)
	}
	if _, _, ok := SplitSeries("delivery.raw"); ok {
		t.Fatal("a bare name split as a series")
	}
	if SeriesName("x", nil) != "x" || SeriesMetric("ack.raw{scenario=a}") != "ack.raw" || !IsSeries("a{b=c}") || IsSeries("a.b") {
		t.Fatal("helpers disagree")
	}
	for _, tc := range []struct{ in, metric, tags, err string }{
		{"delivery", "delivery", "", ""},
		{"delivery{scenario=lurkers}", "delivery", "scenario=lurkers", ""},
		{"delivery{ scenario = lurkers , room=big }", "delivery", "room=big,scenario=lurkers", ""},
		{`delivery{scenario="lurkers"}`, "delivery", "scenario=lurkers", ""},
		{"delivery{}", "", "", "empty tag selector"},
		{"delivery{scenario}", "", "", "want key=value"},
		{"delivery{scenario=a,scenario=b}", "", "", "appears twice"},
		{"delivery{Room=big}", "", "", "tag key"},
		{"delivery{room=b/g}", "", "", "values use"},
		{"{room=big}", "", "", "a metric name comes before"},
		{"delivery{room=big", "", "", "want metric{key=value"},
		{"delivery}", "", "", "without `{`"},
		{"delivery{a=b}{c=d}", "", "", "want metric{key=value"},
	} {
		m, tags, err := ParseSelector(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSelector(%q) = %v, want error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || m != tc.metric || tags.String() != tc.tags {
			t.Errorf("ParseSelector(%q) = %q %q %v", tc.in, m, tags, err)
		}
	}
}

// TestTaggedTotals: what the series of two tag sets record adds up exactly
// in the totals, at Tick (intervals and the per-second series) and in
// Results, for latencies, counters and gauges.
func TestTaggedTotals(t *testing.T) {
	r := NewRegistry()
	a, err := r.Tagged(tagsOf("scenario", "talkers"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.Tagged(tagsOf("scenario", "lurkers"))
	if again, _ := r.Tagged(tagsOf("scenario", "talkers")); again != a {
		t.Fatal("the same tags gave a second view")
	}
	for i := range 100 {
		a.Latency("delivery").Record(time.Duration(i+1) * time.Millisecond)
	}
	for i := range 300 {
		b.Latency("delivery").Record(time.Duration(i+1) * time.Microsecond)
	}
	a.Counter(CounterMsgsSent).Add(7)
	b.Counter(CounterMsgsSent).Add(5)
	b.Counter(ErrSend).Inc()
	a.Gauge(GaugeVUs).Add(2)
	b.Gauge(GaugeVUs).Add(3)

	start := r.Start()
	iv := r.Tick(start.Add(time.Second))
	if got := iv.Latencies["delivery"].TotalCount(); got != 400 {
		t.Errorf("interval total delivery: %d samples, want 400", got)
	}
	if iv.Totals[CounterMsgsSent] != 12 || iv.Counters[CounterMsgsSent] != 12 || iv.Gauges[GaugeVUs] != 5 || iv.Peaks[GaugeVUs] != 5 {
		t.Errorf("interval totals: %v %v %v", iv.Totals, iv.Gauges, iv.Peaks)
	}
	if iv.DeltaPrefix(PrefixErrors) != 1 || iv.TotalPrefix(PrefixErrors) != 1 {
		t.Errorf("errors counted %d/%d times, want once", iv.DeltaPrefix(PrefixErrors), iv.TotalPrefix(PrefixErrors))
	}
	if names := iv.LatencyNames(); len(names) != 1 || names[0] != "delivery" {
		t.Errorf("LatencyNames = %v, want the total only", names)
	}
	// Samples after the last Tick are in Results too.
	a.Latency("delivery").Record(time.Second)
	a.Counter(CounterMsgsSent).Inc()
	res := r.Results(Meta{})
	tot, _ := res.Latency("delivery")
	ta, _ := res.Latency("delivery{scenario=talkers}")
	tb, _ := res.Latency("delivery{scenario=lurkers}")
	if tot.Count != 401 || ta.Count != 101 || tb.Count != 300 || tot.Max != ta.Max {
		t.Errorf("results: total %d (max %v), talkers %d (max %v), lurkers %d", tot.Count, tot.Max, ta.Count, ta.Max, tb.Count)
	}
	if res.Counters[CounterMsgsSent] != 13 || res.Counters["msgs.sent{scenario=talkers}"] != 8 || res.Counters["msgs.sent{scenario=lurkers}"] != 5 {
		t.Errorf("counters: %v", res.Counters)
	}
	if res.Gauges[GaugeVUs].Max != 5 || res.Gauges["vus{scenario=lurkers}"].Max != 3 {
		t.Errorf("gauges: %v", res.Gauges)
	}
	if res.CounterPrefix(PrefixErrors) != 1 {
		t.Errorf("CounterPrefix counts the series too: %d", res.CounterPrefix(PrefixErrors))
	}
	p := res.Series[0]
	if p.Latencies["delivery{scenario=lurkers}"].Count != 300 || p.Counters["msgs.sent{scenario=talkers}"] != 7 ||
		p.Counters["errors{scenario=lurkers}"] != 1 || p.Counters[AliasErrors] != 1 || p.Gauges["vus{scenario=talkers}"] != 2 {
		t.Errorf("series point: %+v", p)
	}
	sets := res.TagSets()
	if len(sets) != 2 || sets[0].String() != "scenario=lurkers" {
		t.Errorf("TagSets = %v", sets)
	}
	sel := res.Select(tagsOf("scenario", "lurkers"))
	if l, _ := sel.Latency("delivery"); l.Count != 300 || sel.Counters[CounterMsgsSent] != 5 || sel.Gauges[GaugeVUs].Max != 3 {
		t.Errorf("Select(lurkers) = %+v %v %v", l, sel.Counters, sel.Gauges)
	}
}

func TestTaggedLimit(t *testing.T) {
	r := NewRegistry()
	for i := range MaxTagSets {
		if _, err := r.Tagged(tagsOf("scenario", fmt.Sprint("s", i))); err != nil {
			t.Fatalf("tag set %d: %v", i, err)
		}
	}
	_, err := r.Tagged(tagsOf("scenario", "one-too-many"))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("at most %d tag sets", MaxTagSets)) {
		t.Fatalf("past the limit: %v", err)
	}
	if _, err := r.Tagged(tagsOf("scenario", "s0")); err != nil {
		t.Fatalf("an existing tag set past the limit: %v", err)
	}
	if _, err := NewRegistry().Tagged(Tags{{"Bad", "x"}}); err == nil {
		t.Fatal("a bad tag key was accepted")
	}
}

// TestThresholdSelector: a threshold on one series judges that series
// alone, and one whose selector matches several adds them up.
func TestThresholdSelector(t *testing.T) {
	r := NewRegistry()
	fast, _ := r.Tagged(tagsOf("scenario", "talkers"))
	slow, _ := r.Tagged(tagsOf("room", "big", "scenario", "lurkers"))
	slowOther, _ := r.Tagged(tagsOf("room", "small", "scenario", "lurkers"))
	for range 100 {
		fast.Latency("delivery").Record(10 * time.Millisecond)
		slow.Latency("delivery").Record(200 * time.Millisecond)
		slowOther.Latency("delivery").Record(300 * time.Millisecond)
	}
	fast.Counter(CounterMsgsSent).Add(100)
	fast.Counter(ErrSend).Add(5)
	res := r.Results(Meta{Start: time.Now().Add(-10 * time.Second), End: time.Now()})
	for _, tc := range []struct {
		expr   string
		pass   bool
		actual string
	}{
		{"delivery{scenario=talkers} p99 < 100ms", true, "10.00ms"},
		{"delivery{scenario=lurkers} p99 < 100ms", false, "300.15ms"},
		{"delivery{scenario=lurkers, room=big} max < 250ms", true, "200.02ms"},
		{"delivery{room=big,scenario=lurkers} count == 100", true, "100"},
		{"delivery{scenario=lurkers} count == 200", true, "200"},
		{"delivery p50 > 100ms", true, "200.02ms"},
		{"errors{scenario=talkers} rate < 1%", false, "5.00%"},
		{"errors{scenario=lurkers} count == 0", true, "0"},
		{"delivery{scenario=nobody} p99 < 1s", false, "no data"},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		v := Evaluate(res, []Threshold{th})[0]
		if v.Pass != tc.pass || v.Actual != tc.actual {
			t.Errorf("%s: pass %v actual %q (%s), want %v %q", tc.expr, v.Pass, v.Actual, v.Reason, tc.pass, tc.actual)
		}
	}
	th, _ := ParseThreshold("delivery{scenario=nobody} p99 < 1s")
	if v := Evaluate(res, []Threshold{th})[0]; !strings.Contains(v.Reason, "delivery{scenario=nobody}") {
		t.Errorf("the reason does not name the selector: %q", v.Reason)
	}
}

// TestMergeSeriesExact: merging two segments adds every series exactly,
// and the merged JSON reads back with the same series.
func TestMergeSeriesExact(t *testing.T) {
	seg := func(n int, lat time.Duration) *Results {
		r := NewRegistry()
		a, _ := r.Tagged(tagsOf("scenario", "talkers"))
		b, _ := r.Tagged(tagsOf("scenario", "lurkers"))
		for i := range n {
			a.Latency("delivery").Record(lat + time.Duration(i)*time.Microsecond)
			b.Latency("delivery").Record(2*lat + time.Duration(i)*time.Microsecond)
			b.Counter(CounterMsgsRecv).Inc()
		}
		r.Tick(r.Start().Add(time.Second))
		res := r.Results(Meta{Segment: fmt.Sprint(n)})
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
	s1, s2 := seg(1000, time.Millisecond), seg(3000, 5*time.Millisecond)
	m, err := Merge(s1, s2)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"delivery": 8000, "delivery{scenario=talkers}": 4000, "delivery{scenario=lurkers}": 4000} {
		l, ok := m.Latency(name)
		h1, h2 := s1.Histogram(name), s2.Histogram(name)
		if !ok || l.Count != want || l.Max != time.Duration(max(h1.Max(), h2.Max())) {
			t.Errorf("%s: %+v, want %d samples", name, l, want)
		}
	}
	if m.Counters["msgs.recv{scenario=lurkers}"] != 4000 || m.Counters[CounterMsgsRecv] != 4000 {
		t.Errorf("counters: %v", m.Counters)
	}
	// the merged p99 of one series is the p99 of its samples, not of the total's
	exact := newHist()
	exact.Merge(s1.Histogram("delivery{scenario=lurkers}"))
	exact.Merge(s2.Histogram("delivery{scenario=lurkers}"))
	if l, _ := m.Latency("delivery{scenario=lurkers}"); l.P99 != time.Duration(exact.ValueAtQuantile(99)) {
		t.Errorf("merged p99 %v, exact %v", l.P99, time.Duration(exact.ValueAtQuantile(99)))
	}
	if p := m.Series[0]; p.Latencies["delivery{scenario=talkers}"].Count != 4000 {
		t.Errorf("merged series point: %+v", p.Latencies)
	}
}

// TestSummaryShowsSeries: the summary has the per-series tables only when
// there is more than one tag set.
func TestSummaryShowsSeries(t *testing.T) {
	one := NewRegistry()
	a, _ := one.Tagged(tagsOf("scenario", "default"))
	a.Latency("rtt").Record(time.Millisecond)
	a.Counter(CounterMsgsSent).Inc()
	var buf bytes.Buffer
	if err := WriteSummary(&buf, one.Results(Meta{})); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "Per series") || strings.Contains(buf.String(), "{scenario=") {
		t.Errorf("one tag set repeats the totals:\n%s", buf.String())
	}
	b, _ := one.Tagged(tagsOf("scenario", "other"))
	b.Latency("rtt").Record(2 * time.Millisecond)
	b.Counter(ErrSend).Inc()
	buf.Reset()
	if err := WriteSummary(&buf, one.Results(Meta{})); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Per series", "rtt{scenario=default}", "rtt{scenario=other}", "{scenario=other}"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "errors.send{") {
		t.Errorf("a series counter in the totals' table:\n%s", out)
	}
}

func TestTaggedRecordAllocs(t *testing.T) {
	tg, _ := NewRegistry().Tagged(tagsOf("scenario", "a"))
	l := tg.Latency("x")
	tg.Counter(ErrSend)
	if n := testing.AllocsPerRun(1000, func() {
		l.Record(123 * time.Microsecond)
		tg.Counter(ErrSend).Inc() // a looked-up-again counter: a hit
	}); n != 0 {
		t.Fatalf("recording into a series allocates %.1f times, want 0", n)
	}
}

// BenchmarkTaggedLatencyRecord is BenchmarkLatencyRecord into a tagged
// series: the same cost, 0 allocs/op.
func BenchmarkTaggedLatencyRecord(b *testing.B) {
	tg, _ := NewRegistry().Tagged(tagsOf("scenario", "a"))
	l := tg.Latency("x")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Record(time.Duration(i&0xffff) * time.Microsecond)
	}
}

// BenchmarkTickTagged is BenchmarkTick with every latency recorded in two
// scenarios' series, whose totals Tick derives.
func BenchmarkTickTagged(b *testing.B) {
	r := NewRegistry()
	for _, sc := range []string{"talkers", "lurkers"} {
		tg, _ := r.Tagged(tagsOf("scenario", sc))
		for _, n := range []string{"connect", "handshake", "echo", "delivery", "delivery.raw"} {
			l := tg.Latency(n)
			for i := 0; i < 1000; i++ {
				l.Record(time.Duration(i) * time.Microsecond)
			}
		}
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		r.Tick(now)
	}
}

// seriesRun is a 25-second two-scenario run, for the HTML report.
func seriesRun(tb testing.TB) *Results {
	tb.Helper()
	r := NewRegistry()
	start := r.Start()
	var views []*Tagged
	for _, sc := range []string{"talkers", "lurkers"} {
		tg, err := r.Tagged(tagsOf("scenario", sc))
		if err != nil {
			tb.Fatal(err)
		}
		views = append(views, tg)
	}
	for s := range 25 {
		for i, tg := range views {
			for _, n := range []string{LatencyConnect, LatencyHandshake, "nick", "join", "delivery"} {
				for j := range 200 {
					tg.Latency(n).Record(time.Duration((i+1)*(j+1)) * time.Microsecond)
				}
			}
			tg.Counter(CounterMsgsSent).Add(100)
			tg.Counter(CounterMsgsRecv).Add(1000)
			tg.Gauge(GaugeVUs).Set(int64(500 * (i + 1)))
		}
		r.Tick(start.Add(time.Duration(s+1) * time.Second))
	}
	return r.Results(Meta{Scenario: "fanout.yaml", Start: start, End: start.Add(25 * time.Second)})
}

func TestHTMLSeries(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, seriesRun(t)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{`id="latency-series"`, `data-metric="delivery{scenario=lurkers}"`, `id="counters-series"`,
		`data-series="{scenario=talkers}"`, "delivery — p99 per second, per series"} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	if strings.Contains(page, `<tr data-metric="delivery{scenario=lurkers}"><td>delivery{scenario=lurkers}</td><td data-stat="count">5000</td>`) == false {
		t.Errorf("the lurkers' delivery row is missing or miscounted")
	}
}

// BenchmarkWriteHTML is what `--html` costs at the end of a 25-second
// two-scenario run.
func BenchmarkWriteHTML(b *testing.B) {
	res := seriesRun(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteHTML(io.Discard, res); err != nil {
			b.Fatal(err)
		}
	}
}
