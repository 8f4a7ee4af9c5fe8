// Package cmd is the command-line layer of wsbench: one file per cobra
// command, each turning flags into an options struct and handing it to the
// library packages (scenario, report, target, dialer). No business logic
// lives here; exit codes are decided here.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/report"
)

// Version is set at build time with -ldflags "-X github.com/wsbench/wsbench/cmd.Version=...".
var Version = "0.1.0-dev"

// Exit statuses shared by all commands.
const (
	ExitOK        = 0
	ExitThreshold = 1 // the run finished but a threshold failed
	ExitUsage     = 2 // bad flags, bad scenario file, bad configuration
	ExitFailure   = 3 // the run could not be carried out (the embedded server failed to start, no connection succeeded, most attempts failed)
	// ExitInterrupted: the run was stopped by SIGINT/SIGTERM; its results
	// cover the run until then and no verdict is given (k6 uses 105 too).
	ExitInterrupted = 105
)

// ExitRegression is the status of `report --compare --fail-on-regression`
// when a value regressed beyond the tolerance.
const ExitRegression = 4

// ExitError carries an exit status through cobra's error return.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks err as a usage/configuration problem (exit status 2).
func usageError(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// NewRootCmd builds the command tree. Tests call it to run commands in-process.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "wsbench",
		Short:         "Load-test and inspect WebSocket servers",
		Long:          "wsbench drives virtual users through YAML chat scenarios against WebSocket servers,\nmeasures latency honestly with HdrHistograms, and ships a reference chat server.",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(newRunCmd(), newServeCmd(), newReportCmd(), newInspectCmd(), newScenarioCmd())
	return root
}

// thresholdError is the exit-status-1 error naming the failed thresholds,
// or nil when all passed.
func thresholdError(verdicts []report.Verdict) error {
	var failed []string
	for _, v := range verdicts {
		if !v.Pass {
			failed = append(failed, v.Expr)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &ExitError{Code: ExitThreshold, Err: fmt.Errorf("%d threshold(s) failed: %s", len(failed), strings.Join(failed, "; "))}
}

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM, so a command can stop cleanly and still report; signal handling
// is then restored, so a second Ctrl-C kills the process the usual way.
func interruptContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// Execute runs the root command and exits with the right status.
func Execute() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := NewRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(os.Stderr, "wsbench:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(os.Stderr, "wsbench:", err)
	// Cobra's own errors (unknown command, bad args) are usage errors.
	return ExitUsage
}

// startCPUProfile starts a Go CPU profile into path (the hidden --cpuprofile
// flag of run and serve) and returns the function that stops it and closes
// the file. An empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, usageError(fmt.Errorf("--cpuprofile: %w", err))
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, &ExitError{Code: ExitFailure, Err: fmt.Errorf("--cpuprofile %s: %w", path, err)}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
