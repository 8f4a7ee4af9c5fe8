package cmd

// outputs.go renders finished results for `run` and `report` alike: the
// --format on stdout, the results file --out, and one --NAME FILE flag per
// file format of report.Formats (--html, --series). The formats live in
// report/output.go; nothing here names one, so a new format needs no
// change in cmd.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/report"
)

// artifactOptions maps the name of each file format (report.Format.File)
// to the file asked for with --NAME FILE.
type artifactOptions map[string]string

func (a *artifactOptions) register(c *cobra.Command) {
	if *a == nil {
		*a = artifactOptions{}
	}
	for _, f := range report.Formats() {
		if f.File != "" {
			c.Flags().Var(pathFlag{*a, f.Name}, f.Name, f.File)
		}
	}
}

// pathFlag is the --NAME FILE flag of one file format.
type pathFlag struct {
	files artifactOptions
	name  string
}

func (p pathFlag) String() string     { return p.files[p.name] }
func (p pathFlag) Set(v string) error { p.files[p.name] = v; return nil }
func (p pathFlag) Type() string       { return "string" }

// each calls fn for every file asked for, in the order of report.Formats.
func (a artifactOptions) each(fn func(f report.Format, flag, path string) error) error {
	var errs []error
	for _, f := range report.Formats() {
		if path := a[f.Name]; f.File != "" && path != "" {
			errs = append(errs, fn(f, "--"+f.Name, path))
		}
	}
	return errors.Join(errs...)
}

// check validates the file names before any work starts.
func (a artifactOptions) check() error {
	for _, f := range report.Formats() {
		path, flag := a[f.Name], "--"+f.Name
		if f.File == "" || path == "" {
			continue
		}
		if _, err := f.Reporter(path); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
		if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
			return fmt.Errorf("%s %s: directory %s does not exist", flag, path, filepath.Dir(path))
		}
	}
	return nil
}

// write writes every requested file; errors name the flag and the file.
func (a artifactOptions) write(res *report.Results) error {
	return a.each(func(f report.Format, flag, path string) error {
		rep, err := f.Reporter(path)
		if err != nil {
			return err
		}
		return writeFile(flag, path, func(w io.Writer) error { return rep(w, res) })
	})
}

// writeComparison writes the comparison form of every requested file.
func (a artifactOptions) writeComparison(cmp *report.Comparison) error {
	return a.each(func(f report.Format, flag, path string) error {
		return writeFile(flag, path, func(w io.Writer) error { return f.Comparison(w, cmp) })
	})
}

// comparisonMisfit says whether an output flag without a comparison form
// is set (--out, or a file format such as --series), and lists the flags
// that have no comparison form and those that have one.
func (a artifactOptions) comparisonMisfit(out string) (set bool, without, with []string) {
	set, without = out != "", []string{"--out"}
	for _, f := range report.Formats() {
		switch {
		case f.File == "":
		case f.Comparison != nil:
			with = append(with, "--"+f.Name)
		default:
			without = append(without, "--"+f.Name)
			set = set || a[f.Name] != ""
		}
	}
	return set, without, with
}

// stdoutFormat looks up --format among the formats printed on stdout.
func stdoutFormat(name string) (report.Format, error) {
	f, ok := report.LookupFormat(name)
	if !ok || !f.Stdout {
		return f, usageError(fmt.Errorf("--format %q: use %s", name, report.StdoutFormats()))
	}
	return f, nil
}

// finalOutputs renders finished results: the format on stdout, then the
// notes (lines such as the push account: on stdout after a text format,
// on stderr after a data format, which keeps stdout parseable), the
// results file --out and the --NAME files.
type finalOutputs struct {
	format         report.Format
	out            string   // --out
	outFile        *os.File // --out created ahead by open, or nil
	files          artifactOptions
	stdout, stderr io.Writer
}

// open creates the --out file ahead of a run, so that a bad path fails
// before the load starts.
func (f *finalOutputs) open() error {
	if f.out == "" {
		return nil
	}
	var err error
	if f.outFile, err = os.Create(f.out); err != nil {
		return usageError(fmt.Errorf("--out: %w", err))
	}
	return nil
}

// close closes an --out file that write did not get to.
func (f *finalOutputs) close() {
	if f.outFile != nil {
		f.outFile.Close()
	}
}

// write renders res everywhere asked; errors name the flag and the file.
func (f *finalOutputs) write(res *report.Results, notes []byte) error {
	rep, err := f.format.Reporter("")
	if err == nil {
		err = rep(f.stdout, res)
	}
	notesTo := f.stdout
	if f.format.Data {
		notesTo = f.stderr
	}
	if len(notes) > 0 && notesTo != nil {
		_, _ = notesTo.Write(notes)
	}
	if f.out != "" {
		fill := func(w io.Writer) error { return report.WriteJSON(w, res) }
		if f.outFile != nil {
			err = errors.Join(err, fillFile("--out", f.out, f.outFile, fill))
			f.outFile = nil
		} else {
			err = errors.Join(err, writeFile("--out", f.out, fill))
		}
	}
	return errors.Join(err, f.files.write(res))
}

// writeFile creates path and fills it with fill.
func writeFile(flag, path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return fillFile(flag, path, f, fill)
}

// fillFile fills the file f, created at path, and closes it.
func fillFile(flag, path string, f *os.File, fill func(io.Writer) error) error {
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return nil
}

// andList joins flags as prose: "--out and --series".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
