package cmd

// workers.go spreads one run over several wsbench processes on this machine
// (`wsbench run --workers N`). Each process may hold only ~19,900 sockets
// here, and one Go process's scheduler saturates before the machine does,
// so the parent splits its segment of the load into N execution segments,
// starts one child `wsbench run --worker-stream --segment …` per segment
// against the same target (the parent's embedded server when the target is
// builtin), folds the children's per-second intervals into one progress
// line and interval log, and merges their final results exactly.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/scenario"
)

// workerWaitDelay is how long a worker gets to report after an interrupt
// before it is killed.
const workerWaitDelay = 30 * time.Second

// workerPool is the children of one run and what they report.
type workerPool struct {
	o       *runOptions
	exe     string
	baseURL string
	parts   []string
	comb    *report.Combiner
	results []workerResult
	cancel  context.CancelFunc // stops every worker
	wg      sync.WaitGroup
}

type workerResult struct {
	res *report.Results
	err error // how the worker failed, nil if it reported
}

func runWorkers(ctx context.Context, o *runOptions, plan *scenario.Plan, baseURL string, segment scenario.Segment, sinks report.Sink, start time.Time) (*report.Results, error) {
	parts, err := segment.Split(o.Workers)
	if err != nil {
		return nil, usageError(fmt.Errorf("--workers: %w", err))
	}
	exe := o.WorkerExe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("--workers: find this executable: %w", err)
		}
	}
	// Interrupting the parent interrupts the workers, which then report
	// what they measured; a failing worker stops the others the same way.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &workerPool{
		o: o, exe: exe, baseURL: baseURL, parts: parts, cancel: cancel,
		comb: report.NewCombiner(len(parts), start), results: make([]workerResult, len(parts)),
	}
	for i := range parts {
		if err := p.start(wctx, i); err != nil {
			cancel()
			p.wg.Wait()
			return nil, err
		}
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	report.Feed(sinks, o.Interval, done, p.comb.Tick)
	return p.merge(start)
}

// start starts worker i, whose stream a goroutine then reads until the
// worker exits.
func (p *workerPool) start(ctx context.Context, i int) error {
	part := p.parts[i]
	cmd := exec.CommandContext(ctx, p.exe, workerArgs(p.o, p.baseURL, part)...)
	cmd.Env = workerEnv(os.Environ(), runtime.GOMAXPROCS(0), len(p.parts))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = workerWaitDelay
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("worker %d: %w", i+1, err)
	}
	tail := newPrefixWriter(p.o.Stderr, fmt.Sprintf("wsbench: worker %d/%d (segment %s): ", i+1, len(p.parts), part), 4096)
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker %d (%s): %w", i+1, p.exe, err)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		res, readErr := readWorker(stdout, i, p.comb)
		waitErr := cmd.Wait()
		tail.Flush()
		switch {
		case res == nil && readErr == nil:
			readErr = errors.New("exited without reporting results")
		case res != nil && waitErr != nil:
			readErr = waitErr // reported, but then failed (exit 3)
		}
		if readErr != nil {
			if waitErr != nil && !errors.Is(readErr, waitErr) {
				readErr = fmt.Errorf("%w (%v)", readErr, waitErr)
			}
			p.results[i].err = fmt.Errorf("worker %d/%d (segment %s): %w", i+1, len(p.parts), part, readErr)
			p.cancel()
		}
		p.results[i].res = res
	}()
	return nil
}

// merge adds up what the workers reported, once all have exited.
func (p *workerPool) merge(start time.Time) (*report.Results, error) {
	var all []*report.Results
	var errs []error
	for _, r := range p.results {
		if r.res != nil {
			all = append(all, r.res)
		}
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if len(all) == 0 {
		return nil, errors.Join(append(errs, errors.New("no worker reported results"))...)
	}
	res, err := report.Merge(all...)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	res.Thresholds = nil // re-evaluated by the caller on the whole run
	res.Meta.Scenario = p.o.File
	res.Meta.Segment = p.o.Segment
	res.Meta.Start = start
	if len(errs) > 0 && len(all) < len(p.parts) {
		errs = append(errs, fmt.Errorf("results cover %d of %d workers", len(all), len(p.parts)))
	}
	return res, errors.Join(errs...)
}

// workerArgs builds a worker's command line: the parent's overrides, its
// segment, and the resolved target so that every worker loads one server.
func workerArgs(o *runOptions, baseURL, part string) []string {
	args := []string{"run", o.File, "--worker-stream", "--quiet",
		"--segment", part, "--target", baseURL, "--log-level", o.LogLevel}
	if o.RunID != "" {
		args = append(args, "--run-id", o.RunID)
	}
	if o.Duration > 0 {
		args = append(args, "--duration", o.Duration.String())
	}
	if o.VUs > 0 {
		args = append(args, "--vus", strconv.Itoa(o.VUs))
	}
	if o.Rate > 0 {
		args = append(args, "--rate", strconv.FormatFloat(o.Rate, 'g', -1, 64))
	}
	if o.Source != "" {
		args = append(args, "--source", o.Source)
	}
	if o.Insecure {
		args = append(args, "--insecure")
	}
	if o.CAFile != "" {
		args = append(args, "--ca-file", o.CAFile)
	}
	if o.EventLoops != 0 {
		args = append(args, "--event-loops", strconv.Itoa(o.EventLoops))
	}
	if o.Chain {
		args = append(args, "--chain")
	}
	return args
}

// readWorker decodes a worker's stream: intervals go to comb, the results
// record is returned.
func readWorker(r io.Reader, src int, comb *report.Combiner) (*report.Results, error) {
	sr := report.NewStreamReader(r)
	var res *report.Results
	for {
		iv, rr, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			_, _ = io.Copy(io.Discard, r) // let the worker finish writing
			return res, err
		}
		if iv != nil {
			comb.Add(src, iv)
		} else {
			res = rr
		}
	}
}

// prefixWriter forwards a worker's stderr line by line to w, each line
// with a prefix naming the worker; lines longer than max are cut.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	line   []byte
	max    int
}

func newPrefixWriter(w io.Writer, prefix string, max int) *prefixWriter {
	return &prefixWriter{w: w, prefix: prefix, max: max}
}

func (t *prefixWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range p {
		if b == '\n' || len(t.line) >= t.max {
			t.flushLocked()
			continue
		}
		t.line = append(t.line, b)
	}
	return len(p), nil
}

// Flush writes out a last line that had no newline.
func (t *prefixWriter) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked()
}

func (t *prefixWriter) flushLocked() {
	if len(t.line) == 0 {
		return
	}
	bw := bufio.NewWriter(t.w)
	_, _ = bw.WriteString(t.prefix)
	_, _ = bw.Write(t.line)
	_ = bw.WriteByte('\n')
	_ = bw.Flush()
	t.line = t.line[:0]
}

// workerEnv is a worker's environment: the parent's, plus GOMAXPROCS set to
// the parent's share per worker (procs / workers, at least 1) unless the
// parent's environment sets it. N workers then run on as many threads as
// the machine has CPUs, not N times that: on 2 CPUs two workers with one
// each spent 5-7 % less CPU per fan-out delivery than with two each
// (BENCHMARKS.md, session 7).
func workerEnv(env []string, procs, workers int) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(max(1, procs/max(1, workers))))
}
