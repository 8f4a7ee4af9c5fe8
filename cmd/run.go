package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/dialer"
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
	HLog     string

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

	workerStream *report.StreamWriter
	pushOptions  // --push, --push-run-id (live.go)

	distOptions // --start-at, --defer-thresholds (distributed.go)

	CPUProfile string // write a Go CPU profile of the run to this file (hidden flag)

	Stdout, Stderr io.Writer
	StderrTTY      bool                // progress updates one line in place
	Env            func(string) string // nil = os.Getenv
	Interval       time.Duration       // progress/series interval; 0 = 1s
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
	f.StringVar(&opts.HLog, "hlog", "", "write an HdrHistogram interval log to this file")
	opts.Artifacts.register(c)
	f.StringVar(&opts.Format, "format", "table", "summary format on stdout: table or json")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress line")
	f.BoolVar(&opts.Check, "check", false, "validate the scenario file and exit")
	f.StringVar(&opts.LogLevel, "log-level", "warn", "log level of the embedded server: debug, info, warn, error")
	f.StringVar(&opts.RunID, "run-id", "", "name the run in the results file's meta.run_id (default: random); the processes of one run spread with --segment may share it")
	f.IntVar(&opts.Workers, "workers", 1, "spread the load over this many wsbench processes on this machine (each holds its own ~19,900 sockets)")
	f.BoolVar(&opts.WorkerStream, "worker-stream", false, "run as a worker of --workers: stream intervals and results as JSON lines on stdout")
	_ = f.MarkHidden("worker-stream")
	f.StringVar(&opts.Trace, "trace", "", "record the frames of some connections to this `FILE` (render it with wsbench inspect FILE)")
	f.IntVar(&opts.TraceConns, "trace-conns", trace.DefaultConns, "connections to trace with --trace; 0 traces all")
	f.Int64Var(&opts.TraceMaxBytes, "trace-max-bytes", trace.DefaultMaxBytes, "size cap of the --trace file; recording stops there")
	addPushFlags(c, &opts.pushOptions)
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the run to this `FILE` (for go tool pprof)")
	_ = f.MarkHidden("cpuprofile")
	addDistributedFlags(f, &opts.distOptions)
	return c
}

