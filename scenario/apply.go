package scenario

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Overrides are command-line values that replace parts of a Plan
// (k6-style --target, --duration, --vus, --rate). Zero values leave the
// plan alone.
type Overrides struct {
	Target   string        // Builtin or a ws:// / wss:// base URL
	Duration time.Duration // length of constant loads, and a cap on the whole run
	VUs      int           // peak total VUs of the closed-model scenarios
	Rate     float64       // peak total arrivals/s of the open-model scenarios
	// Connection overrides, applied to every scenario and connect step.
	Source   string // source address or range (--source)
	Insecure bool   // skip TLS verification (--insecure)
	CAFile   string // extra CA for wss:// (--ca-file)
}

// Apply applies o to p:
//   - Target replaces the file's target.
//   - Duration sets the duration of every scenario without stages and caps
//     the run (Plan.Duration).
//   - VUs rescales every closed-model scenario's VUs and stage targets so
//     that their peaks add up to VUs exactly, keeping the file's own mix:
//     each scenario gets a share in proportion to its own peak (largest
//     remainder rounding, at least one VU, or one vus_multiple_of, each),
//     or in proportion to `weight` when the file sets weight on any of them.
//   - Rate does the same for the open-model scenarios' arrival rates
//     (max_vus grows in proportion when the rate does).
//   - Source, Insecure and CAFile replace those connect options everywhere.
//
// It validates o first and leaves p unchanged when o is invalid.
func (p *Plan) Apply(o Overrides) error {
	if err := p.checkOverrides(o); err != nil {
		return err
	}
	var vuShares []int
	if o.VUs > 0 {
		var err error
		if vuShares, err = splitShares(o.VUs, p.shareWeights(Closed), p.units()); err != nil {
			return fmt.Errorf("--vus %d: %w", o.VUs, err)
		}
	}
	if o.Target != "" {
		p.Target = normaliseTarget(o.Target)
	}
	if o.Duration > 0 {
		p.Duration = o.Duration
		for _, s := range p.Scenarios {
			if len(s.Load.Stages) == 0 {
				s.Load.Duration = o.Duration
			}
		}
	}
	if o.Source != "" || o.Insecure || o.CAFile != "" {
		set := func(c *ConnectOptions) {
			if o.Source != "" {
				c.Source = o.Source
			}
			if o.Insecure {
				c.Insecure = true
			}
			if o.CAFile != "" {
				c.CAFile = o.CAFile
			}
		}
		set(&p.Connect)
		for _, s := range p.Scenarios {
			set(&s.Connect)
			WalkSteps(s.Steps, func(st *Step) {
				if st.Kind == StepConnect {
					set(&st.Connect.Options)
				}
			})
		}
	}
	p.Scaling = p.Scaling[:0]
	if o.VUs > 0 {
		i := 0
		for _, s := range p.Scenarios {
			if s.Load.Model == Closed {
				from := s.Load.peak()
				s.Load.scaleClosed(vuShares[i], s.VUsMultipleOf)
				p.Scaling = append(p.Scaling, ScaledLoad{Scenario: s.Name, Model: Closed, From: from, To: float64(vuShares[i]), ByWeight: p.byWeight(Closed)})
				i++
			}
		}
	}
	if o.Rate > 0 {
		ws := p.shareWeights(Open)
		total := 0.0
		for _, w := range ws {
			total += w
		}
		i := 0
		for _, s := range p.Scenarios {
			if s.Load.Model == Open {
				from, to := s.Load.peak(), o.Rate*ws[i]/total
				s.Load.scaleOpen(to)
				p.Scaling = append(p.Scaling, ScaledLoad{Scenario: s.Name, Model: Open, From: from, To: to, ByWeight: p.byWeight(Open)})
				i++
			}
		}
	}
	return nil
}

