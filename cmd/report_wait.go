package cmd

// report_wait.go lets the merge step of a distributed run start before the
// runners finish (a Kubernetes Job cannot wait for another): with
// `--wait N`, `wsbench report` treats its arguments as glob patterns (or
// directories), re-evaluates them until N complete results files are
// there, and then merges them. A runner's --out file exists from the start
// of its run but holds JSON only at the end, so a file counts once it reads
// as results.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// waitOptions are the flags of `wsbench report --wait`.
type waitOptions struct {
	Wait        int           // wait for this many results files; 0 = take the arguments as they are
	WaitTimeout time.Duration // give up after this long
	WaitPoll    time.Duration // between looks; 0 = 1s

	Log io.Writer // where waiting is reported (stderr)
}

func addWaitFlags(f *pflag.FlagSet, w *waitOptions) {
	f.IntVar(&w.Wait, "wait", 0, "wait until N complete results files match the arguments (glob patterns or directories, re-read while waiting), then merge them")
	f.DurationVar(&w.WaitTimeout, "wait-timeout", time.Hour, "with --wait: give up (exit 3) when the files are not all there after this long")
}

// waitForResults replaces o.Files by the N complete results files that its
// patterns match, waiting for them; nothing to do without --wait.
func waitForResults(ctx context.Context, o *reportOptions) error {
	w := &o.waitOptions
	if w.Wait == 0 {
		return nil
	}
	if err := checkWait(o); err != nil {
		return err
	}
	poll := w.WaitPoll
	if poll <= 0 {
		poll = time.Second
	}
	log := w.Log
	if log == nil {
		log = io.Discard
	}
	deadline := time.Now().Add(w.WaitTimeout)
	complete := map[string]bool{}
	announced := -1
	for {
		ready, matched := completeResults(o.Files, o.Out, complete)
		switch {
		case len(ready) == w.Wait:
			fmt.Fprintf(log, "wsbench: %d of %d results files are complete; merging\n", len(ready), w.Wait)
			o.Files = ready
			return nil
		case len(ready) > w.Wait:
			return usageError(fmt.Errorf("--wait %d: %d complete results files match %s: %s", w.Wait, len(ready), strings.Join(o.Files, " "), strings.Join(ready, ", ")))
		}
		if len(ready) != announced {
			fmt.Fprintf(log, "wsbench: waiting for results files: %d of %d complete\n", len(ready), w.Wait)
			announced = len(ready)
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, p := range matched {
				if !complete[p] {
					missing = append(missing, p)
				}
			}
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("--wait %d: after %s only %d complete results file(s) match %s (%s); still incomplete: %s",
				w.Wait, w.WaitTimeout, len(ready), strings.Join(o.Files, " "), orNone(ready), orNone(missing))}
		}
		select {
		case <-ctx.Done():
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("--wait %d: interrupted with %d complete", w.Wait, len(ready))}
		case <-time.After(min(poll, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// completeResults is the files that patterns match (matched) and those of
// them that read as results (ready); complete remembers the latter across
// calls, so a file is read until it is complete and not after.
func completeResults(patterns []string, out string, complete map[string]bool) (ready, matched []string) {
	matched = matchResults(patterns, out)
	for _, path := range matched {
		if !complete[path] {
			if _, err := readResults(path); err == nil {
				complete[path] = true
			}
		}
		if complete[path] {
			ready = append(ready, path)
		}
	}
	return ready, matched
}

// checkWait says what is wrong with --wait and its patterns.
func checkWait(o *reportOptions) error {
	if o.Compare {
		return usageError(fmt.Errorf("--wait merges the results of a distributed run; --compare takes two given files"))
	}
	if o.Wait < 0 {
		return usageError(fmt.Errorf("--wait %d: want the number of results files to merge", o.Wait))
	}
	for _, p := range o.Files {
		if _, err := filepath.Match(p, ""); err != nil {
			return usageError(fmt.Errorf("--wait: pattern %q: %w", p, err))
		}
	}
	return nil
}

// matchResults expands the patterns (a directory stands for its *.json),
// leaving out the merge's own output file.
func matchResults(patterns []string, out string) []string {
	var files []string
	outAbs, _ := filepath.Abs(out)
	for _, p := range patterns {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, "*.json")
		}
		m, _ := filepath.Glob(p)
		for _, f := range m {
			if abs, _ := filepath.Abs(f); out != "" && abs == outAbs {
				continue
			}
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	slices.Sort(files)
	return files
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
