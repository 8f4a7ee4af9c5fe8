package report

// series.go writes the per-second series as plain rows for other tools
// (spreadsheets, pandas, gnuplot): one row per second per metric, as CSV or
// JSON lines.

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// SeriesFormat is the file format of WriteSeries.
type SeriesFormat int

const (
	SeriesCSV   SeriesFormat = iota // header row, then t,time,metric,kind,value,count,p50_ns,p90_ns,p99_ns,max_ns,tags
	SeriesJSONL                     // one JSON object per line with the same fields (absent when empty)
)

// SeriesFormatOf picks the format from a file name: .csv, or .jsonl/.ndjson.
func SeriesFormatOf(path string) (SeriesFormat, error) {
	switch {
	case strings.HasSuffix(strings.ToLower(path), ".csv"):
		return SeriesCSV, nil
	case strings.HasSuffix(strings.ToLower(path), ".jsonl"), strings.HasSuffix(strings.ToLower(path), ".ndjson"):
		return SeriesJSONL, nil
	}
	return 0, fmt.Errorf("series file %q: name it .csv or .jsonl", path)
}

// SeriesRow is one metric in one second. Kind is "counter" (Value is the
// change during the second), "gauge" (Value at the end of the second) or
// "latency" (Count samples and their percentiles in nanoseconds).
type SeriesRow struct {
	T      int       `json:"t"`               // seconds after the run's start
	Time   time.Time `json:"time,omitzero"`   // start of the second, UTC
	Metric string    `json:"metric"`          //
	Kind   string    `json:"kind"`            // counter, gauge or latency
	Value  *int64    `json:"value,omitempty"` // counters and gauges
	Count  int64     `json:"count,omitempty"` // latencies
	P50    int64     `json:"p50_ns,omitempty"`
	P90    int64     `json:"p90_ns,omitempty"`
	P99    int64     `json:"p99_ns,omitempty"`
	Max    int64     `json:"max_ns,omitempty"`
	// Tags are the tags of a tagged series ("room=big,scenario=talkers"),
	// whose Metric is its series name ("delivery{…}", as in the results
	// file, so that rows of "delivery" are the totals alone); empty for a
	// total.
	Tags string `json:"tags,omitempty"`
}

// SeriesRows flattens r's series: for each second in order, its counters,
// gauges and latencies, each in name order, every tagged series right after
// its total, with its tags also in Tags.
func SeriesRows(r *Results) []SeriesRow {
	var rows []SeriesRow
	for _, p := range r.Series {
		base := SeriesRow{T: p.T}
		if !r.Meta.Start.IsZero() {
			base.Time = r.Meta.Start.Add(time.Duration(p.T) * time.Second).UTC()
		}
		for _, k := range sortedKeys(p.Counters) {
			row := base
			v := p.Counters[k]
			row.Metric, row.Tags = splitRowName(k)
			row.Kind, row.Value = "counter", &v
			rows = append(rows, row)
		}
		for _, k := range sortedKeys(p.Gauges) {
			row := base
			v := p.Gauges[k]
			row.Metric, row.Tags = splitRowName(k)
			row.Kind, row.Value = "gauge", &v
			rows = append(rows, row)
		}
		names := sortedKeys(p.Latencies)
		sortLatencyNames(names)
		for _, k := range names {
			l := p.Latencies[k]
			row := base
			row.Metric, row.Tags = splitRowName(k)
			row.Kind = "latency"
			row.Count, row.P50, row.P90, row.P99, row.Max = l.Count, int64(l.P50), int64(l.P90), int64(l.P99), int64(l.Max)
			rows = append(rows, row)
		}
	}
	return rows
}

// splitRowName returns a row's metric (the series name) and its tags.
func splitRowName(name string) (metric, tags string) {
	if _, t, ok := SplitSeries(name); ok {
		return name, t.String()
	}
	return name, ""
}

// WriteSeries writes r's per-second series in format f.
func WriteSeries(w io.Writer, r *Results, f SeriesFormat) error {
	bw := bufio.NewWriter(w)
	var err error
	if f == SeriesJSONL {
		enc := json.NewEncoder(bw)
		for _, row := range SeriesRows(r) {
			if err = enc.Encode(row); err != nil {
				break
			}
		}
	} else {
		cw := csv.NewWriter(bw)
		_ = cw.Write([]string{"t", "time", "metric", "kind", "value", "count", "p50_ns", "p90_ns", "p99_ns", "max_ns", "tags"})
		for _, row := range SeriesRows(r) {
			rec := []string{strconv.Itoa(row.T), "", row.Metric, row.Kind, "", "", "", "", "", "", row.Tags}
			if !row.Time.IsZero() {
				rec[1] = row.Time.Format(time.RFC3339)
			}
			if row.Value != nil {
				rec[4] = strconv.FormatInt(*row.Value, 10)
			} else {
				for i, v := range []int64{row.Count, row.P50, row.P90, row.P99, row.Max} {
					rec[5+i] = strconv.FormatInt(v, 10)
				}
			}
			_ = cw.Write(rec)
		}
		cw.Flush()
		err = cw.Error()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write series: %w", err)
	}
	return nil
}
