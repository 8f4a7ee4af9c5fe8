package scenario

import (
	"cmp"
	"fmt"
	"math"
	"net/url"
	"slices"
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
//   - VUs rescales every closed-model scenario's VUs and stage targets
//     proportionally so that their peaks add up to VUs, split by weight.
//   - Rate does the same for the open-model scenarios' arrival rates
//     (max_vus grows in proportion when the rate does).
//   - Source, Insecure and CAFile replace those connect options everywhere.
//
// It validates o first and leaves p unchanged when o is invalid.
func (p *Plan) Apply(o Overrides) error {
	if err := p.checkOverrides(o); err != nil {
		return err
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
	if o.VUs > 0 {
		shares := splitInt(o.VUs, p.weights(Closed))
		i := 0
		for _, s := range p.Scenarios {
			if s.Load.Model == Closed {
				s.Load.scaleClosed(shares[i])
				i++
			}
		}
	}
	if o.Rate > 0 {
		ws := p.weights(Open)
		total := 0
		for _, w := range ws {
			total += w
		}
		i := 0
		for _, s := range p.Scenarios {
			if s.Load.Model == Open {
				s.Load.scaleOpen(o.Rate * float64(ws[i]) / float64(total))
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
		n := len(p.weights(Closed))
		if n == 0 {
			return fmt.Errorf("--vus %d: %s has no closed-model scenario (`vus`); use --rate for `arrival_rate`", o.VUs, p.File)
		}
		if o.VUs < n {
			return fmt.Errorf("--vus %d: fewer than the %d closed-model scenarios of %s", o.VUs, n, p.File)
		}
	}
	if o.Rate > 0 && len(p.weights(Open)) == 0 {
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

// weights lists the weights of the scenarios of one model, in order.
func (p *Plan) weights(m LoadModel) []int {
	var ws []int
	for _, s := range p.Scenarios {
		if s.Load.Model == m {
			ws = append(ws, max(1, s.Weight))
		}
	}
	return ws
}

// splitInt splits total by weights (largest remainder), each share at
// least 1, the shares summing to total. total >= len(weights).
func splitInt(total int, weights []int) []int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	shares := make([]int, len(weights))
	rems := make([]float64, len(weights))
	given := 0
	for i, w := range weights {
		exact := float64(total) * float64(w) / float64(sum)
		shares[i] = int(exact)
		rems[i] = exact - float64(shares[i])
		given += shares[i]
	}
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
	for k := 0; given < total; k++ {
		shares[order[k%len(order)]]++
		given++
	}
	for i := range shares {
		if shares[i] == 0 { // take one from the largest share
			big := 0
			for j := range shares {
				if shares[j] > shares[big] {
					big = j
				}
			}
			shares[big]--
			shares[i] = 1
		}
	}
	return shares
}

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

// scaleClosed rescales VUs and stage targets so the peak becomes share.
func (l *Load) scaleClosed(share int) {
	pk := l.peak()
	if pk == 0 {
		l.VUs = share
		return
	}
	f := float64(share) / pk
	l.VUs = int(math.Round(float64(l.VUs) * f))
	for i := range l.Stages {
		l.Stages[i].Target = math.Round(l.Stages[i].Target * f)
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
