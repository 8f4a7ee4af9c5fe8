package scenario

// run.go is the runner's entry point: Run prepares every scenario of a Plan
// (dialers, metric handles, compiled steps), starts their load models side
// by side and returns once every virtual user has stopped.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/report"
)

// Tap observes the traced connections' wire traffic (the dialer's Tap; a
// trace writer implements it), so callers of Run need not know the dialer.
type Tap = dialer.Tap

// RunOptions configure Run.
type RunOptions struct {
	BaseURL  string // resolved target base (cmd resolves Builtin by starting the embedded server); "" = the plan's Target
	Registry *report.Registry
	Segment  Segment             // this process's slice of the load; zero value = everything
	Env      func(string) string // {{env.NAME}}; nil = the process environment
	Tap      Tap                 // nil = off
	Logger   *slog.Logger        // nil = discard
	// Seed seeds every VU's random source (with the VU number), so runs
	// with the same seed draw the same think times and random payloads.
	// 0 picks one from the clock.
	Seed uint64
	// EventLoops is how many event loops read for VUs that wait
	// (dialer.Poller): 0 means defaultLoops, a negative number none (each
	// waiting VU reads its own connection with ReadEach).
	EventLoops int
	// Chain runs each unpaced repeat of one send and one expect on the
	// event loops (chain.go; needs EventLoops ≥ 0): the loop that reads a
	// reply writes the next request. Off by default: see BENCHMARKS.md
	// for when it is faster.
	Chain bool
}

// defaultLoops is the number of event loops for EventLoops 0 with procs
// Ps: one per two Ps (at least one) when the loops read for VUs that wait
// beside their own goroutines, which need the other Ps, and one per P when
// round trips are chained on them (Chain: the loops then do the VUs'
// work). Measured on two CPUs shared with the server (BENCHMARKS.md,
// session 17): one loop read a room at less CPU per delivery and a lower
// p99 than two, and chained echo at 1,000 connections ran faster on two.
func defaultLoops(procs int, chain bool) int {
	if chain {
		return max(1, procs)
	}
	return max(1, procs/2)
}

// runner is the state one Run shares between its scenarios.
type runner struct {
	plan  *Plan
	base  string
	reg   *report.Registry
	log   *slog.Logger
	seed  uint64
	env   func(string) string
	wg    sync.WaitGroup // VU goroutines
	poll  *dialer.Poller // reads for waiting VUs; nil: they read themselves
	chain bool           // RunOptions.Chain, with poll
	// chained counts the round trips the loops started (chain.go), added
	// once per chained repeat; logged at the end of the run.
	chained atomic.Int64
}

// scenarioRun is one scenario prepared for running.
type scenarioRun struct {
	r         *runner
	sc        *Scenario
	steps     []cstep
	listeners []clistener
	// expects: some step waits for a message (an expect), so a link keeps
	// its recent unmatched messages for it (link.keep); without one that
	// copy per delivery would be read by nothing.
	expects bool
	m       *metrics    // the scenario's series of the fixed-name metrics
	sio     *sioMetrics // Socket.IO metrics, when the scenario uses it
}

// cstep is a Step with what running it needs resolved once: metric handles,
// the dialer, compiled sub-steps.
type cstep struct {
	*Step
	dial *cdial
	lat  *report.Latency // expect, ping, group
	raw  *report.Latency // expect inside a repeat with `every`: uncorrected latency
	sub  []cstep
	// chain: a repeat whose round trips may run on the event loops
	// (chain.go).
	chain bool
}

