package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/report"
)

// artifactOptions are the files `run` and `report` write besides --out: the
// HTML report and the plain per-second series.
type artifactOptions struct {
	HTML   string
	Series string
}

func (a *artifactOptions) register(c *cobra.Command) {
	c.Flags().StringVar(&a.HTML, "html", "", "write a self-contained HTML report (SVG charts, no network requests) to this file")
	c.Flags().StringVar(&a.Series, "series", "", "write the per-second series, one row per second per metric, to this .csv or .jsonl file")
}

// check validates the file names before any work starts.
func (a *artifactOptions) check() error {
	if a.Series != "" {
		if _, err := report.SeriesFormatOf(a.Series); err != nil {
			return fmt.Errorf("--series: %w", err)
		}
	}
	for flag, path := range map[string]string{"--html": a.HTML, "--series": a.Series} {
		if path == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
			return fmt.Errorf("%s %s: directory %s does not exist", flag, path, filepath.Dir(path))
		}
	}
	return nil
}

// write writes every requested file; errors name the flag and the file.
func (a *artifactOptions) write(res *report.Results) error {
	var errs []error
	if a.HTML != "" {
		errs = append(errs, writeFile("--html", a.HTML, func(w io.Writer) error { return report.WriteHTML(w, res) }))
	}
	if a.Series != "" {
		f, err := report.SeriesFormatOf(a.Series)
		if err == nil {
			err = writeFile("--series", a.Series, func(w io.Writer) error { return report.WriteSeries(w, res, f) })
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// writeFile creates path and fills it with fill.
func writeFile(flag, path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return nil
}
