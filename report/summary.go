package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteSummary renders r as text tables: a header naming the run, latency
// statistics, counters grouped by subject with per-second rates, gauges,
// and threshold verdicts.
func WriteSummary(w io.Writer, all *Results) error {
	ew := &errWriter{w: w}
	r := all.Totals()
	writeHeader(ew, r)
	if len(r.Latencies) > 0 {
		fmt.Fprintln(ew, "\nLatency")
		if err := latencyTable(ew, r); err != nil {
			return err
		}
		for _, l := range r.Latencies {
			if l.Clamped > 0 {
				fmt.Fprintf(ew, "note: %d sample(s) of %q fell outside 0..%s and were clamped (counted in %s)\n", l.Clamped, l.Name, time.Duration(HistHighest), ErrClampedSample)
			}
			if l.Name == SchedLatency && l.Count > 0 {
				fmt.Fprintf(ew, "note: %s is how long wsbench's own goroutines waited for a CPU (Go runtime, sampled);\n      latencies near its p99 (%s) are partly the load generator's, not the server's\n", SchedLatency, FormatDuration(l.P99))
			}
		}
		writeClockNotes(ew, r)
	}
	if len(r.Counters) > 0 || len(r.Gauges) > 0 {
		fmt.Fprintln(ew, "\nCounters")
		if err := counterTable(ew, r); err != nil {
			return err
		}
	}
	if err := failureTable(ew, r); err != nil {
		return err
	}
	if err := seriesTables(ew, all); err != nil {
		return err
	}
	if len(r.Thresholds) > 0 {
		fmt.Fprintln(ew, "\nThresholds")
		if err := thresholdTable(ew, r.Thresholds); err != nil {
			return err
		}
		failed := 0
		for _, v := range r.Thresholds {
			if !v.Pass {
				failed++
			}
		}
		if failed == 0 {
			fmt.Fprintf(ew, "all %d thresholds passed\n", len(r.Thresholds))
		} else {
			fmt.Fprintf(ew, "%d of %d thresholds failed\n", failed, len(r.Thresholds))
		}
	}
	if ew.err != nil {
		return fmt.Errorf("write summary: %w", ew.err)
	}
	return nil
}

// errWriter remembers the first write error so rendering code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func writeHeader(w io.Writer, r *Results) {
	m := r.Meta
	if m.Scenario != "" {
		fmt.Fprintf(w, "scenario:  %s\n", m.Scenario)
	}
	if m.Target != "" {
		fmt.Fprintf(w, "target:    %s\n", m.Target)
	}
	d := r.Duration()
	if !m.Start.IsZero() {
		fmt.Fprintf(w, "duration:  %s (%s → %s)\n", d.Round(time.Millisecond), m.Start.UTC().Format("2006-01-02 15:04:05"), m.End.UTC().Format("15:04:05 UTC"))
	} else {
		fmt.Fprintf(w, "duration:  %s\n", d.Round(time.Millisecond))
	}
	if m.Segment != "" && m.Segment != "0:1" {
		fmt.Fprintf(w, "segment:   %s\n", m.Segment)
	}
	if r.Sources > 1 {
		fmt.Fprintf(w, "merged:    %d results\n", r.Sources)
	}
	writeStartHeader(w, r)
	if m.Version != "" {
		fmt.Fprintf(w, "wsbench:   %s\n", m.Version)
	}
	writeStatus(w, r)
}

func newTable(w io.Writer, header []string, aligns []tw.Align) *tablewriter.Table {
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: aligns}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: aligns}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	return t
}

func render(t *tablewriter.Table, what string) error {
	if err := t.Render(); err != nil {
		return fmt.Errorf("render %s table: %w", what, err)
	}
	return nil
}

