package cmd

// report_check.go keeps `wsbench report` from merging what does not add
// up: files that are no results of `wsbench run` (`{}`, a file from an
// older wsbench), the same part of a load twice (a file merged with
// itself, two runs of the same segment, a merged file with one of its
// parts) and results of different scenarios. `--force` turns these errors
// into warnings.

import (
	"fmt"
	"strings"

	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/scenario"
)

// checkResults says why r (read from path) is not a results file of
// `wsbench run`.
func checkResults(path string, r *report.Results) error {
	m := r.Meta
	var missing []string
	if m.RunID == "" {
		missing = append(missing, "meta.run_id")
	}
	if m.ScenarioHash == "" {
		missing = append(missing, "meta.scenario_hash")
	}
	if m.Segment == "" {
		missing = append(missing, "meta.segment")
	}
	if m.Start.IsZero() || m.End.IsZero() {
		missing = append(missing, "meta.start/end")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: not a results file of wsbench run --out: no %s (empty, or written by an older wsbench)", path, strings.Join(missing, ", "))
	}
	if m.End.Before(m.Start) {
		return fmt.Errorf("%s: meta.end %s is before meta.start %s", path, m.End, m.Start)
	}
	if _, err := segmentsOf(m.Segment); err != nil {
		return fmt.Errorf("%s: meta.segment: %w", path, err)
	}
	return nil
}

// segmentsOf parses a meta.segment: one segment, or a merged file's list.
func segmentsOf(s string) ([]scenario.Segment, error) {
	var out []scenario.Segment
	for part := range strings.SplitSeq(s, ",") {
		seg, err := scenario.ParseSegment(part)
		if err != nil {
			return nil, err
		}
		out = append(out, seg)
	}
	return out, nil
}

// checkMerge says why the files cannot be merged: one of them is no
// results file, two cover the same part of the load, or they come from
// different scenarios. Each problem is one error.
func checkMerge(paths []string, rs []*report.Results) []error {
	var errs []error
	type owned struct {
		seg  scenario.Segment
		file int
	}
	var segs []owned
	hashFile := map[string]int{}
	var hashes []string
	for i, r := range rs {
		if err := checkResults(paths[i], r); err != nil {
			errs = append(errs, err)
			continue
		}
		mine, _ := segmentsOf(r.Meta.Segment)
	next:
		for _, s := range mine {
			for _, o := range segs {
				if o.file != i && s.Overlaps(o.seg) {
					errs = append(errs, fmt.Errorf("%s: segment %s overlaps segment %s of %s: merging would count that load twice", paths[i], segLabel(s), segLabel(o.seg), paths[o.file]))
					break next
				}
			}
		}
		for _, s := range mine {
			segs = append(segs, owned{s, i})
		}
		for h := range strings.SplitSeq(r.Meta.ScenarioHash, ",") {
			if _, ok := hashFile[h]; !ok {
				hashFile[h] = i
				hashes = append(hashes, h)
			}
		}
	}
	if len(hashes) > 1 {
		var parts []string
		for _, h := range hashes {
			parts = append(parts, fmt.Sprintf("%s (scenario_hash %.12s…)", paths[hashFile[h]], h))
		}
		errs = append(errs, fmt.Errorf("the files come from different scenarios: %s; merging would judge each file's thresholds on the others' samples", strings.Join(parts, " vs ")))
	}
	return errs
}

func segLabel(s scenario.Segment) string {
	if l := s.String(); l != "" {
		return l
	}
	return "0:1"
}
