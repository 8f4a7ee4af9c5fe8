package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wsbench/wsbench/report"
)

// defaultTolerance flags regressions when --fail-on-regression is not given.
const defaultTolerance = "10%"

// runCompare is `wsbench report --compare BASE.json NEW.json`: the side by
// side table (and --html page), and exit status ExitRegression when
// --fail-on-regression is given and a value regressed beyond it.
func runCompare(o *reportOptions, format report.Format) error {
	misfit, without, with := o.Artifacts.comparisonMisfit(o.Out)
	switch {
	case len(o.Files) != 2:
		return usageError(fmt.Errorf("--compare takes two results files, BASE.json NEW.json; got %d", len(o.Files)))
	case misfit:
		return usageError(fmt.Errorf("--compare writes a comparison: %s do not apply (use %s for a page)", andList(without), strings.Join(with, " or ")))
	case format.Comparison == nil:
		return usageError(fmt.Errorf("--compare prints a table; --format %q does not apply", o.Format))
	}
	tolText := o.FailOnRegression
	if tolText == "" {
		tolText = defaultTolerance
	}
	tol, err := report.ParseTolerance(tolText)
	if err != nil {
		return usageError(fmt.Errorf("--fail-on-regression: %w", err))
	}
	if err := o.Artifacts.check(); err != nil {
		return usageError(err)
	}
	var rs [2]*report.Results
	for i, path := range o.Files {
		if rs[i], err = readResults(path); err != nil {
			return usageError(err)
		}
	}
	cmp := report.Compare(rs[0], rs[1], tol)
	outErr := errors.Join(format.Comparison(o.Stdout, cmp), o.Artifacts.writeComparison(cmp))
	if outErr != nil {
		return &ExitError{Code: ExitFailure, Err: outErr}
	}
	if n := len(cmp.Regressions()); n > 0 && o.FailOnRegression != "" {
		return &ExitError{Code: ExitRegression, Err: fmt.Errorf("%d regression(s) beyond %s against %s", n, tolText, o.Files[0])}
	}
	return nil
}