// Run executes p: every scenario's load model starts at once (this
// process's Segment of it), runs for its length (capped by p.Duration),
// then its VUs get p.GracefulStop to finish their iteration before they
// are cancelled and their connections closed. Run returns once every VU
// goroutine has exited; when ctx is cancelled (Ctrl-C) it stops
// every VU at once and returns soon, with nil: what was measured is in the
// registry. Errors are setup problems found before any load starts.
func Run(ctx context.Context, p *Plan, o RunOptions) error {
	if p == nil {
		return errors.New("run: no plan")
	}
	if o.Registry == nil {
		return errors.New("run: no report registry")
	}
	base := o.BaseURL
	if base == "" {
		base = p.Target
	}
	if base == "" || base == Builtin {
		return fmt.Errorf("run %s: target %q needs a resolved base URL (RunOptions.BaseURL)", p.File, p.Target)
	}
	r := &runner{plan: p, base: base, reg: o.Registry, log: o.Logger, seed: o.Seed, env: o.Env}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.seed == 0 {
		r.seed = uint64(time.Now().UnixNano())
	}
	if r.env == nil {
		r.env = os.Getenv
	}
	if o.EventLoops >= 0 {
		n := o.EventLoops
		if n == 0 {
			n = defaultLoops(runtime.GOMAXPROCS(0), o.Chain)
		}
		poll, err := dialer.NewPoller(n)
		if err != nil {
			return fmt.Errorf("run %s: %w", p.File, err)
		}
		defer poll.Close() // after every VU goroutine has exited (below)
		r.poll, r.chain = poll, o.Chain
	}
	runs := make([]*scenarioRun, 0, len(p.Scenarios))
	dialers := map[string]*dialer.Dialer{}
	for _, sc := range p.Scenarios {
		s, err := r.prepare(sc, o.Tap, dialers)
		if err != nil {
			return fmt.Errorf("run %s: scenario %s: %w", p.File, sc.Name, err)
		}
		runs = append(runs, s)
	}

	var execs sync.WaitGroup
	for _, s := range runs {
		execs.Add(1)
		go func() {
			defer execs.Done()
			s.run(ctx, o.Segment)
		}()
	}
	execs.Wait()
	r.wg.Wait()
	if r.poll != nil {
		r.log.Debug("event loops", "loops", r.poll.Loops(), "chained_round_trips", r.chained.Load())
	}
	return nil
}

// prepare compiles one scenario: its series (tags.go) and the handles of
// its metrics in them, its steps and its listeners.
func (r *runner) prepare(sc *Scenario, tap dialer.Tap, dialers map[string]*dialer.Dialer) (*scenarioRun, error) {
	s := &scenarioRun{r: r, sc: sc}
	tags, err := r.reg.Tagged(sc.Tags())
	if err != nil {
		return nil, err
	}
	s.m = newMetrics(tags)
	if s.steps, err = s.compile(sc.Steps, compileEnv{tags: tags, tap: tap, dialers: dialers}); err != nil {
		return nil, err
	}
	if err := s.compileListeners(); err != nil {
		return nil, err
	}
	s.expects = hasExpect(sc.Steps)
	return s, nil
}

// hasExpect reports whether steps, or the steps of their blocks, hold an
// expect.
func hasExpect(steps []Step) (found bool) {
	WalkSteps(steps, func(st *Step) { found = found || st.Expect != nil })
	return found
}

// run drives one scenario's load model to its end.
func (s *scenarioRun) run(ctx context.Context, seg Segment) {
	p := s.r.plan
	l := s.sc.Load
	length := l.Length()
	if p.Duration > 0 && (length <= 0 || p.Duration < length) {
		length = p.Duration
	}
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	if p.Duration > 0 {
		var c context.CancelFunc
		loadCtx, c = context.WithTimeout(loadCtx, p.Duration)
		defer c()
	}
	hardCtx, cancelHard := context.WithCancel(ctx)
	defer cancelHard()
	e := loadEnv{
		load:   l,
		seg:    seg,
		length: length,
		grace:  max(p.GracefulStop, 0),
		factory: func(num int) vuRunner {
			v := newVU(s, num)
			v.loadDone = loadCtx.Done()
			return v
		},
		vus:     s.m.vus,
		dropped: s.m.dropped,
		wg:      &s.r.wg,
	}
	if l.Model == Open {
		runOpen(loadCtx, hardCtx, e)
	} else {
		runClosed(loadCtx, hardCtx, e)
	}
}

