package report

// outcome.go holds what a run's verdict needs besides thresholds: whether
// it was carried out at all (connections that never opened), whether it
// was interrupted, and one example message per failure reason, so a
// summary can say why connections failed and not only how often.

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter/tw"
)

// exampleMax bounds the length of a kept example message, in bytes.
const exampleMax = 200

// examples keeps the first message recorded under each name.
type examples struct {
	mu sync.Mutex
	m  map[string]string
}

// Example keeps text as the example of what the counter name counts (for
// conn.failed.<reason>, the first error of that reason), unless one is
// kept already. Control characters become spaces and long texts are cut.
// It is safe for concurrent use; meant for rare events (a failed dial),
// not for hot paths.
func (r *Registry) Example(name, text string) {
	e := &r.examples
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.m[name]; ok {
		return
	}
	if e.m == nil {
		e.m = make(map[string]string)
	}
	e.m[name] = cleanExample(text)
}

func (e *examples) snapshot() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	out := make(map[string]string, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// cleanExample makes text fit one table cell.
func cleanExample(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(text, "\uFFFD"))
	if len(text) <= exampleMax {
		return text
	}
	cut := exampleMax
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

// mergeExamples keeps, per name, the first example in the order of rs.
func mergeExamples(rs []*Results) map[string]string {
	var out map[string]string
	for _, r := range rs {
		for k, v := range r.Examples {
			if _, ok := out[k]; ok || v == "" {
				continue
			}
			if out == nil {
				out = make(map[string]string)
			}
			out[k] = v
		}
	}
	return out
}

// Outcome is whether a run was carried out, apart from its thresholds.
type Outcome struct {
	Attempts    int64 // connection attempts: opened + failed
	Failed      int64 // attempts that never opened
	Interrupted bool  // the run was stopped early (SIGINT/SIGTERM)
	// NotCarriedOut says why the run does not count ("" when it does): no
	// connection ever opened, or more than half of the attempts failed.
	NotCarriedOut string
}

// Outcome judges r: a run none of whose connection attempts succeeded, or
// most of whose attempts failed, was not carried out, whatever its
// thresholds say. A run with no attempt at all is not judged here.
func (r *Results) Outcome() Outcome {
	o := Outcome{Failed: r.CounterPrefix(PrefixConnFailed), Interrupted: r.Meta.Interrupted}
	o.Attempts = r.Counters[CounterConnOpened] + o.Failed
	switch {
	case o.Attempts == 0:
	case o.Failed == o.Attempts:
		o.NotCarriedOut = fmt.Sprintf("no connection succeeded: all %d attempt(s) failed (%s)", o.Attempts, r.failureList())
	case 2*o.Failed > o.Attempts:
		o.NotCarriedOut = fmt.Sprintf("%d of %d connection attempts failed (%s)", o.Failed, o.Attempts, r.failureList())
	}
	return o
}

// failureReasons returns the reasons with a nonzero conn.failed.<reason>,
// most frequent first.
func (r *Results) failureReasons() []string {
	var reasons []string
	for k, v := range r.Counters {
		if v > 0 && strings.HasPrefix(k, PrefixConnFailed) && len(k) > len(PrefixConnFailed) && !IsSeries(k) {
			reasons = append(reasons, k[len(PrefixConnFailed):])
		}
	}
	slices.SortFunc(reasons, func(a, b string) int {
		ca, cb := r.Counters[PrefixConnFailed+a], r.Counters[PrefixConnFailed+b]
		if ca != cb {
			if ca > cb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return reasons
}

// failureList is "refused 12, timeout 3: dial tcp …" — each reason with its
// count; the example of the most frequent one.
func (r *Results) failureList() string {
	reasons := r.failureReasons()
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = k + " " + strconv.FormatInt(r.Counters[PrefixConnFailed+k], 10)
	}
	s := strings.Join(parts, ", ")
	if len(reasons) > 0 {
		if ex := r.Examples[PrefixConnFailed+reasons[0]]; ex != "" {
			s += "; e.g. " + ex
		}
	}
	return s
}

// writeStatus adds the lines of the summary header that say the run was
// interrupted or not carried out.
func writeStatus(w io.Writer, r *Results) {
	o := r.Outcome()
	if o.Interrupted {
		fmt.Fprintln(w, "status:    INTERRUPTED (SIGINT/SIGTERM): the results cover the run until then")
	}
	if o.NotCarriedOut != "" {
		fmt.Fprintf(w, "status:    NOT CARRIED OUT: %s\n", strings.SplitN(o.NotCarriedOut, " (", 2)[0])
	}
}

// failureTable renders the connection failures by reason with their count
// and one example each; nothing when every attempt opened.
func failureTable(w io.Writer, r *Results) error {
	reasons := r.failureReasons()
	if len(reasons) == 0 {
		return nil
	}
	o := r.Outcome()
	fmt.Fprintf(w, "\nConnection failures (%d of %d attempts)\n", o.Failed, o.Attempts)
	L, R := tw.AlignLeft, tw.AlignRight
	t := newTable(w, []string{"reason", "count", "example"}, []tw.Align{L, R, L})
	for _, k := range reasons {
		ex := r.Examples[PrefixConnFailed+k]
		if ex == "" {
			ex = "-"
		}
		if err := t.Append([]string{k, strconv.FormatInt(r.Counters[PrefixConnFailed+k], 10), ex}); err != nil {
			return fmt.Errorf("render failure table: %w", err)
		}
	}
	return render(t, "failure")
}