func (p *Plan) checkOverrides(o Overrides) error {
	if o.Target != "" {
		t := normaliseTarget(o.Target)
		if t != Builtin {
			u, err := url.Parse(t)
			if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
				return fmt.Errorf("--target %q: want builtin or a ws:// or wss:// URL", o.Target)
			}
		}
	}
	if o.Source != "" {
		if err := checkSource(o.Source); err != nil {
			return fmt.Errorf("--source %q: %w", o.Source, err)
		}
	}
	if o.Duration < 0 {
		return fmt.Errorf("--duration %s: must be positive", o.Duration)
	}
	if o.VUs < 0 {
		return fmt.Errorf("--vus %d: must be positive", o.VUs)
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return fmt.Errorf("--rate %v: must be a positive number", o.Rate)
	}
	if o.VUs > 0 {
		n := len(p.shareWeights(Closed))
		if n == 0 {
			return fmt.Errorf("--vus %d: %s has no closed-model scenario (`vus`); use --rate for `arrival_rate`", o.VUs, p.File)
		}
		if o.VUs < n {
			return fmt.Errorf("--vus %d: fewer than the %d closed-model scenarios of %s", o.VUs, n, p.File)
		}
	}
	if o.Rate > 0 && len(p.shareWeights(Open)) == 0 {
		return fmt.Errorf("--rate %v: %s has no open-model scenario (`arrival_rate`); use --vus for `vus`", o.Rate, p.File)
	}
	return nil
}

func normaliseTarget(t string) string {
	t = strings.TrimSpace(t)
	if t == "" || t == Builtin {
		return Builtin
	}
	if u, err := url.Parse(t); err == nil && u.Path == "/" && u.RawQuery == "" {
		t = strings.TrimSuffix(t, "/")
	}
	return t
}

// byWeight reports whether the file sets `weight` on a scenario of model
// m: then --vus / --rate split by weight rather than by the file's own mix.
func (p *Plan) byWeight(m LoadModel) bool {
	for _, s := range p.Scenarios {
		if s.Load.Model == m && s.WeightSet {
			return true
		}
	}
	return false
}

// shareWeights lists, in order, what the scenarios of model m get a share
// of --vus / --rate in proportion to: their weights (default 1) when the
// file sets any, their own peaks otherwise (equal shares when every peak is
// 0).
func (p *Plan) shareWeights(m LoadModel) []float64 {
	byWeight := p.byWeight(m)
	var ws []float64
	sum := 0.0
	for _, s := range p.Scenarios {
		if s.Load.Model != m {
			continue
		}
		w := s.Load.peak()
		if byWeight {
			w = float64(max(1, s.Weight))
		}
		ws = append(ws, w)
		sum += w
	}
	if sum == 0 {
		for i := range ws {
			ws[i] = 1
		}
	}
	return ws
}

// units lists the closed-model scenarios' vus_multiple_of (at least 1).
func (p *Plan) units() []int {
	var us []int
	for _, s := range p.Scenarios {
		if s.Load.Model == Closed {
			us = append(us, max(1, s.VUsMultipleOf))
		}
	}
	return us
}