func runRun(ctx context.Context, o *runOptions) error {
	if o.Format != "table" && o.Format != "json" {
		return usageError(fmt.Errorf("--format %q: use table or json", o.Format))
	}
	switch {
	case o.Workers < 0:
		return usageError(fmt.Errorf("--workers %d: want at least 1", o.Workers))
	case o.Workers > 1 && o.WorkerStream:
		return usageError(fmt.Errorf("--workers: a worker cannot start workers of its own"))
	case o.Workers > 1 && o.Trace != "":
		return usageError(fmt.Errorf("--trace records the frames of one process: drop --workers, or trace one slice of the load with --segment"))
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
		return usageError(err)
	}
	plan, err := scenario.LoadFile(o.File)
	if err != nil {
		return usageError(err)
	}
	if err := plan.Apply(scenario.Overrides{
		Target: o.Target, Duration: o.Duration, VUs: o.VUs, Rate: o.Rate,
		Source: o.Source, Insecure: o.Insecure, CAFile: o.CAFile,
	}); err != nil {
		return usageError(err)
	}
	if line := scenario.FormatScaling(plan.Scaling); line != "" && o.workerStream == nil {
		// What --vus / --rate made of the file's mix, before anything runs.
		fmt.Fprintf(o.Stderr, "wsbench: %s\n", line)
	}
	segment, err := scenario.ParseSegment(o.Segment)
	if err != nil {
		return usageError(err)
	}
	thresholds := make([]report.Threshold, 0, len(plan.Thresholds))
	for _, ts := range plan.Thresholds {
		th, err := report.ParseThreshold(ts.Expr)
		if err != nil {
			return usageError(fmt.Errorf("%s: thresholds: %w", ts.Pos, err))
		}
		thresholds = append(thresholds, th)
	}
	if o.Check {
		fmt.Fprintf(o.Stdout, "%s: ok (%d scenario(s), %d threshold(s))\n", o.File, len(plan.Scenarios), len(thresholds))
		return nil
	}
	prov, err := newProvenance(o, segment)
	if err != nil {
		return err
	}

	// Open output files before the load starts, so a bad path fails fast.
	if err := o.Artifacts.check(); err != nil {
		return usageError(err)
	}
	var outFile, hlogFile *os.File
	if o.Out != "" {
		if outFile, err = os.Create(o.Out); err != nil {
			return usageError(fmt.Errorf("--out: %w", err))
		}
		defer outFile.Close()
	}
	var hlog *report.HLogWriter
	if o.HLog != "" {
		if hlogFile, err = os.Create(o.HLog); err != nil {
			return usageError(fmt.Errorf("--hlog: %w", err))
		}
		defer hlogFile.Close()
		hlog = report.NewHLogWriter(hlogFile)
	}
	var tw *trace.Writer
	if o.Trace != "" {
		if tw, err = trace.Create(o.Trace, trace.WriterOptions{Conns: o.TraceConns, MaxBytes: o.TraceMaxBytes}); err != nil {
			return usageError(fmt.Errorf("--trace: %w", err))
		}
		defer tw.Close()
	}
	if err := o.startPush(); err != nil {
		return usageError(err)
	}
	defer o.finishPush(io.Discard) // an early return still stops the sender
	stopProfile, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	var tap dialer.Tap
	if tw != nil {
		tap = tw
	}

	baseURL := plan.Target
	if baseURL == "" || baseURL == scenario.Builtin {
		srv, err := startBuiltin(o)
		if err != nil {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("start embedded server: %w", err)}
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		baseURL = "ws://" + srv.Addr().String()
	}

	if err := awaitStart(ctx, o, baseURL); err != nil {
		return err
	}
	start := time.Now()
	var res *report.Results
	var runErr, hlogErr error
	switch {
	case o.Workers > 1:
		res, runErr, hlogErr = runWorkers(ctx, o, plan, baseURL, segment, hlog, start)
	default:
		res, runErr, hlogErr = runLocal(ctx, o, plan, baseURL, segment, hlog, tap, start)
	}
	if res == nil { // no worker reported anything
		return &ExitError{Code: ExitFailure, Err: errors.Join(runErr, hlogErr)}
	}
	prov.stamp(&res.Meta)
	res.Meta.Interrupted = ctx.Err() != nil
	res.Thresholds = report.Evaluate(res, thresholds)
	stampDistributed(res, o, plan)

	var outErr error
	if o.workerStream != nil {
		// A worker hands everything to its parent, which judges thresholds.
		if err := o.workerStream.WriteResults(res); err != nil {
			return &ExitError{Code: ExitFailure, Err: errors.Join(runErr, err)}
		}
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			return &ExitError{Code: ExitFailure, Err: runErr}
		}
		return nil
	}
	if o.Format == "json" {
		outErr = report.WriteJSON(o.Stdout, res)
		o.finishPush(o.Stderr)
	} else {
		outErr = report.WriteSummary(o.Stdout, res)
		o.finishPush(o.Stdout)
	}
	if outFile != nil {
		if err := report.WriteJSON(outFile, res); err != nil {
			outErr = errors.Join(outErr, fmt.Errorf("--out %s: %w", o.Out, err))
		} else if err := outFile.Close(); err != nil {
			outErr = errors.Join(outErr, fmt.Errorf("--out %s: %w", o.Out, err))
		}
	}
	outErr = errors.Join(outErr, o.Artifacts.write(res))
	if hlogErr != nil {
		outErr = errors.Join(outErr, fmt.Errorf("--hlog %s: %w", o.HLog, hlogErr))
	}
	if tw != nil {
		if err := tw.Close(); err != nil {
			outErr = errors.Join(outErr, fmt.Errorf("--trace %s: %w", o.Trace, err))
		} else if st := tw.Stats(); st.Dropped > 0 || st.Limited {
			fmt.Fprintf(o.Stderr, "wsbench: trace %s is incomplete: %d frame(s) dropped (writer behind), %d past the size cap\n", o.Trace, st.Dropped, st.PastCap)
		}
	}

	switch {
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return &ExitError{Code: ExitFailure, Err: errors.Join(runErr, outErr)}
	case outErr != nil:
		return &ExitError{Code: ExitFailure, Err: outErr}
	}
	return deferredThresholds(o, verdictError(res))
}

