package scenario

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wsbench/wsbench/report"
)

const taggedPlan = `duration: 1s
thresholds: [%s]
scenarios:
  talkers:
    vus: 1
    steps:
      - connect
      - send: {text: hi}
      - expect: {name: ack}
        tags: {room: big}
      - group:
          name: g
          steps: [{ping: {name: pong}}]
        tags: {room: small, phase: warm}
  lurkers:
    vus: 1
    listeners: [{name: delivery, match: {regex: x}, latency_from: ts}]
    steps: [connect, {think: 1s}]
`

func TestStepTags(t *testing.T) {
	p, err := Parse("tags.yaml", []byte(fmt.Sprintf(taggedPlan, "")))
	if err != nil {
		t.Fatal(err)
	}
	steps := p.Scenarios[0].Steps
	if got := steps[2].Tags.String(); got != "room=big" {
		t.Errorf("expect's tags = %q", got)
	}
	if got := steps[3].Tags.String(); got != "phase=warm,room=small" {
		t.Errorf("group's tags = %q", got)
	}
	var sets []string
	for _, s := range p.TagSets() {
		sets = append(sets, "{"+s.String()+"}")
	}
	want := "{phase=warm,room=small,scenario=talkers} {room=big,scenario=talkers} {scenario=lurkers} {scenario=talkers}"
	if strings.Join(sets, " ") != want {
		t.Errorf("TagSets = %v, want %s", sets, want)
	}
	if names := p.MetricNamesFor(report.Tags{{Key: "room", Value: "big"}}); strings.Join(names, " ") != "ack" {
		t.Errorf("MetricNamesFor(room=big) = %v, want [ack]", names)
	}
}

// TestThresholdSelectorCheck: --check rejects a selector no series carries
// (with the nearest value), or whose series never record the metric.
func TestThresholdSelectorCheck(t *testing.T) {
	for _, tc := range []struct{ th, err string }{
		{`"delivery{scenario=lurkers} p99 < 100ms"`, ""},
		{`"ack{room=big} p99 < 100ms"`, ""},
		{`"ack{scenario=talkers} p99 < 100ms"`, ""},
		{`"pong{phase=warm} max < 1s"`, ""},
		{`"msgs.sent{scenario=talkers} count > 0"`, ""},
		{`"errors{scenario=lurkers} rate < 1%"`, ""},
		{`"delivery{scenario=lurker} p99 < 100ms"`, "no series has scenario=lurker (scenario is one of lurkers, talkers) (did you mean `lurkers`?)"},
		{`"delivery{rooom=big} p99 < 100ms"`, "no series has the tag `rooom`"},
		{`"delivery{room=bigg} p99 < 100ms"`, "did you mean `big`?"},
		{`"ack{room=big, phase=warm} p99 < 100ms"`, "no series carries all these tags together"},
		{`"delivery{scenario=talkers} p99 < 100ms"`, `no series with these tags records "delivery"`},
		{`"ack{scenario=lurkers} p99 < 100ms"`, `no series with these tags records "ack"`},
		{`"msgs.sent{room=big} count > 0"`, `no series with these tags records "msgs.sent"`},
		{`"wsbench.sched{scenario=talkers} p99 < 1s"`, `no series with these tags records "wsbench.sched"`},
		{`"delivery{scenario=lurkers p99 < 100ms"`, "unclosed `{`"},
	} {
		_, err := Parse("tags.yaml", []byte(fmt.Sprintf(taggedPlan, tc.th)))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.th, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want an error with %q", tc.th, err, tc.err)
		}
	}
}

func TestStepTagErrors(t *testing.T) {
	for _, tc := range []struct{ tags, err string }{
		{"{scenario: x}", "tag `scenario` is reserved"},
		{"{run_id: x}", "tag `run_id` is reserved"},
		{"{Room: big}", "tag key \"Room\""},
		{"{room: b/g}", "values use letters"},
		{"{room: [a]}", "expected a tag value"},
		{"[room]", "expected a mapping of tag to value"},
		{"{}", "empty: name at least one tag"},
	} {
		src := "duration: 1s\nsteps:\n  - connect\n  - ping: {name: p}\n    tags: " + tc.tags + "\n"
		_, err := Parse("t.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "t.yaml:5:") {
			t.Errorf("tags %s: %v, want t.yaml:5: … %q", tc.tags, err, tc.err)
		}
	}
}

// TestTagSetLimit: a plan with more tag sets than report.MaxTagSets is
// refused before it runs.
func TestTagSetLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("duration: 1s\nsteps:\n  - connect\n")
	for i := range report.MaxTagSets {
		fmt.Fprintf(&b, "  - ping: {name: p}\n    tags: {room: r%d}\n", i)
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d tag sets", report.MaxTagSets+1)) || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", report.MaxTagSets)) {
		t.Fatalf("%d tag sets: %v", report.MaxTagSets+1, err)
	}
}