// splitShares splits total between scenarios in proportion to weights,
// each share a multiple of its unit: largest remainder rounding, every
// scenario with a positive weight keeps at least one unit, and the shares
// add up to total exactly. It fails when the units make that impossible.
func splitShares(total int, weights []float64, units []int) ([]int, error) {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	n := len(weights)
	shares := make([]int, n)
	exact := make([]float64, n)
	need, given := 0, 0
	for i, w := range weights {
		u := units[i]
		exact[i] = float64(total) * w / sum
		shares[i] = int(exact[i]/float64(u)+1e-9) * u
		if w > 0 {
			need += u
			shares[i] = max(shares[i], u)
		}
		given += shares[i]
	}
	if total < need {
		return nil, fmt.Errorf("fewer than the %d VUs the scenarios need (one each, or one vus_multiple_of)", need)
	}
	// pick returns the scenario that most deserves one unit more (sign 1)
	// or less (sign -1), or -1 when none can take the change.
	pick := func(sign int, room int) int {
		best := -1
		for i := range shares {
			u := units[i]
			if u > room || (sign < 0 && shares[i]-u < u) || weights[i] == 0 {
				continue
			}
			d := float64(sign) * (exact[i] - float64(shares[i]))
			if best < 0 || d > float64(sign)*(exact[best]-float64(shares[best])) {
				best = i
			}
		}
		return best
	}
	for given > total { // the minimum of one unit each overshot
		i := pick(-1, math.MaxInt)
		if i < 0 {
			break
		}
		shares[i] -= units[i]
		given -= units[i]
	}
	for given < total {
		i := pick(1, total-given)
		if i < 0 {
			break
		}
		shares[i] += units[i]
		given += units[i]
	}
	if given != total {
		return nil, fmt.Errorf("cannot be split into the scenarios' vus_multiple_of %v; the nearest totals are multiples of them", units)
	}
	return shares, nil
}

// ScaledLoad is what --vus or --rate did to one scenario: its peak VUs
// (closed) or arrivals/s (open) in the file and after the override.
type ScaledLoad struct {
	Scenario string
	Model    LoadModel
	From, To float64
	ByWeight bool // split by the file's `weight`, not by its own mix
}

// FormatScaling renders scaling as one line, e.g.
// "scaling --vus: talkers 4, lurkers 16 VUs (file: 40, 160)".
func FormatScaling(scaling []ScaledLoad) string {
	var b strings.Builder
	for _, m := range []LoadModel{Closed, Open} {
		var to, from []string
		how := "the file's mix"
		for _, s := range scaling {
			if s.Model != m {
				continue
			}
			if s.ByWeight {
				how = "weight"
			}
			if m == Closed {
				to = append(to, fmt.Sprintf("%s %d", s.Scenario, int(s.To)))
				from = append(from, strconv.Itoa(int(s.From)))
			} else {
				to = append(to, fmt.Sprintf("%s %s/s", s.Scenario, formatRate(s.To)))
				from = append(from, formatRate(s.From)+"/s")
			}
		}
		if len(to) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		flag, unit := "--vus", " VUs"
		if m == Open {
			flag, unit = "--rate", ""
		}
		fmt.Fprintf(&b, "scaling %s by %s: %s%s (file: %s)", flag, how, strings.Join(to, ", "), unit, strings.Join(from, ", "))
	}
	return b.String()
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// peak is the largest VU count or rate the load reaches.
func (l *Load) peak() float64 {
	pk := float64(l.VUs)
	if l.Model == Open {
		pk = l.Rate
	}
	for _, st := range l.Stages {
		pk = max(pk, st.Target)
	}
	return pk
}

// scaleClosed rescales VUs and stage targets so the peak becomes share,
// rounding each to a multiple of unit (0 or 1: any count).
func (l *Load) scaleClosed(share, unit int) {
	pk := l.peak()
	if pk == 0 {
		l.VUs = share
		return
	}
	u := float64(max(1, unit))
	f := float64(share) / pk
	l.VUs = int(math.Round(float64(l.VUs)*f/u) * u)
	for i := range l.Stages {
		l.Stages[i].Target = math.Round(l.Stages[i].Target*f/u) * u
	}
}

// scaleOpen rescales the rate and stage targets so the peak becomes share;
// MaxVUs grows in proportion when the rate grows.
func (l *Load) scaleOpen(share float64) {
	pk := l.peak()
	if pk == 0 {
		l.Rate = share
		l.MaxVUs = max(l.MaxVUs, int(math.Ceil(10*share)))
		return
	}
	f := share / pk
	l.Rate *= f
	for i := range l.Stages {
		l.Stages[i].Target *= f
	}
	if f > 1 {
		l.MaxVUs = max(l.MaxVUs, int(math.Ceil(float64(l.MaxVUs)*f)))
	}
}
