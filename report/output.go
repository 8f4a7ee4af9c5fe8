package report

// output.go is the one list of what wsbench makes of a finished run: the
// formats that render Results (vegeta's reporters), chosen by name with
// --format (on stdout) or written with --NAME FILE. Adding a format is its
// renderer in a file of its own plus its entry in Formats; the commands
// derive their flags, checks and help from this list.

import (
	"io"
	"strings"
)

// Reporter renders the results of a finished run to w.
type Reporter func(w io.Writer, r *Results) error

// ComparisonReporter renders the comparison of two runs to w
// (`wsbench report --compare`).
type ComparisonReporter func(w io.Writer, c *Comparison) error

// Format is one named rendering of finished results.
type Format struct {
	Name string
	// Stdout: the format can be printed on stdout with --format Name.
	Stdout bool
	// Data: the format is for programs, so stdout carries nothing else
	// when it is printed there (notes go to stderr).
	Data bool
	// File, when set, is the help of the --Name FILE flag that writes the
	// format to a file.
	File string
	// Reporter returns the reporter writing a file named path ("" for
	// stdout), or why that name does not suit the format.
	Reporter func(path string) (Reporter, error)
	// Comparison renders a comparison; nil when the format has none.
	Comparison ComparisonReporter
}

// Formats lists every format, in the order files are written.
func Formats() []Format {
	return []Format{
		{Name: "table", Stdout: true, Reporter: anyPath(WriteSummary), Comparison: WriteComparison},
		{Name: "json", Stdout: true, Data: true, Reporter: anyPath(WriteJSON)},
		{
			Name: "html", File: "write a self-contained HTML report (SVG charts, no network requests) to this file",
			Reporter: anyPath(WriteHTML), Comparison: WriteComparisonHTML,
		},
		{
			Name: "series", File: "write the per-second series, one row per second per metric, to this .csv or .jsonl file",
			Reporter: seriesReporter,
		},
	}
}

// LookupFormat finds a format by name.
func LookupFormat(name string) (Format, bool) {
	for _, f := range Formats() {
		if f.Name == name {
			return f, true
		}
	}
	return Format{}, false
}

// StdoutFormats names the formats --format accepts, as prose ("table or
// json").
func StdoutFormats() string {
	var names []string
	for _, f := range Formats() {
		if f.Stdout {
			names = append(names, f.Name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// anyPath is the Format.Reporter of a format whose form does not depend on
// the file's name.
func anyPath(r Reporter) func(string) (Reporter, error) {
	return func(string) (Reporter, error) { return r, nil }
}

// seriesReporter writes CSV or JSON lines, as the file's name says.
func seriesReporter(path string) (Reporter, error) {
	f, err := SeriesFormatOf(path)
	if err != nil {
		return nil, err
	}
	return func(w io.Writer, r *Results) error { return WriteSeries(w, r, f) }, nil
}
