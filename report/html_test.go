package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/wsbench/wsbench/internal/chromiumtest"
)

// browserPage is what Chromium saw while loading one page.
type browserPage struct {
	Requests []string // URLs requested besides the page itself
	Problems []string // console errors and warnings, exceptions, log entries
}

// openInChromium loads the file at path in headless Chromium, runs eval
// (JavaScript through DevTools, outside the page's CSP) into out, and
// reports every request and every console or log message of the page
// (chromedp enables the network, log and runtime domains of each tab).
func openInChromium[T any](t *testing.T, path string, eval string) (T, browserPage) {
	t.Helper()
	exe := chromiumtest.Path(t, "check the HTML report in a browser")
	actx, cancelA := chromiumtest.Allocator(exe)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()

	url := "file://" + path
	var mu sync.Mutex
	var seen browserPage
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if e.Request.URL != url {
				seen.Requests = append(seen.Requests, e.Request.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				seen.Problems = append(seen.Problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			seen.Problems = append(seen.Problems, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				seen.Problems = append(seen.Problems, fmt.Sprintf("log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitReady("body"),
		chromedp.Sleep(300*time.Millisecond), // late console and log events
	)
	if err != nil {
		t.Fatalf("chromium %s: %v", path, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[T](eval))
	if err != nil {
		t.Fatalf("chromium %s: evaluate: %v", path, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return out, seen
}

// pageFacts is what the checks read from a rendered report.
type pageFacts struct {
	SVGs      int                          `json:"svgs"`
	Paths     int                          `json:"paths"`
	EmptyPath int                          `json:"emptyPaths"`
	Latency   map[string]map[string]string `json:"latency"`  // metric → stat → text
	Counters  map[string]string            `json:"counters"` // counter → total text
	Meta      map[string]string            `json:"meta"`
	Verdict   string                       `json:"verdict"`
	Width     float64                      `json:"width"` // width of the first chart as laid out
}

const factsJS = `(() => {
  const lat = {}, ctr = {}, meta = {};
  document.querySelectorAll('#latency tr[data-metric]').forEach(tr => {
    const m = {}; tr.querySelectorAll('td[data-stat]').forEach(td => m[td.dataset.stat] = td.textContent); lat[tr.dataset.metric] = m;
  });
  document.querySelectorAll('#counters tr[data-counter]').forEach(tr => ctr[tr.dataset.counter] = tr.querySelector('td[data-stat=total]').textContent);
  document.querySelectorAll('dd[data-meta]').forEach(dd => meta[dd.dataset.meta] = dd.textContent);
  const paths = [...document.querySelectorAll('figure.chart > svg path')];
  const v = document.querySelector('#threshold-verdict');
  const first = document.querySelector('figure.chart > svg');
  return {svgs: document.querySelectorAll('figure.chart > svg').length, paths: paths.length,
    emptyPaths: paths.filter(p => p.getTotalLength() === 0 && !/h0\.1/.test(p.getAttribute('d'))).length,
    latency: lat, counters: ctr, meta: meta, verdict: v ? v.textContent : '',
    width: first ? first.getBoundingClientRect().width : 0};
})()`

// htmlFixture is a fan-out run with errors, gauges, a scheduler metric and
// thresholds, written as JSON and read back as a report would be.
func htmlFixture(t *testing.T) *Results {
	t.Helper()
	r := NewRegistry()
	r.Latency(SchedLatency).Record(40 * time.Microsecond)
	feed(r, 5, 1)
	res := r.Results(Meta{Scenario: "chat-room.yaml", Target: "ws://127.0.0.1:8080/chat", Version: "0.1.0-test", Start: t0, End: t0.Add(5 * time.Second), Segment: "0:1/2"})
	var ths []Threshold
	for _, e := range []string{"delivery p99 < 50ms", "errors count == 0"} {
		th, err := ParseThreshold(e)
		if err != nil {
			t.Fatal(err)
		}
		ths = append(ths, th)
	}
	res.Thresholds = Evaluate(res, ths)
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

func writeHTMLFile(t *testing.T, r *Results) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHTMLInChromium opens the report in headless Chromium: the charts are
// laid out as SVG, nothing is requested, nothing complains, and the numbers
// in the page are those of the results file.
func TestHTMLInChromium(t *testing.T) {
	res := htmlFixture(t)
	path := writeHTMLFile(t, res)
	facts, seen := openInChromium[pageFacts](t, path, factsJS)
	if len(seen.Requests) > 0 {
		t.Errorf("the page made network requests: %v", seen.Requests)
	}
	if len(seen.Problems) > 0 {
		t.Errorf("the page logged problems: %v", seen.Problems)
	}
	// latency ×(connect, handshake, echo, delivery, delivery.raw, ping)
	// over time, spectrum, fan-out, msgs, bytes, gauges, conns, errors, sched.
	if facts.SVGs < 14 || facts.Paths < 40 {
		t.Errorf("%d charts with %d lines rendered; want ≥ 14 and ≥ 40", facts.SVGs, facts.Paths)
	}
	if facts.EmptyPath > 0 {
		t.Errorf("%d chart lines have no length", facts.EmptyPath)
	}
	if facts.Width < 300 {
		t.Errorf("first chart laid out %.0f px wide", facts.Width)
	}
	for _, l := range res.Latencies {
		got := facts.Latency[l.Name]
		if got == nil {
			t.Errorf("latency %s missing from the page", l.Name)
			continue
		}
		want := map[string]string{"count": fmt.Sprint(l.Count)}
		if l.Count > 0 {
			for k, d := range map[string]time.Duration{"p50": l.P50, "p90": l.P90, "p99": l.P99, "p99.9": l.P999, "max": l.Max, "mean": l.Mean} {
				want[k] = FormatDuration(d)
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("latency %s %s: page says %q, results %q", l.Name, k, got[k], v)
			}
		}
	}
	for _, name := range []string{"msgs.sent", "conn.opened", "delivery.lost", "errors.expect_timeout"} {
		if want := fmt.Sprint(res.Counters[name]); facts.Counters[name] != want {
			t.Errorf("counter %s: page says %q, results %d", name, facts.Counters[name], res.Counters[name])
		}
	}
	if facts.Meta["scenario"] != "chat-room.yaml" || facts.Meta["segments"] != "0:1/2" || facts.Meta["wsbench"] != "0.1.0-test" {
		t.Errorf("header: %v", facts.Meta)
	}
	if !strings.Contains(facts.Verdict, "1 of 2 thresholds failed") {
		t.Errorf("threshold verdict %q; want 1 of 2 failed (errors count == 0 fails)", facts.Verdict)
	}
}

// TestBrowserCheckCatchesRequests proves the browser check can fail: a page
// that loads an image and logs an error is caught on both counts.
func TestBrowserCheckCatchesRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.html")
	page := `<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></body></html>`
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	_, seen := openInChromium[int](t, path, `document.images.length`)
	if len(seen.Requests) == 0 {
		t.Error("the image request was not seen")
	}
	if !strings.Contains(strings.Join(seen.Problems, "\n"), "boom") {
		t.Errorf("console.error not seen: %v", seen.Problems)
	}
}

// TestHTMLComparisonInChromium renders a comparison page cleanly.
func TestHTMLComparisonInChromium(t *testing.T) {
	base := htmlFixture(t)
	slow := slowedFixture(t, 3)
	var buf bytes.Buffer
	if err := WriteComparisonHTML(&buf, Compare(base, slow, 0.1)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "compare.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	type compareFacts struct {
		SVGs    int    `json:"svgs"`
		Verdict string `json:"verdict"`
		P99     string `json:"p99"`
	}
	facts, seen := openInChromium[compareFacts](t, path, `({svgs: document.querySelectorAll('figure.chart > svg').length,
		verdict: document.querySelector('#compare-verdict').textContent,
		p99: document.querySelector('#compare tr[data-metric="delivery"][data-stat="p99"]').textContent})`)
	if len(seen.Requests)+len(seen.Problems) > 0 {
		t.Errorf("requests %v, problems %v", seen.Requests, seen.Problems)
	}
	if facts.SVGs == 0 || !strings.Contains(facts.Verdict, "regression(s)") {
		t.Errorf("comparison page: %d charts, verdict %q", facts.SVGs, facts.Verdict)
	}
	b, _ := base.Latency("delivery")
	n, _ := slow.Latency("delivery")
	if !strings.Contains(facts.P99, FormatDuration(b.P99)) || !strings.Contains(facts.P99, FormatDuration(n.P99)) {
		t.Errorf("delivery p99 row %q; want %s and %s", facts.P99, FormatDuration(b.P99), FormatDuration(n.P99))
	}
}

// slowedFixture is htmlFixture with every delivery sample factor times
// slower.
func slowedFixture(t *testing.T, factor int) *Results {
	t.Helper()
	r := NewRegistry()
	r.StartAt(t0)
	src := htmlFixture(t)
	for _, l := range src.Latencies {
		h := src.Histogram(l.Name)
		dst := r.Latency(l.Name)
		for _, b := range h.Distribution() {
			v := time.Duration(b.From)
			if strings.HasPrefix(l.Name, "delivery") {
				v *= time.Duration(factor)
			}
			dst.RecordN(v, b.Count)
		}
	}
	for k, v := range src.Counters {
		r.Counter(k).Add(v)
	}
	r.Tick(t0.Add(5 * time.Second))
	return r.Results(Meta{Scenario: "chat-room.yaml", Start: t0, End: t0.Add(5 * time.Second)})
}

// TestHTMLSize: an hour-long run with the fixture's metrics stays well
// under 2 MB (long series are drawn in buckets).
func TestHTMLSize(t *testing.T) {
	res := htmlFixture(t)
	for _, secs := range []int{600, 3600} {
		long := *res
		long.Series = nil
		for s := 0; s < secs; s++ {
			p := res.Series[s%len(res.Series)]
			p.T = s
			long.Series = append(long.Series, p)
		}
		long.Meta.End = long.Meta.Start.Add(time.Duration(secs) * time.Second)
		var buf bytes.Buffer
		if err := WriteHTML(&buf, &long); err != nil {
			t.Fatal(err)
		}
		if buf.Len() > 2<<20 {
			t.Errorf("%d s run: HTML is %d bytes; want < 2 MiB", secs, buf.Len())
		}
		if secs == 3600 && !strings.Contains(buf.String(), "Each point is the highest of 3 seconds") {
			t.Errorf("%d s run: long series not bucketed", secs)
		}
		t.Logf("%d s run: %d bytes", secs, buf.Len())
	}
}

// TestHTMLOldSeries: files written before the series held p90 and max still
// render, with p50 and p99 only.
func TestHTMLOldSeries(t *testing.T) {
	res := htmlFixture(t)
	for i := range res.Series {
		for k, l := range res.Series[i].Latencies {
			l.P90, l.Max = 0, 0
			res.Series[i].Latencies[k] = l
		}
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, res); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "<title>p99</title>") || strings.Contains(s, "<title>p90</title>") {
		t.Error("old series: want p99 lines and no p90 line")
	}
}

// TestHTMLEdgeCases: empty results render, and names from the scenario are
// escaped, never markup.
func TestHTMLEdgeCases(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, &Results{}); err != nil {
		t.Fatalf("empty results: %v", err)
	}
	if !strings.Contains(buf.String(), "No errors") {
		t.Error("empty results: no errors line missing")
	}
	r := NewRegistry()
	r.StartAt(t0)
	for s := 0; s < 4; s++ {
		r.Latency(`<script>x</script>`).Record(time.Millisecond)
		r.Counter(`errors.<img src=x>`).Inc()
		r.Tick(t0.Add(time.Duration(s+1) * time.Second))
	}
	res := r.Results(Meta{Scenario: `a"><b>.yaml`, Start: t0, End: t0.Add(4 * time.Second)})
	buf.Reset()
	if err := WriteHTML(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img src=x>", `"><b>`} {
		if strings.Contains(buf.String(), bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
}

// TestHTMLMerged: merged results render from their own histograms and
// series, with the sources and segments in the header.
func TestHTMLMerged(t *testing.T) {
	a, b := htmlFixture(t), htmlFixture(t)
	b.Meta.Segment = "1:2/2"
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, m); err != nil {
		t.Fatal(err)
	}
	d, _ := m.Latency("delivery")
	page := buf.String()
	for _, want := range []string{">2 results<", ">0:1/2,1:2/2<", fmt.Sprintf(`<td data-stat="count">%d</td>`, d.Count), "delivery — latency per second"} {
		if !strings.Contains(page, want) {
			t.Errorf("merged page lacks %q", want)
		}
	}
}