func latencyTable(w io.Writer, r *Results) error {
	R, L := tw.AlignRight, tw.AlignLeft
	t := newTable(w,
		[]string{"metric", "count", "min", "p50", "p90", "p99", "p99.9", "max", "mean"},
		[]tw.Align{L, R, R, R, R, R, R, R, R})
	for _, l := range r.Latencies {
		row := []string{l.Name, strconv.FormatInt(l.Count, 10)}
		if l.Count == 0 {
			row = append(row, "-", "-", "-", "-", "-", "-", "-")
		} else {
			for _, d := range []time.Duration{l.Min, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean} {
				row = append(row, FormatDuration(d))
			}
		}
		if err := t.Append(row); err != nil {
			return fmt.Errorf("render latency table: %w", err)
		}
	}
	return render(t, "latency")
}

// counterGroups orders the counters in the summary. Each item is a counter
// name, an alias total ("errors", "connect_failed", shown when its family
// is present) or a family prefix ending in '.', whose members follow in
// name order. Counters in no group go to "other".
var counterGroups = []struct {
	name  string
	items []string
}{
	{"connections", []string{CounterConnOpened, AliasConnectFailed, PrefixConnFailed, PrefixConnClosed, CounterConnInterrupted, CounterReconnects}},
	{"messages", []string{CounterMsgsSent, CounterMsgsRecv, CounterBytesSent, CounterBytesRecv, CounterExpectStale}},
	{"listeners", []string{PrefixListener}},
	{"deliveries", []string{CounterDeliveryLost, CounterDeliveryDuplicate, CounterDeliveryReordered}},
	{"errors", []string{AliasErrors, PrefixErrors}},
	{"iterations", []string{CounterIterations, CounterIterationsFailed, CounterIterInterrupted, CounterArrivalsDropped}},
}

type counterRow struct {
	name  string
	value int64
}

// groupCounters sorts r's counters into the summary's groups.
func groupCounters(r *Results) (groups []string, rows map[string][]counterRow) {
	rows = make(map[string][]counterRow)
	placed := make(map[string]bool)
	keys := sortedKeys(r.Counters)
	family := func(prefix string) []string {
		var ks []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && !placed[k] {
				ks = append(ks, k)
			}
		}
		return ks
	}
	for _, g := range counterGroups {
		var list []counterRow
		for _, item := range g.items {
			switch {
			case item == AliasErrors || item == AliasConnectFailed:
				if prefix := knownPrefixes[item]; len(family(prefix)) > 0 {
					list = append(list, counterRow{item + " (all)", r.CounterPrefix(prefix)})
				}
			case strings.HasSuffix(item, "."):
				for _, k := range family(item) {
					placed[k] = true
					// Error kinds that never happened would only bury the
					// ones that did; their "(all)" total is still shown.
					if r.Counters[k] == 0 && (item == PrefixErrors || item == PrefixConnFailed) {
						continue
					}
					list = append(list, counterRow{k, r.Counters[k]})
				}
			default:
				if v, ok := r.Counters[item]; ok && !placed[item] {
					placed[item] = true
					if v == 0 && item == CounterExpectStale {
						continue // only news when it happened
					}
					list = append(list, counterRow{item, v})
				}
			}
		}
		if len(list) > 0 {
			groups = append(groups, g.name)
			rows[g.name] = list
		}
	}
	var other []counterRow
	for _, k := range keys {
		if !placed[k] {
			other = append(other, counterRow{k, r.Counters[k]})
		}
	}
	if len(other) > 0 {
		groups = append(groups, "other")
		rows["other"] = other
	}
	return groups, rows
}

func counterTable(w io.Writer, r *Results) error {
	R, L := tw.AlignRight, tw.AlignLeft
	t := newTable(w, []string{"group", "counter", "total", "per second"}, []tw.Align{L, L, R, R})
	secs := r.Duration().Seconds()
	groups, rows := groupCounters(r)
	for _, g := range groups {
		for i, c := range rows[g] {
			group := ""
			if i == 0 {
				group = g
			}
			total := strconv.FormatInt(c.value, 10)
			rate := "-"
			isBytes := c.name == CounterBytesSent || c.name == CounterBytesRecv
			if isBytes {
				total = formatBytes(float64(c.value))
			}
			if secs > 0 {
				if isBytes {
					rate = formatBytes(float64(c.value)/secs) + "/s"
				} else {
					rate = formatRate(float64(c.value) / secs)
				}
			}
			if err := t.Append([]string{group, c.name, total, rate}); err != nil {
				return fmt.Errorf("render counter table: %w", err)
			}
		}
	}
	for i, name := range sortedKeys(r.Gauges) {
		group := ""
		if i == 0 {
			group = "gauges"
		}
		g := r.Gauges[name]
		row := []string{group, name, fmt.Sprintf("max %d", g.Max), fmt.Sprintf("last %d", g.Last)}
		if err := t.Append(row); err != nil {
			return fmt.Errorf("render counter table: %w", err)
		}
	}
	return render(t, "counter")
}

