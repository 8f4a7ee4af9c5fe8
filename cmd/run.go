package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/internal/trace"
	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/scenario"
	"github.com/wsbench/wsbench/target"
)

// runOptions holds everything `wsbench run` needs; flags only fill it in.
type runOptions struct {
	File     string
	Target   string
	Duration time.Duration
	VUs      int
	Rate     float64
	Source   string
	Insecure bool
	CAFile   string
	Segment  string
	Out      string
	HLog     string // --hlog (live.go)

	Artifacts artifactOptions // --html, --series

	Format   string
	Quiet    bool
	Check    bool
	LogLevel string

	Trace         string // record a frame trace to this file
	TraceConns    int    // connections traced; 0 = all
	TraceMaxBytes int64  // trace size cap

	RunID string // meta.run_id of the results; "" = a random one

	Workers      int    // spread the load over this many child processes
	WorkerStream bool   // hidden: run as a worker, streaming intervals and results on stdout
	WorkerExe    string // the executable started for each worker; "" = this one
	EventLoops   int    // event loops reading for waiting VUs: 0 = one per two CPUs (one per CPU with --chain), -1 = none
	Chain        bool   // run send/expect repeats on the event loops

	workerStream *report.StreamWriter
	pushOptions  // --push, --push-run-id (live.go)

	distOptions // --start-at, --defer-thresholds (distributed.go)

	CPUProfile string // write a Go CPU profile of the run to this file (hidden flag)

	Stdout, Stderr io.Writer
	StderrTTY      bool                // progress updates one line in place
	Env            func(string) string // nil = os.Getenv
	Interval       time.Duration       // progress/series interval; 0 = 1s
	LogEvery       time.Duration       // --log-every: logfmt progress period when stderr is not a terminal
}

