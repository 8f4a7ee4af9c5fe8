package promrw

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"

	"github.com/wsbench/wsbench/report"
)

var t0 = time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)

// intervals records a small run into a registry and returns its intervals.
func intervals(n int) []*report.Interval {
	r := report.NewRegistry()
	r.StartAt(t0)
	var ivs []*report.Interval
	for s := 0; s < n; s++ {
		r.Counter("msgs.sent").Add(10)
		r.Counter("errors.dial").Add(int64(s))
		r.Counter("conn.closed.1000").Inc()
		r.Gauge("vus").Add(3)
		r.Gauge("vus").Add(-1)
		if s == 0 {
			for i := 1; i <= 100; i++ {
				r.Latency("echo").Record(time.Duration(i) * time.Millisecond)
			}
		}
		ivs = append(ivs, r.Tick(t0.Add(time.Duration(s+1)*time.Second)))
	}
	return ivs
}

func find(series []TimeSeries, name string, labels ...string) []TimeSeries {
	var out []TimeSeries
next:
	for _, s := range series {
		if label(s, "__name__") != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if label(s, labels[i]) != labels[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

func label(s TimeSeries, name string) string {
	for _, l := range s.Labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

func value(t *testing.T, series []TimeSeries, name string, labels ...string) float64 {
	t.Helper()
	f := find(series, name, labels...)
	if len(f) != 1 || len(f[0].Samples) != 1 {
		t.Fatalf("%s %v: %d series, want 1", name, labels, len(f))
	}
	return f[0].Samples[0].Value
}

func TestSeries(t *testing.T) {
	p := &Pusher{common: []Label{{LabelRunID, "r1"}, {LabelFile, "echo"}, {LabelSegment, "0:1/2"}}, samples: map[string]int64{}}
	ivs := intervals(2)
	first, second := p.Series(ivs[0]), p.Series(ivs[1])

	for _, s := range append(first, second...) {
		if !slices.IsSortedFunc(s.Labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("labels not sorted: %v", s.Labels)
		}
		if label(s, LabelRunID) != "r1" || label(s, LabelFile) != "echo" || label(s, LabelSegment) != "0:1/2" {
			t.Errorf("common labels missing: %v", s.Labels)
		}
		if !strings.HasPrefix(label(s, "__name__"), Prefix) {
			t.Errorf("series outside %s*: %v", Prefix, s.Labels)
		}
	}
	if got := value(t, second, Prefix+"msgs_sent_total"); got != 20 {
		t.Errorf("msgs.sent = %v, want the cumulative 20", got)
	}
	if got := value(t, second, ErrorsTotal, "reason", "dial"); got != 1 {
		t.Errorf("errors.dial = %v, want 1", got)
	}
	if got := value(t, second, ClosedTotal, "code", "1000"); got != 2 {
		t.Errorf("conn.closed.1000 = %v, want 2", got)
	}
	if got := value(t, second, Prefix+"vus"); got != 4 {
		t.Errorf("vus = %v, want 4", got)
	}
	if got := value(t, second, Prefix+"vus_peak"); got != 5 {
		t.Errorf("vus peak = %v, want 5", got)
	}
	for _, q := range []struct {
		label string
		want  float64
	}{{"0.5", 0.050}, {"0.99", 0.099}, {"1", 0.100}} {
		got := value(t, first, LatencySeconds, LabelMetric, "echo", LabelQuantile, q.label)
		if got < q.want*0.999 || got > q.want*1.001 {
			t.Errorf("echo quantile %s = %v, want %v", q.label, got, q.want)
		}
	}
	if f := find(second, LatencySeconds, LabelMetric, "echo"); len(f) != 0 {
		t.Errorf("percentiles pushed for an interval without samples: %v", f)
	}
	if got := value(t, second, LatencySamples, LabelMetric, "echo"); got != 100 {
		t.Errorf("echo samples = %v, want the cumulative 100", got)
	}
	if ts := find(second, Prefix+"msgs_sent_total")[0].Samples[0].Timestamp; ts != t0.Add(2*time.Second).UnixMilli() {
		t.Errorf("timestamp %d, want the end of the interval", ts)
	}
}

func TestWireRoundTrip(t *testing.T) {
	p := &Pusher{common: []Label{{LabelRunID, "r"}}, samples: map[string]int64{}}
	want := p.Series(intervals(1)[0])
	got, err := DecodeWriteRequest(EncodeWriteRequest(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d series back, %d sent", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i].Labels, want[i].Labels) || !slices.Equal(got[i].Samples, want[i].Samples) {
			t.Fatalf("series %d: %+v, sent %+v", i, got[i], want[i])
		}
	}
	if _, err := DecodeWriteRequest([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Fatal("a truncated message decoded")
	}
}

// TestPushRequest checks what goes over HTTP: the remote-write headers
// and a snappy block holding the series.
func TestPushRequest(t *testing.T) {
	var mu sync.Mutex
	var got []TimeSeries
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") != "snappy" || r.Header.Get("Content-Type") != "application/x-protobuf" ||
			r.Header.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" {
			http.Error(w, "bad headers", http.StatusBadRequest)
			return
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		series, err := DecodeWriteRequest(raw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, series...)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	p, err := New(Config{URL: srv.URL + "/api/v1/write", RunID: "r2", File: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, iv := range intervals(3) {
		_ = p.Interval(iv)
	}
	st := p.Drain(time.Minute)
	if st.Batches != 3 || st.Sent != 3 || st.Dropped() != 0 || st.LastError != "" {
		t.Fatalf("stats %+v", st)
	}
	if v := find(got, Prefix+"msgs_sent_total"); len(v) != 3 || v[2].Samples[0].Value != 30 || label(v[2], LabelSegment) != "0:1" {
		t.Fatalf("msgs.sent series received: %+v", v)
	}
	_ = p.Interval(intervals(1)[0]) // after Drain: ignored
	if p.Stats().Batches != 3 {
		t.Fatal("Interval after Drain counted")
	}
}

// TestPushNeverBlocks: an endpoint that accepts and never answers holds the
// sender, the queue fills, and Push keeps returning at once, counting each
// batch it cannot queue; Close gives up after its grace and counts the rest.
func TestPushNeverBlocks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()

	p, err := New(Config{URL: "http://" + ln.Addr().String() + "/api/v1/write", Queue: 2, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ivs := intervals(1)
	for i := 0; i < 50; i++ {
		_ = p.Interval(ivs[0])
	}
	st := p.Drain(100 * time.Millisecond)
	if st.Batches != 50 || st.Sent != 0 || st.Dropped() != 50 {
		t.Fatalf("stats %+v: want all 50 dropped", st)
	}
	// One in flight, at most two queued, the rest refused at once.
	if st.QueueFull < 47 || st.Failed != 0 || st.Unsent == 0 || st.Unsent > 3 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(st.String(), "0 of 50 batch(es) sent, 50 dropped (queue full") {
		t.Fatalf("account %q", st.String())
	}
}

func TestFailedPush(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "out of order sample", http.StatusBadRequest)
	}))
	defer srv.Close()
	p, err := New(Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Interval(intervals(1)[0])
	st := p.Drain(time.Minute)
	if st.Failed != 1 || !strings.Contains(st.LastError, "400 Bad Request: out of order sample") {
		t.Fatalf("stats %+v", st)
	}
}

func TestCheckURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:9090/api/v1/write": "",
		"https://prom.example/api/v1/write":  "",
		"127.0.0.1:9090":                     "want http:// or https://",
		"ftp://x/":                           "want http:// or https://",
		"http:///api/v1/write":               "no host",
		"http://[::1":                        "missing ']'",
	} {
		err := CheckURL(raw)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", raw, err, want)
		}
	}
}

// TestCloseAccount: as the run's report.Sink, Close drains the queue and
// writes the one-line account the run prints after its summary, once.
func TestCloseAccount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var account strings.Builder
	p, err := New(Config{URL: srv.URL + "/api/v1/write", RunID: "r9", Account: &account})
	if err != nil {
		t.Fatal(err)
	}
	var sink report.Sink = p
	for _, iv := range intervals(2) {
		if err := sink.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	want := "push:      prometheus-rw " + srv.URL + "/api/v1/write run_id=r9: 2 of 2 batch(es) sent, 0 dropped\n"
	if account.String() != want {
		t.Fatalf("account %q, want %q", account.String(), want)
	}
}

// taggedInterval is one interval of a two-scenario run: each scenario's
// series and the totals.
func taggedInterval(tb testing.TB) *report.Interval {
	tb.Helper()
	r := report.NewRegistry()
	for i, sc := range []string{"talkers", "lurkers"} {
		tg, err := r.Tagged(report.Tags{{Key: report.TagScenario, Value: sc}})
		if err != nil {
			tb.Fatal(err)
		}
		for _, n := range []string{report.LatencyConnect, report.LatencyHandshake, "nick", "join", "delivery"} {
			for j := range 1000 {
				tg.Latency(n).Record(time.Duration(j+1) * time.Microsecond)
			}
		}
		tg.Counter(report.CounterMsgsSent).Add(int64(10 * (i + 1)))
		tg.Counter(report.ErrSend).Add(int64(i + 1))
		tg.Gauge(report.GaugeVUs).Add(int64(100 * (i + 1)))
	}
	return r.Tick(r.Start().Add(time.Second))
}

// TestSeriesTags: a tagged series is pushed with its tags as labels, its
// total without a scenario label.
func TestSeriesTags(t *testing.T) {
	p := &Pusher{common: []Label{{LabelRunID, "r1"}, {LabelFile, "chat"}, {LabelSegment, "0:1"}}, samples: map[string]int64{}}
	series := p.Series(taggedInterval(t))
	total := func(name string, labels ...string) float64 {
		t.Helper()
		for _, s := range find(series, name, labels...) {
			if label(s, LabelScenario) == "" {
				return s.Samples[0].Value
			}
		}
		t.Fatalf("%s %v: no total", name, labels)
		return 0
	}
	if got := value(t, series, Prefix+"msgs_sent_total", LabelScenario, "lurkers"); got != 20 {
		t.Errorf("msgs.sent of the lurkers = %v, want 20", got)
	}
	if got := total(Prefix + "msgs_sent_total"); got != 30 {
		t.Errorf("msgs.sent total = %v, want 30", got)
	}
	if got := value(t, series, ErrorsTotal, "reason", "send", LabelScenario, "talkers"); got != 1 {
		t.Errorf("errors.send of the talkers = %v, want 1", got)
	}
	if got := value(t, series, GaugeSeries(report.GaugeVUs), LabelScenario, "talkers"); got != 100 {
		t.Errorf("vus of the talkers = %v", got)
	}
	if got := value(t, series, LatencySamples, LabelMetric, "delivery", LabelScenario, "talkers"); got != 1000 {
		t.Errorf("delivery samples of the talkers = %v", got)
	}
	if got := total(LatencySamples, LabelMetric, "delivery"); got != 2000 {
		t.Errorf("delivery samples in total = %v", got)
	}
	for _, s := range series {
		if strings.ContainsAny(label(s, LabelMetric)+label(s, "__name__"), "{}=") {
			t.Errorf("a series name leaked into a label: %v", s.Labels)
		}
	}
}

// BenchmarkInterval is the load generator's whole cost of pushing one
// interval of a two-scenario run (5 latency metrics, their series, the
// counters and gauges): building the series, protobuf, snappy. The request
// itself goes out on the sender goroutine.
func BenchmarkInterval(b *testing.B) {
	iv := taggedInterval(b)
	p := &Pusher{common: []Label{{LabelRunID, "r1"}, {LabelFile, "chat"}, {LabelSegment, "0:1"}}, samples: map[string]int64{}}
	b.ReportAllocs()
	for b.Loop() {
		_ = snappy.Encode(nil, EncodeWriteRequest(p.Series(iv)))
	}
}