// runLocal runs the plan's load (or this process's segment of it) in this
// process: virtual users, a ticker closing one interval per o.Interval for
// the progress line, the interval log or the parent's stream, and the
// results at the end.
func runLocal(ctx context.Context, o *runOptions, plan *scenario.Plan, baseURL string, segment scenario.Segment, hlog *report.HLogWriter, tap dialer.Tap, start time.Time) (*report.Results, error, error) {
	reg := report.NewRegistry()
	progress := &report.Progress{W: o.Stderr, TTY: o.StderrTTY, Quiet: o.Quiet || o.workerStream != nil, Main: mainLatencies(plan), Total: plannedLength(plan)}
	reg.StartAt(start)
	sched := report.NewSchedSampler(reg)

	tickDone := make(chan struct{})
	tickStop := make(chan struct{})
	var hlogErr error
	tick := func(now time.Time) {
		sched.Sample()
		iv := reg.Tick(now)
		if o.workerStream != nil {
			if err := o.workerStream.WriteInterval(iv); err != nil && hlogErr == nil {
				hlogErr = err
			}
			return
		}
		o.pusher.Push(iv)
		if iv.End.Sub(iv.Start) >= o.Interval/2 {
			// A sliver of an interval at the end would show inflated rates.
			progress.Update(iv)
		}
		if hlog != nil && hlogErr == nil {
			hlogErr = hlog.Write(iv)
		}
	}
	go func() {
		defer close(tickDone)
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				tick(now)
			case <-tickStop:
				return
			}
		}
	}()

	runErr := scenario.Run(ctx, plan, scenario.RunOptions{
		BaseURL:  baseURL,
		Registry: reg,
		Segment:  segment,
		Env:      o.Env,
		Logger:   newLogger(o.Stderr, "warn"),
		Tap:      tap,
	})
	close(tickStop)
	<-tickDone
	end := time.Now()
	tick(end) // the last partial interval
	progress.Done()

	res := reg.Results(report.Meta{
		Scenario: o.File,
		Target:   baseURL,
		Version:  Version,
		Start:    start,
		End:      end,
		Segment:  o.Segment,
	})
	return res, runErr, hlogErr
}

// startBuiltin starts the reference server in-process on a free loopback port.
// Its sockets count against the same open-file limit as the virtual users'.
func startBuiltin(o *runOptions) (*target.Server, error) {
	cfg := target.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	return target.Start(cfg, newLogger(o.Stderr, o.LogLevel))
}

// mainLatencies picks the metrics whose p99 the progress line shows:
// delivery listeners first, then expects.
func mainLatencies(p *scenario.Plan) []string {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, sc := range p.Scenarios {
		for _, l := range sc.Listeners {
			if l.LatencyField != "" {
				add(l.Name)
			}
		}
	}
	for _, sc := range p.Scenarios {
		scenario.WalkSteps(sc.Steps, func(st *scenario.Step) {
			if st.Kind == scenario.StepExpect {
				add(st.Expect.Name) // the parser names unnamed expects "expect"
			}
		})
	}
	return names
}

// newLogger builds a text slog logger on w at the named level.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