// seriesColumns are the counters (and the gauge vus) of the per-series
// counter table, with their headings.
var seriesColumns = []struct{ name, head string }{
	{CounterConnOpened, "conns"}, {CounterMsgsSent, "msgs out"}, {CounterMsgsRecv, "msgs in"},
	{CounterIterations, "iterations"}, {AliasErrors, "errors"}, {CounterDeliveryLost, "lost"}, {GaugeVUs, "vus max"},
}

// seriesTables renders the tagged series (tags.go) when there are several
// tag sets (one would only repeat the totals): their latencies, then the
// main counters of each tag set that has counters.
func seriesTables(w io.Writer, r *Results) error {
	sets := r.TagSets()
	if len(sets) < 2 {
		return nil
	}
	fmt.Fprintln(w, "\nPer series (tags: scenario, and step tags)")
	lat := &Results{}
	for _, l := range r.Latencies {
		if IsSeries(l.Name) {
			lat.Latencies = append(lat.Latencies, l)
		}
	}
	if len(lat.Latencies) > 0 {
		if err := latencyTable(w, lat); err != nil {
			return err
		}
	}
	R := tw.AlignRight
	head := []string{"series"}
	aligns := []tw.Align{tw.AlignLeft}
	for _, c := range seriesColumns {
		head = append(head, c.head)
		aligns = append(aligns, R)
	}
	t := newTable(w, head, aligns)
	rows := 0
	for _, tags := range sets {
		cells, ok := seriesCounterCells(r.selectCounters(tags))
		if !ok {
			continue // step tags: latencies only
		}
		row := append([]string{"{" + tags.String() + "}"}, cells...)
		if err := t.Append(row); err != nil {
			return fmt.Errorf("render series table: %w", err)
		}
		rows++
	}
	if rows == 0 {
		return nil
	}
	return render(t, "series")
}

// seriesCounterCells returns the seriesColumns of one tag set's selection;
// false when it has no counters (the tags of steps, which label latencies
// only).
func seriesCounterCells(sel *Results) ([]string, bool) {
	if len(sel.Counters) == 0 && len(sel.Gauges) == 0 {
		return nil, false
	}
	cells := make([]string, 0, len(seriesColumns))
	for _, c := range seriesColumns {
		switch c.name {
		case GaugeVUs:
			cells = append(cells, strconv.FormatInt(sel.Gauges[GaugeVUs].Max, 10))
		case AliasErrors:
			cells = append(cells, strconv.FormatInt(sel.CounterPrefix(PrefixErrors), 10))
		default:
			cells = append(cells, strconv.FormatInt(sel.Counters[c.name], 10))
		}
	}
	return cells, true
}

func thresholdTable(w io.Writer, vs []Verdict) error {
	L := tw.AlignLeft
	withReason := slices.ContainsFunc(vs, func(v Verdict) bool { return v.Reason != "" })
	header := []string{"threshold", "actual", "result"}
	aligns := []tw.Align{L, tw.AlignRight, L}
	if withReason {
		header = append(header, "reason")
		aligns = append(aligns, L)
	}
	t := newTable(w, header, aligns)
	for _, v := range vs {
		result := "✓ pass"
		if !v.Pass {
			result = "✗ FAIL"
		}
		row := []string{v.Expr, v.Actual, result}
		if withReason {
			row = append(row, v.Reason)
		}
		if err := t.Append(row); err != nil {
			return fmt.Errorf("render threshold table: %w", err)
		}
	}
	return render(t, "threshold")
}
