package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const applyYAML = `
duration: 30s
scenarios:
  talkers:
    weight: 1
    vus: 10
    steps: [connect]
  lurkers:
    weight: 3
    stages: [{duration: 10s, target: 40}, {duration: 10s, target: 20}]
    steps: [connect]
  arrivals:
    arrival_rate: 5
    max_vus: 50
    duration: 20s
    steps: [connect]
  ramp:
    weight: 2
    arrival_rate: 0
    stages: [{duration: 5s, target: 10}]
    steps: [connect]
`

func mustParse(t *testing.T, src string) *Plan {
	t.Helper()
	p, err := Parse("apply.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyTargetAndDuration(t *testing.T) {
	p := mustParse(t, applyYAML)
	if err := p.Apply(Overrides{Target: "ws://127.0.0.1:9/", Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if p.Target != "ws://127.0.0.1:9" || p.Duration != time.Minute {
		t.Errorf("target %q duration %s", p.Target, p.Duration)
	}
	for _, s := range p.Scenarios {
		want := time.Minute
		if len(s.Load.Stages) > 0 {
			want = 0
		}
		if s.Load.Duration != want {
			t.Errorf("%s: duration %s, want %s", s.Name, s.Load.Duration, want)
		}
	}
	if err := p.Apply(Overrides{Target: "builtin"}); err != nil || p.Target != Builtin {
		t.Errorf("builtin override: %v %q", err, p.Target)
	}
}

func TestApplyVUs(t *testing.T) {
	p := mustParse(t, applyYAML)
	if err := p.Apply(Overrides{VUs: 100}); err != nil {
		t.Fatal(err)
	}
	talk, lurk := p.Scenarios[0].Load, p.Scenarios[1].Load
	// weights 1:3 → 25 and 75; lurkers' peak 40 → 75, so 20 → 38 (rounded 37.5).
	if talk.VUs != 25 {
		t.Errorf("talkers VUs %d, want 25", talk.VUs)
	}
	if lurk.VUs != 0 || lurk.Stages[0].Target != 75 || lurk.Stages[1].Target != 38 {
		t.Errorf("lurkers: %+v", lurk)
	}
	if p.Scenarios[2].Load.Rate != 5 {
		t.Error("--vus changed an open model")
	}
	// Odd totals still add up exactly.
	p = mustParse(t, applyYAML)
	if err := p.Apply(Overrides{VUs: 7}); err != nil {
		t.Fatal(err)
	}
	if got := p.Scenarios[0].Load.peak() + p.Scenarios[1].Load.peak(); got != 7 {
		t.Errorf("peaks add to %v, want 7", got)
	}
}

func TestApplyRate(t *testing.T) {
	p := mustParse(t, applyYAML)
	if err := p.Apply(Overrides{Rate: 300}); err != nil {
		t.Fatal(err)
	}
	arr, ramp := p.Scenarios[2].Load, p.Scenarios[3].Load
	// weights 1:2 → 100 and 200 arrivals/s.
	if arr.Rate != 100 || arr.MaxVUs != 1000 {
		t.Errorf("arrivals: %+v", arr)
	}
	if ramp.Rate != 0 || ramp.Stages[0].Target != 200 || ramp.MaxVUs < 2000 {
		t.Errorf("ramp: %+v", ramp)
	}
	if p.Scenarios[0].Load.VUs != 10 {
		t.Error("--rate changed a closed model")
	}
	// Lowering the rate keeps max_vus.
	p = mustParse(t, applyYAML)
	if err := p.Apply(Overrides{Rate: 3}); err != nil {
		t.Fatal(err)
	}
	if l := p.Scenarios[2].Load; l.Rate != 1 || l.MaxVUs != 50 {
		t.Errorf("lowered: %+v", l)
	}
}

func TestApplyInvalid(t *testing.T) {
	closedOnly := "duration: 1s\nvus: 3\nsteps: [connect]"
	openOnly := "duration: 1s\narrival_rate: 3\nsteps: [connect]"
	cases := []struct {
		src  string
		o    Overrides
		want string
	}{
		{applyYAML, Overrides{Target: "http://x"}, "--target"},
		{applyYAML, Overrides{Duration: -time.Second}, "--duration"},
		{applyYAML, Overrides{VUs: -1}, "--vus"},
		{applyYAML, Overrides{VUs: 1}, "fewer than the 2 closed-model scenarios"},
		{applyYAML, Overrides{Rate: -2}, "--rate"},
		{openOnly, Overrides{VUs: 5}, "no closed-model scenario"},
		{closedOnly, Overrides{Rate: 5}, "no open-model scenario"},
	}
	for _, c := range cases {
		p := mustParse(t, c.src)
		before := p.Scenarios[0].Load
		err := p.Apply(c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Apply(%+v) = %v, want containing %q", c.o, err, c.want)
		}
		if p.Scenarios[0].Load.VUs != before.VUs || p.Scenarios[0].Load.Rate != before.Rate {
			t.Errorf("Apply(%+v) changed the plan despite failing", c.o)
		}
	}
}

func TestSplitInt(t *testing.T) {
	cases := []struct {
		total   int
		weights []int
		want    string
	}{
		{10, []int{1, 1}, "[5 5]"},
		{10, []int{1, 2}, "[3 7]"},
		{3, []int{1, 1, 1}, "[1 1 1]"},
		{3, []int{100, 1, 1}, "[1 1 1]"},
		{5, []int{1}, "[5]"},
	}
	for _, c := range cases {
		got := splitInt(c.total, c.weights)
		sum := 0
		for _, s := range got {
			sum += s
			if s < 1 {
				t.Errorf("splitInt(%d, %v) = %v has a share below 1", c.total, c.weights, got)
			}
		}
		if sum != c.total || fmt.Sprint(got) != c.want {
			t.Errorf("splitInt(%d, %v) = %v, want %s", c.total, c.weights, got, c.want)
		}
	}
}

func TestApplyConnectOverrides(t *testing.T) {
	p := mustParse(t, `
connect: {path: /chat}
scenarios:
  a:
    vus: 1
    duration: 1s
    steps:
      - connect
      - repeat: {count: 2, steps: [{connect: {path: /echo}}, close]}
`)
	if err := p.Apply(Overrides{Source: "127.0.0.1-127.0.0.4", Insecure: true, CAFile: "/tmp/ca.pem"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	check := func(where string, c ConnectOptions) {
		if c.Source != "127.0.0.1-127.0.0.4" || !c.Insecure || c.CAFile != "/tmp/ca.pem" {
			t.Errorf("%s: connect options %+v not overridden", where, c)
		}
	}
	check("scenario", p.Scenarios[0].Connect)
	WalkSteps(p.Scenarios[0].Steps, func(st *Step) {
		if st.Kind == StepConnect {
			n++
			check("connect step", st.Connect.Options)
		}
	})
	if n != 2 {
		t.Errorf("found %d connect steps, want 2 (one nested in repeat)", n)
	}
	if err := p.Apply(Overrides{Source: "not-an-ip"}); err == nil || !strings.Contains(err.Error(), "--source") {
		t.Errorf("bad --source accepted: %v", err)
	}
}
