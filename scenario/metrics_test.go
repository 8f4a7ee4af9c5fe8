package scenario

import (
	"slices"
	"testing"

	"github.com/wsbench/wsbench/report"
)

func TestMetricNames(t *testing.T) {
	p := mustParse(t, `
duration: 5s
scenarios:
  a:
    vus: 1
    listeners:
      - {name: delivery, match: {json: {op: said}}, latency_from: ts}
      - {name: seen, match: {json: {op: said}}}
    steps:
      - connect
      - send: {text: hi}
      - expect: {name: hello}
      - ping
      - group:
          name: round
          steps:
            - repeat:
                count: 2
                every: 10ms
                steps: [{send: {text: x}}, {expect: {name: paced}}, {group: {name: inner, steps: [expect]}}]
  b:
    vus: 1
    connect: {protocol: socketio}
    steps:
      - connect
      - emit: {event: say, args: [hi], ack: true}
`)
	got := p.MetricNames()
	for _, want := range []string{
		"hello", "ping", "round", "paced", "paced.raw", "inner", "expect", "expect.raw", "say",
		"delivery", "listener.delivery", "listener.seen", "socketio.connect", "errors.ack_timeout",
		report.LatencyConnect, report.CounterExpectStale, report.ErrClampedSample, report.GaugeVUs,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("MetricNames lacks %q: %v", want, got)
		}
	}
	for _, never := range []string{"hello.raw", "seen", "say.raw", "group"} {
		if slices.Contains(got, never) {
			t.Errorf("MetricNames lists %q, which this plan never records", never)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("MetricNames not sorted: %v", got)
	}
}

// TestMetricNamesCoverWhatARunRecords runs a plan over a real socket and
// checks that every metric it recorded is one MetricNames promised: a
// metric added to the runner but not to report/names.go (or to
// MetricNames) would make --check reject thresholds on it.
func TestMetricNamesCoverWhatARunRecords(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := mustParse(t, `
duration: 1s
scenarios:
  a:
    iterations: 1
    listeners:
      - {name: back, match: {json: {op: x}}, latency_from: ts, sequence: {sender: from, field: seq}}
    steps:
      - connect
      - send: {json: {op: x, ts: "{{now_ns}}", from: "{{vu}}", seq: "{{seq}}"}}
      - expect: {name: first}
      - ping: {name: pong}
        tags: {probe: ping}
      - group:
          name: g
          steps:
            - repeat: {count: 3, every: 5ms, steps: [{send: {json: {op: x, ts: "{{now_ns}}", from: "{{vu}}", seq: "{{seq}}"}}}, {expect: {name: paced}}]}
      - close
`)
	res := runPlan(t, p, base, Segment{})
	names := p.MetricNames()
	var recorded []string
	for _, l := range res.Latencies {
		recorded = append(recorded, l.Name)
	}
	for name := range res.Counters {
		recorded = append(recorded, name)
	}
	for name := range res.Gauges {
		recorded = append(recorded, name)
	}
	sets := p.TagSets()
	tagged := 0
	for _, name := range recorded {
		metric, tags, ok := report.SplitSeries(name)
		if !ok {
			if !report.Recordable(name, names) {
				t.Errorf("the run recorded %q, which MetricNames does not list: %v", name, names)
			}
			continue
		}
		tagged++
		if !slices.ContainsFunc(sets, func(s report.Tags) bool { return s.String() == tags.String() }) {
			t.Errorf("the run recorded the series %q, whose tags TagSets does not list: %v", name, sets)
		}
		if !report.Recordable(metric, p.MetricNamesFor(tags)) {
			t.Errorf("the run recorded the series %q, which MetricNamesFor(%v) does not list: %v", name, tags, p.MetricNamesFor(tags))
		}
	}
	if _, ok := res.Latency("pong{probe=ping,scenario=a}"); !ok || tagged < 20 {
		t.Errorf("the tagged ping's series is missing, or too few series (%d) recorded: %v", tagged, recorded)
	}
	if len(recorded) < 20 {
		t.Fatalf("only %d metrics recorded: %v", len(recorded), recorded)
	}
}
