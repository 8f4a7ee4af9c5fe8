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