// compile resolves steps: metric handles (looked up once, in the series of
// the step's tags, so recording does not touch the registry's maps),
// matchers, dialers.
func (s *scenarioRun) compile(steps []Step, env compileEnv) ([]cstep, error) {
	out := make([]cstep, len(steps))
	for i := range steps {
		st := &steps[i]
		c := &out[i]
		c.Step = st
		if st.Kind < 0 || st.Kind >= numStepKinds() {
			return nil, fmt.Errorf("%s: unknown step kind %v", st.Pos, st.Kind)
		}
		senv := env
		if len(st.Tags) > 0 {
			t, err := s.r.reg.Tagged(mergeTags(env.tags.Tags(), st.Tags))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", st.Pos, err)
			}
			senv.tags = t
		}
		if err := stepKinds[st.Kind].compile(s, c, senv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// prepareDial builds (or reuses) the dialer for opts, with the static
// headers in the dialer and the templated ones rendered per connection.
func (s *scenarioRun) prepareDial(opts ConnectOptions, tap dialer.Tap, dialers map[string]*dialer.Dialer) (*cdial, error) {
	d := &cdial{backoff: opts.Backoff.withDefaults()}
	var err error
	if d.sio, err = s.prepareSocketIO(&opts); err != nil {
		return nil, err
	}
	if d.dialTarget, err = newDialTarget(s.r.base, opts); err != nil {
		return nil, err
	}
	static := d.static
	// One dialer per distinct option set, shared by every VU that uses it.
	key := fmt.Sprintf("%q|%v|%v|%v|%v|%v|%q|%q|%d", opts.Subprotocols, opts.ConnectTimeout, opts.HandshakeTimeout,
		opts.Compression, opts.Insecure, static, opts.CAFile, opts.Source, opts.RecvBuffer)
	if dd, ok := dialers[key]; ok {
		d.d = dd
		return d, nil
	}
	do := dialer.Options{
		Subprotocols:     opts.Subprotocols,
		ConnectTimeout:   opts.ConnectTimeout,
		HandshakeTimeout: opts.HandshakeTimeout,
		Compression:      opts.Compression,
		RecvBuffer:       opts.RecvBuffer,
		Tap:              tap,
	}
	if len(static) > 0 {
		do.Header = static
	}
	if opts.Insecure || opts.CAFile != "" {
		tc, err := dialer.TLSConfig(opts.Insecure, opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("connect tls: %w", err)
		}
		do.TLSConfig = tc
	}
	if opts.Source != "" {
		sp, err := dialer.ParseSources(opts.Source)
		if err != nil {
			return nil, fmt.Errorf("connect source: %w", err)
		}
		do.Sources = sp
	}
	d.d = dialer.NewDialer(do)
	dialers[key] = d.d
	return d, nil
}

// newDialTarget compiles the URL (base joined with opts.Path) and the
// headers of opts, splitting the headers into static ones and templates.
func newDialTarget(base string, opts ConnectOptions) (dialTarget, error) {
	t := dialTarget{base: strings.TrimSuffix(base, "/"), static: map[string][]string{}}
	for name, val := range opts.Headers {
		if !strings.Contains(val, "{{") {
			t.static[name] = []string{val}
			continue
		}
		tm, err := ParseTemplate(val)
		if err != nil {
			return t, fmt.Errorf("connect header %s: %w", name, err)
		}
		t.headers = append(t.headers, cheader{name: name, tmpl: tm})
	}
	switch {
	case strings.Contains(opts.Path, "{{"):
		tm, err := ParseTemplate(opts.Path)
		if err != nil {
			return t, fmt.Errorf("connect path: %w", err)
		}
		t.path = tm
	case opts.Path == "":
		t.url = base
	default:
		t.url = t.base + opts.Path
	}
	return t, nil
}

// compileListeners resolves the listeners' matchers and metric handles.
func (s *scenarioRun) compileListeners() error {
	reg := s.m.tags
	s.listeners = make([]clistener, len(s.sc.Listeners))
	for i := range s.sc.Listeners {
		l := &s.sc.Listeners[i]
		if err := l.Match.Compile(); err != nil {
			return fmt.Errorf("%s: listener %s: %w", l.Pos, l.Name, err)
		}
		c := &s.listeners[i]
		c.Listener = l
		c.count = reg.Counter(report.PrefixListener + l.Name)
		if l.LatencyField != "" {
			c.lat = reg.Latency(l.Name)
			c.unit = int64(l.LatencyUnit)
			if c.unit <= 0 {
				c.unit = 1
			}
		}
		compilePlan(c)
	}
	return nil
}
