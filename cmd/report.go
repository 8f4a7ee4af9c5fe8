package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/report"
)

// reportOptions holds everything `wsbench report` needs; flags only fill it in.
type reportOptions struct {
	Files  []string
	Out    string // write the (merged) results JSON here
	Format string // table or json on stdout
	Force  bool   // merge (or render) what checkMerge refuses, with a warning

	Artifacts        artifactOptions // --html, --series
	Compare          bool            // compare two files instead of merging
	FailOnRegression string          // tolerance; a regression beyond it exits ExitRegression

	Stdout, Stderr io.Writer

	waitOptions // --wait N (report_wait.go)
}

func newReportCmd() *cobra.Command {
	opts := &reportOptions{}
	c := &cobra.Command{
		Use:   "report RESULTS.json [MORE.json...]",
		Short: "Re-render a results file, or merge the results of several processes",
		Long: `Report reads results files written by "wsbench run --out" and prints their
summary again. Given several files (for example one per execution segment,
process or machine), it merges them exactly: histograms add, so the merged
percentiles are those of all samples together; counters and gauges add; the
per-second series are aligned on wall-clock time; thresholds found in any
file are evaluated again on the merged results.

With --compare BASE.json NEW.json it sets two runs side by side instead:
every latency percentile, counter rate and gauge with its change, and the
regressions beyond a tolerance (--fail-on-regression, default 10%) flagged.

Report refuses (exit 2) files that are no results of "wsbench run --out"
(such as {}), files whose segments overlap (a file given twice, two runs
of the same segment, a merged file with one of its parts: that load would
count twice) and files of different scenarios (meta.scenario_hash);
--force merges them anyway, with a warning.

Exit status: the verdict of the (merged) results, as "wsbench run" gives
it: 0 when every threshold passes (or there are none), 1 when one fails, 3
when the run was not carried out (no connection succeeded, or most
attempts failed), 105 when it was interrupted; 2 for unreadable, invalid
or unmergeable files and bad flags; 3 also when the output cannot be
written; 4 when --compare --fail-on-regression finds a regression
(thresholds are not judged when comparing).`,
		Example: `  wsbench report results.json
  wsbench report seg1.json seg2.json seg3.json --out merged.json
  wsbench report results.json --format json
  wsbench report results.json --html report.html --series series.csv
  wsbench report --compare base.json new.json --fail-on-regression 10%`,
		Args: someArgs("RESULTS.json", "wsbench report results.json"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			opts.Stdout = c.OutOrStdout()
			opts.Stderr = c.ErrOrStderr()
			opts.waitOptions.Log = opts.Stderr
			ctx, stop := interruptContext(c.Context())
			defer stop()
			return runReport(ctx, opts)
		},
	}
	f := c.Flags()
	f.StringVarP(&opts.Out, "out", "o", "", "write the (merged) results as JSON to this file")
	f.StringVar(&opts.Format, "format", "table", "output on stdout: "+report.StdoutFormats())
	opts.Artifacts.register(c)
	f.BoolVar(&opts.Compare, "compare", false, "compare two results files, BASE.json NEW.json, instead of merging them")
	f.StringVar(&opts.FailOnRegression, "fail-on-regression", "", "with --compare: exit 4 when a value regressed by more than this, e.g. 10%")
	f.BoolVar(&opts.Force, "force", false, "merge files with overlapping segments, of different scenarios, or that are not results of wsbench run, with a warning")
	addWaitFlags(f, &opts.waitOptions)
	return c
}

// runReport waits for the files with --wait, then renders, merges or
// compares them.
func runReport(ctx context.Context, o *reportOptions) error {
	if err := waitForResults(ctx, o); err != nil {
		return err
	}
	format, err := stdoutFormat(o.Format)
	if err != nil {
		return err
	}
	if len(o.Files) == 0 {
		return usageError(errors.New("no results file given"))
	}
	if o.Compare {
		return runCompare(o, format)
	}
	if o.FailOnRegression != "" {
		return usageError(errors.New("--fail-on-regression needs --compare BASE.json NEW.json"))
	}
	if err := o.Artifacts.check(); err != nil {
		return usageError(err)
	}
	res, err := mergeFiles(o)
	if err != nil {
		return err
	}
	final := &finalOutputs{format: format, out: o.Out, files: o.Artifacts, stdout: o.Stdout, stderr: o.Stderr}
	if err := final.write(res, nil); err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	return verdictError(res)
}

// mergeFiles reads o.Files and merges them, refusing (or with --force,
// warning about) what checkMerge finds.
func mergeFiles(o *reportOptions) (*report.Results, error) {
	all := make([]*report.Results, 0, len(o.Files))
	for _, path := range o.Files {
		r, err := readResults(path)
		if err != nil {
			return nil, usageError(err)
		}
		all = append(all, r)
	}
	if errs := checkMerge(o.Files, all); len(errs) > 0 {
		if !o.Force {
			return nil, usageError(fmt.Errorf("%w (--force to merge anyway)", errors.Join(errs...)))
		}
		if o.Stderr != nil {
			for _, err := range errs {
				fmt.Fprintf(o.Stderr, "wsbench: warning (--force): %v\n", err)
			}
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	merged, err := report.Merge(all...)
	if err != nil {
		return nil, usageError(err)
	}
	return merged, nil
}

func readResults(path string) (*report.Results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
