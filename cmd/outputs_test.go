package cmd

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/report"
)

// TestOutputFlagsFollowFormats: run and report offer --NAME FILE for every
// file format of report.Formats and list its stdout formats in --format's
// help, so a new format needs no change in cmd.
func TestOutputFlagsFollowFormats(t *testing.T) {
	for _, c := range []struct {
		name string
		cmd  func() *cobra.Command
	}{{"run", newRunCmd}, {"report", newReportCmd}} {
		fs := c.cmd().Flags()
		for _, f := range report.Formats() {
			fl := fs.Lookup(f.Name)
			switch {
			case f.File != "" && (fl == nil || fl.Usage != f.File || fl.Value.Type() != "string"):
				t.Errorf("%s: --%s FILE missing or not as report.Formats says: %+v", c.name, f.Name, fl)
			case f.File == "" && fl != nil:
				t.Errorf("%s: --%s exists, but %s has no file form", c.name, f.Name, f.Name)
			}
		}
		if u := fs.Lookup("format").Usage; !strings.HasSuffix(u, ": table or json") {
			t.Errorf("%s --format help %q", c.name, u)
		}
	}
}

// TestCompareMisfits: --compare refuses the outputs without a comparison
// form, naming them, and the stdout formats without one.
func TestCompareMisfits(t *testing.T) {
	for _, c := range []struct {
		o    reportOptions
		want string
	}{
		{reportOptions{Artifacts: artifactOptions{"series": "s.csv"}, Format: "table"}, "--compare writes a comparison: --out and --series do not apply (use --html for a page)"},
		{reportOptions{Out: "m.json", Format: "table"}, "--compare writes a comparison: --out and --series do not apply (use --html for a page)"},
		{reportOptions{Format: "json"}, `--compare prints a table; --format "json" does not apply`},
		{reportOptions{Format: "yaml"}, `--format "yaml": use table or json`},
	} {
		o := c.o
		o.Files, o.Compare = []string{"base.json", "new.json"}, true
		err := runReport(context.Background(), &o)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || err.Error() != c.want {
			t.Errorf("err = %v, want usage error %q", err, c.want)
		}
	}
}

// TestPushAccountAfterTable: the push account, written when the pusher
// closes at the end of the load, is printed after the summary table on
// stdout (and on stderr with --format json, where stdout is the results).
func TestPushAccountAfterTable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{
		File: "../examples/echo.yaml", Duration: time.Second, VUs: 2,
		Format: "table", Quiet: true, LogLevel: "error", Interval: 250 * time.Millisecond,
		Stdout: &stdout, Stderr: &stderr,
		pushOptions: pushOptions{Push: []string{"prometheus-rw=" + srv.URL + "/api/v1/write"}, PushRunID: "order"},
	})
	var ee *ExitError
	if err != nil && !(errors.As(err, &ee) && ee.Code == ExitThreshold) {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := strings.TrimRight(stdout.String(), "\n")
	last := out[strings.LastIndex(out, "\n")+1:]
	if !strings.HasPrefix(last, "push:      prometheus-rw "+srv.URL) || !strings.Contains(last, "run_id=order: ") {
		t.Errorf("last stdout line %q, want the push account\nstdout:\n%s", last, out)
	}
	if i, j := strings.Index(out, "Latency"), strings.Index(out, "push:"); i < 0 || j < i {
		t.Errorf("the push account comes before the summary:\n%s", out)
	}
	if strings.Contains(stderr.String(), "push:") {
		t.Errorf("push account on stderr too:\n%s", stderr.String())
	}
}