func newRunCmd() *cobra.Command {
	opts := &runOptions{}
	c := &cobra.Command{
		Use:   "run SCENARIO.yaml",
		Short: "Run a load-test scenario and report latency, counts and threshold verdicts",
		Long: `Run drives virtual users through the steps of a YAML scenario file against a
WebSocket server (the embedded reference server when the file says
"target: builtin" or gives no target), prints a progress line every second on
stderr and a summary on stdout.

Exit status: 0 when every threshold passes, 1 when one fails, 2 for usage or
scenario errors, 3 when the run could not be carried out (including: no
connection succeeded, or more than half of the connection attempts failed),
105 when the run was interrupted (SIGINT/SIGTERM), even if thresholds pass.`,
		Args: oneArg("SCENARIO.yaml", "wsbench run examples/echo.yaml"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.Stdout = c.OutOrStdout()
			opts.Stderr = c.ErrOrStderr()
			if f, ok := opts.Stderr.(*os.File); ok {
				opts.StderrTTY = isatty.IsTerminal(f.Fd())
			}
			ctx, stop := interruptContext(c.Context())
			defer stop()
			return runRun(ctx, opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Target, "target", "", "base URL of the server (ws:// or wss://), or \"builtin\"; overrides the file")
	f.DurationVar(&opts.Duration, "duration", 0, "length of constant loads; also caps the whole run")
	f.IntVar(&opts.VUs, "vus", 0, "rescale closed-model scenarios to this peak total of virtual users")
	f.Float64Var(&opts.Rate, "rate", 0, "rescale open-model scenarios to this peak total of arrivals per second")
	f.StringVar(&opts.Source, "source", "", "spread connections over these source addresses, e.g. 127.0.0.1-127.0.0.32 or 127.0.0.0/27")
	f.BoolVar(&opts.Insecure, "insecure", false, "skip TLS certificate verification for wss://")
	f.StringVar(&opts.CAFile, "ca-file", "", "trust this PEM CA for wss:// besides the system roots")
	f.StringVar(&opts.Segment, "segment", "", "run only this execution segment of the load, e.g. 0:1/2 (for several processes or machines); auto = segment $JOB_COMPLETION_INDEX of $WSBENCH_SEGMENTS (a pod of an Indexed Job), auto/N = of N")
	f.StringVarP(&opts.Out, "out", "o", "", "write the results (mergeable histograms, per-second series) as JSON to this file")
	opts.Artifacts.register(c)
	f.StringVar(&opts.Format, "format", "table", "summary format on stdout: "+report.StdoutFormats())
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress line")
	f.BoolVar(&opts.Check, "check", false, "validate the scenario file and exit")
	f.StringVar(&opts.LogLevel, "log-level", "warn", "log level of the embedded server: debug, info, warn, error")
	f.StringVar(&opts.RunID, "run-id", "", "name the run in the results file's meta.run_id (default: random); the processes of one run spread with --segment may share it")
	f.IntVar(&opts.Workers, "workers", 1, "spread the load over this many wsbench processes on this machine (each holds its own ~19,900 sockets)")
	f.BoolVar(&opts.WorkerStream, "worker-stream", false, "run as a worker of --workers: stream intervals and results as JSON lines on stdout")
	_ = f.MarkHidden("worker-stream")
	f.IntVar(&opts.EventLoops, "event-loops", 0, "event loops (epoll) that read for waiting virtual users: 0 = one per two CPUs, or one per CPU with --chain; -1 = none (each VU reads its own connection)")
	f.BoolVar(&opts.Chain, "chain", false, "run each repeat of one send and one expect without `every` on the event loops: the loop that reads a reply sends the next request (see BENCHMARKS.md for when it is faster)")
	f.StringVar(&opts.Trace, "trace", "", "record the frames of some connections to this `FILE` (render it with wsbench inspect FILE)")
	f.IntVar(&opts.TraceConns, "trace-conns", trace.DefaultConns, "connections to trace with --trace; 0 traces all")
	f.Int64Var(&opts.TraceMaxBytes, "trace-max-bytes", trace.DefaultMaxBytes, "size cap of the --trace file; recording stops there")
	addLiveFlags(c, opts)
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the run to this `FILE` (for go tool pprof)")
	_ = f.MarkHidden("cpuprofile")
	addDistributedFlags(f, &opts.distOptions)
	return c
}

func runRun(ctx context.Context, o *runOptions) error {
	format, err := o.setUp()
	if err != nil {
		return err
	}
	plan, segment, thresholds, err := o.loadPlan()
	if err != nil {
		return err
	}
	if o.Check {
		fmt.Fprintf(o.Stdout, "%s: ok (%d scenario(s), %d threshold(s))\n", o.File, len(plan.Scenarios), len(thresholds))
		return nil
	}
	prov, err := newProvenance(o, segment)
	if err != nil {
		return err
	}
	outs, err := o.openOutputs(plan, format)
	if err != nil {
		return err
	}
	defer outs.close()
	stopProfile, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	baseURL, stopServer, err := o.resolveTarget(plan)
	if err != nil {
		return err
	}
	defer stopServer()
	if err := awaitStart(ctx, o, baseURL); err != nil {
		return err
	}

	res, runErr := o.execute(ctx, plan, baseURL, segment, outs)
	sinkErr := outs.sinks.Close()
	if res == nil { // no worker reported anything
		return &ExitError{Code: ExitFailure, Err: errors.Join(runErr, sinkErr)}
	}
	prov.stamp(&res.Meta)
	res.Meta.Interrupted = ctx.Err() != nil
	res.Thresholds = report.Evaluate(res, thresholds)
	stampDistributed(res, o, plan)
	if o.workerStream != nil {
		return handToParent(o.workerStream, res, runErr)
	}
	outErr := errors.Join(outs.final.write(res, outs.notes.Bytes()), sinkErr, outs.closeTrace(o))
	switch {
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return &ExitError{Code: ExitFailure, Err: errors.Join(runErr, outErr)}
	case outErr != nil:
		return &ExitError{Code: ExitFailure, Err: outErr}
	}
	return deferredThresholds(o, verdictError(res))
}

// setUp checks the flags that need no scenario and fills in defaults.
func (o *runOptions) setUp() (report.Format, error) {
	format, err := stdoutFormat(o.Format)
	if err != nil {
		return format, err
	}
	switch {
	case o.Workers < 0:
		return format, usageError(fmt.Errorf("--workers %d: want at least 1", o.Workers))
	case o.Workers > 1 && o.WorkerStream:
		return format, usageError(fmt.Errorf("--workers: a worker cannot start workers of its own"))
	case o.Workers > 1 && o.Trace != "":
		return format, usageError(fmt.Errorf("--trace records the frames of one process: drop --workers, or trace one slice of the load with --segment"))
	}
	if o.WorkerStream {
		o.workerStream = report.NewStreamWriter(o.Stdout)
	}
	if o.Env == nil {
		o.Env = os.Getenv
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if err := resolveDistributed(o); err != nil {
		return format, usageError(err)
	}
	return format, nil
}

// loadPlan reads the scenario file with the command line's overrides, this
// process's segment and the file's thresholds.
func (o *runOptions) loadPlan() (*scenario.Plan, scenario.Segment, []report.Threshold, error) {
	var segment scenario.Segment
	plan, err := scenario.LoadFile(o.File)
	if err != nil {
		return nil, segment, nil, usageError(err)
	}
	if err := plan.Apply(scenario.Overrides{
		Target: o.Target, Duration: o.Duration, VUs: o.VUs, Rate: o.Rate,
		Source: o.Source, Insecure: o.Insecure, CAFile: o.CAFile,
	}); err != nil {
		return nil, segment, nil, usageError(err)
	}
	if line := scenario.FormatScaling(plan.Scaling); line != "" && o.workerStream == nil {
		// What --vus / --rate made of the file's mix, before anything runs.
		fmt.Fprintf(o.Stderr, "wsbench: %s\n", line)
	}
	if warn := plan.SourcePressure(0); warn != "" && o.workerStream == nil && o.Segment == "" {
		fmt.Fprintf(o.Stderr, "wsbench: warning: %s\n", warn)
	}
	if segment, err = scenario.ParseSegment(o.Segment); err != nil {
		return nil, segment, nil, usageError(err)
	}
	thresholds := make([]report.Threshold, 0, len(plan.Thresholds))
	for _, ts := range plan.Thresholds {
		th, err := report.ParseThreshold(ts.Expr)
		if err != nil {
			return nil, segment, nil, usageError(fmt.Errorf("%s: thresholds: %w", ts.Pos, err))
		}
		thresholds = append(thresholds, th)
	}
	return plan, segment, thresholds, nil
}

// runOutputs is everything a run writes besides its load: the final
// renderings, the per-interval sinks, the lines for after the summary and
// the frame trace.
type runOutputs struct {
	final *finalOutputs
	sinks *report.Sinks
	notes bytes.Buffer
	trace *trace.Writer
}

// openOutputs checks and creates the run's output files before the load
// starts, so that a bad path fails fast.
func (o *runOptions) openOutputs(plan *scenario.Plan, format report.Format) (*runOutputs, error) {
	if err := o.Artifacts.check(); err != nil {
		return nil, usageError(err)
	}
	outs := &runOutputs{final: &finalOutputs{format: format, out: o.Out, files: o.Artifacts, stdout: o.Stdout, stderr: o.Stderr}}
	if err := outs.final.open(); err != nil {
		return nil, err
	}
	var err error
	if outs.sinks, err = o.attachSinks(plan, &outs.notes); err != nil {
		outs.final.close()
		return nil, err
	}
	if o.Trace != "" {
		if outs.trace, err = trace.Create(o.Trace, trace.WriterOptions{Conns: o.TraceConns, MaxBytes: o.TraceMaxBytes}); err != nil {
			outs.close()
			return nil, usageError(fmt.Errorf("--trace: %w", err))
		}
	}
	return outs, nil
}

// tap is the frame tap of the run: the trace writer, or none.
func (r *runOutputs) tap() scenario.Tap {
	if r.trace == nil {
		return nil
	}
	return r.trace
}

// close releases what an early return leaves open.
func (r *runOutputs) close() {
	r.final.close()
	_ = r.sinks.Close()
	if r.trace != nil {
		r.trace.Close()
	}
}

// closeTrace finishes the --trace file and says on stderr when it is
// incomplete.
func (r *runOutputs) closeTrace(o *runOptions) error {
	if r.trace == nil {
		return nil
	}
	tw := r.trace
	if err := tw.Close(); err != nil {
		return fmt.Errorf("--trace %s: %w", o.Trace, err)
	}
	if st := tw.Stats(); st.Dropped > 0 || st.Limited {
		fmt.Fprintf(o.Stderr, "wsbench: trace %s is incomplete: %d frame(s) dropped (writer behind), %d past the size cap\n", o.Trace, st.Dropped, st.PastCap)
	}
	return nil
}

// resolveTarget is the plan's target, or the embedded server's address
// after starting it; stop shuts the server down.
func (o *runOptions) resolveTarget(plan *scenario.Plan) (baseURL string, stop func(), err error) {
	if plan.Target != "" && plan.Target != scenario.Builtin {
		return plan.Target, func() {}, nil
	}
	srv, err := startBuiltin(o)
	if err != nil {
		return "", nil, &ExitError{Code: ExitFailure, Err: fmt.Errorf("start embedded server: %w", err)}
	}
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return "ws://" + srv.Addr().String(), stop, nil
}

// execute runs the load here or over --workers processes, feeding the
// sinks, and returns its results (nil when no worker reported any).
func (o *runOptions) execute(ctx context.Context, plan *scenario.Plan, baseURL string, segment scenario.Segment, outs *runOutputs) (*report.Results, error) {
	start := time.Now()
	if o.Workers > 1 {
		return runWorkers(ctx, o, plan, baseURL, segment, outs.sinks, start)
	}
	return runLocal(ctx, o, plan, baseURL, segment, outs.sinks, outs.tap(), start)
}

// handToParent ends a worker's run: everything goes to its parent, which
// judges thresholds.
func handToParent(stream *report.StreamWriter, res *report.Results, runErr error) error {
	if err := stream.WriteResults(res); err != nil {
		return &ExitError{Code: ExitFailure, Err: errors.Join(runErr, err)}
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return &ExitError{Code: ExitFailure, Err: runErr}
	}
	return nil
}

// runLocal runs the plan's load (or this process's segment of it) in this
// process: virtual users, one interval closed every o.Interval for the
// sinks, and the results at the end.
func runLocal(ctx context.Context, o *runOptions, plan *scenario.Plan, baseURL string, segment scenario.Segment, sinks report.Sink, tap scenario.Tap, start time.Time) (*report.Results, error) {
	reg := report.NewRegistry()
	reg.StartAt(start)
	sched := report.NewSchedSampler(reg)
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = scenario.Run(ctx, plan, scenario.RunOptions{
			BaseURL:    baseURL,
			Registry:   reg,
			Segment:    segment,
			Env:        o.Env,
			Logger:     newLogger(o.Stderr, "warn"),
			Tap:        tap,
			EventLoops: o.EventLoops,
			Chain:      o.Chain,
		})
	}()
	end := report.Feed(sinks, o.Interval, done, func(now time.Time) *report.Interval {
		sched.Sample()
		return reg.Tick(now)
	})
	res := reg.Results(report.Meta{
		Scenario: o.File,
		Target:   baseURL,
		Version:  Version,
		Start:    start,
		End:      end,
		Segment:  o.Segment,
	})
	return res, runErr
}

// startBuiltin starts the reference server in-process on a free loopback port.
// Its sockets count against the same open-file limit as the virtual users'.
func startBuiltin(o *runOptions) (*target.Server, error) {
	cfg := target.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	return target.Start(cfg, newLogger(o.Stderr, o.LogLevel))
}

// newLogger builds a text slog logger on w at the named level.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
