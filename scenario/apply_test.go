package scenario

import (
	"fmt"
	"math"
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

func TestSplitShares(t *testing.T) {
	cases := []struct {
		total   int
		weights []float64
		units   []int
		want    string
	}{
		{10, []float64{1, 1}, []int{1, 1}, "[5 5]"},
		{10, []float64{1, 2}, []int{1, 1}, "[3 7]"},
		{3, []float64{1, 1, 1}, []int{1, 1, 1}, "[1 1 1]"},
		{3, []float64{100, 1, 1}, []int{1, 1, 1}, "[1 1 1]"},
		{5, []float64{1}, []int{1}, "[5]"},
		{20, []float64{40, 160}, []int{1, 1}, "[4 16]"},
		{40, []float64{5, 995}, []int{1, 1}, "[1 39]"},
		{10, []float64{100, 1}, []int{2, 1}, "[8 2]"},
		{11, []float64{50, 50}, []int{2, 1}, "[6 5]"},
		{7, []float64{1, 0}, []int{1, 1}, "[7 0]"},
	}
	for _, c := range cases {
		got, err := splitShares(c.total, c.weights, c.units)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("splitShares(%d, %v, %v) = %v, %v; want %s", c.total, c.weights, c.units, got, err, c.want)
		}
	}
	for _, c := range []struct {
		total int
		units []int
		want  string
	}{
		{7, []int{2}, "cannot be split"},
		{3, []int{2, 2}, "fewer than the 4 VUs"},
	} {
		ws := make([]float64, len(c.units))
		for i := range ws {
			ws[i] = 1
		}
		if got, err := splitShares(c.total, ws, c.units); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("splitShares(%d, units %v) = %v, %v; want an error containing %q", c.total, c.units, got, err, c.want)
		}
	}
}

// TestSplitSharesProperties checks, for many totals and mixes, that the
// shares add up exactly, keep every scenario, respect the units and stay
// within one unit of the exact proportional share.
func TestSplitSharesProperties(t *testing.T) {
	mixes := []struct {
		weights []float64
		units   []int
	}{
		{[]float64{40, 160}, []int{1, 1}},
		{[]float64{5, 995}, []int{1, 1}},
		{[]float64{1, 2, 3, 4}, []int{1, 1, 1, 1}},
		{[]float64{100, 7, 3}, []int{2, 1, 1}},
		{[]float64{10, 10}, []int{2, 3}},
		{[]float64{0.5, 1000}, []int{1, 1}},
	}
	for _, m := range mixes {
		need, sum := 0, 0.0
		for i, u := range m.units {
			need += u
			sum += m.weights[i]
		}
		for total := need; total <= 2000; total++ {
			got, err := splitShares(total, m.weights, m.units)
			if err != nil {
				allEven := true
				for _, u := range m.units {
					allEven = allEven && u > 1
				}
				if !allEven {
					t.Fatalf("splitShares(%d, %v, %v): %v", total, m.weights, m.units, err)
				}
				continue // only all-multiple mixes can be impossible
			}
			// Within one unit of the exact share, unless the minimum of
			// one unit per scenario had to bend the split.
			bent := false
			for i, u := range m.units {
				bent = bent || float64(total)*m.weights[i]/sum < float64(u)
			}
			given := 0
			for i, g := range got {
				given += g
				u := m.units[i]
				if g < u || g%u != 0 {
					t.Fatalf("splitShares(%d, %v, %v) = %v: share %d breaks unit %d", total, m.weights, m.units, got, g, u)
				}
				exact := float64(total) * m.weights[i] / sum
				if !bent && (float64(g) > exact+float64(u) || float64(g) < exact-float64(u)) {
					t.Fatalf("splitShares(%d, %v, %v) = %v: share %d is more than a unit from %.2f", total, m.weights, m.units, got, g, exact)
				}
			}
			if given != total {
				t.Fatalf("splitShares(%d, %v, %v) = %v adds up to %d", total, m.weights, m.units, got, given)
			}
		}
	}
}

func TestApplyKeepsTheFilesMix(t *testing.T) {
	chat, err := LoadFile("../examples/chat-room.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := chat.Apply(Overrides{VUs: 20}); err != nil {
		t.Fatal(err)
	}
	if talk, lurk := chat.Scenarios[0].Load.VUs, chat.Scenarios[1].Load.VUs; talk != 4 || lurk != 16 {
		t.Errorf("chat-room --vus 20: talkers %d, lurkers %d; want 4 and 16", talk, lurk)
	}
	if got, want := FormatScaling(chat.Scaling), "scaling --vus by the file's mix: talkers 4, lurkers 16 VUs (file: 40, 160)"; got != want {
		t.Errorf("scaling line %q, want %q", got, want)
	}

	for _, n := range []int{2, 40, 200, 1000, 4000} {
		fan, err := LoadFile("../examples/broadcast-fanout.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := fan.Apply(Overrides{VUs: n}); err != nil {
			t.Fatal(err)
		}
		sp, au := fan.Scenarios[0].Load.VUs, fan.Scenarios[1].Load.VUs
		want := max(1, int(math.Round(float64(n)*5/1000)))
		if sp+au != n || sp != want {
			t.Errorf("broadcast-fanout --vus %d: speakers %d, audience %d; want %d speakers of %d", n, sp, au, want, n)
		}
	}

	dm, err := LoadFile("../examples/dm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if dm.Scenarios[0].VUsMultipleOf != 2 {
		t.Fatalf("dm.yaml: vus_multiple_of %d, want 2 (pairs)", dm.Scenarios[0].VUsMultipleOf)
	}
	if err := dm.Apply(Overrides{VUs: 9}); err == nil || !strings.Contains(err.Error(), "vus_multiple_of") {
		t.Errorf("dm --vus 9 (odd) = %v, want a vus_multiple_of error", err)
	}
	if err := dm.Apply(Overrides{VUs: 10}); err != nil || dm.Scenarios[0].Load.VUs != 10 {
		t.Errorf("dm --vus 10 = %v, VUs %d", err, dm.Scenarios[0].Load.VUs)
	}
}

func TestApplyRateKeepsTheFilesMix(t *testing.T) {
	p := mustParse(t, `
duration: 10s
scenarios:
  a: {arrival_rate: 30, steps: [connect]}
  b: {arrival_rate: 10, stages: [{duration: 5s, target: 90}], steps: [connect]}
`)
	if err := p.Apply(Overrides{Rate: 12}); err != nil {
		t.Fatal(err)
	}
	a, b := p.Scenarios[0].Load, p.Scenarios[1].Load
	if a.Rate != 3 || b.Stages[0].Target != 9 || b.Rate != 1 {
		t.Errorf("--rate 12 over peaks 30 and 90: a %+v, b %+v; want 3 and a peak of 9", a, b)
	}
	if got, want := FormatScaling(p.Scaling), "scaling --rate by the file's mix: a 3/s, b 9/s (file: 30/s, 90/s)"; got != want {
		t.Errorf("scaling line %q, want %q", got, want)
	}
}

// TestApplyWithSegments checks that the segments of a run together start
// exactly the VUs --vus asked for, per scenario.
func TestApplyWithSegments(t *testing.T) {
	for _, n := range []int{5, 20, 37, 200} {
		p, err := LoadFile("../examples/chat-room.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(Overrides{VUs: n}); err != nil {
			t.Fatal(err)
		}
		for _, parts := range []int{2, 3, 7} {
			labels, err := Segment{}.Split(parts)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, s := range p.Scenarios {
				got := 0
				for _, l := range labels {
					seg, err := ParseSegment(l)
					if err != nil {
						t.Fatal(err)
					}
					got += seg.Scale(s.Load.VUs)
				}
				if got != s.Load.VUs {
					t.Errorf("--vus %d in %d segments: %s runs %d, want %d", n, parts, s.Name, got, s.Load.VUs)
				}
				total += got
			}
			if total != n {
				t.Errorf("--vus %d in %d segments: %d VUs in all", n, parts, total)
			}
		}
	}
}

func TestVUsMultipleOfInvalid(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"duration: 1s\nvus: 3\nvus_multiple_of: 2\nsteps: [connect]", "vus 3 is not a multiple of 2"},
		{"duration: 1s\narrival_rate: 3\nvus_multiple_of: 2\nsteps: [connect]", "applies to the closed model"},
		{"duration: 1s\nvus: 2\nvus_multiple_of: 0\nsteps: [connect]", "vus_multiple_of"},
	} {
		_, err := Parse("m.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error containing %q", c.src, err, c.want)
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
