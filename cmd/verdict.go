package cmd

// verdict.go decides the exit status of a run from its results (shared by
// `run` and `report`, so re-rendering a results file gives the verdict the
// run gave) and stamps results files with what `report` needs to refuse bad
// merges: a run id, the segment, the scenario's hash.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/scenario"
)

// verdictError is the error carrying the exit status that res calls for:
// 3 when the run was not carried out (no connection succeeded, or most
// attempts failed), 105 when it was interrupted, 1 when a threshold
// failed, nil otherwise.
func verdictError(res *report.Results) error {
	o := res.Outcome()
	th := thresholdError(res.Thresholds)
	switch {
	case o.NotCarriedOut != "":
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("the run was not carried out: %s", o.NotCarriedOut)}
	case o.Interrupted && th != nil:
		return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf("interrupted: the results cover the run until the signal (%w)", th)}
	case o.Interrupted:
		return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted: the results cover the run until the signal; thresholds passed so far")}
	}
	return th
}

// provenance is what a results file says about where it came from.
type provenance struct {
	runID, segment, hash string
}

// runIDMax bounds --run-id.
const runIDMax = 64

// newProvenance takes --run-id (or draws one), the canonical segment and
// the scenario file's hash.
func newProvenance(o *runOptions, seg scenario.Segment) (provenance, error) {
	p := provenance{runID: o.RunID, segment: seg.String()}
	if p.segment == "" {
		p.segment = "0:1"
	}
	if p.runID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		p.runID = hex.EncodeToString(b[:])
	} else if err := checkRunID(p.runID); err != nil {
		return p, usageError(err)
	}
	h, err := scenario.HashFile(o.File)
	if err != nil {
		return p, usageError(err)
	}
	p.hash = h
	o.RunID = p.runID // workers share it
	return p, nil
}

func checkRunID(id string) error {
	if len(id) > runIDMax {
		return fmt.Errorf("--run-id: %d bytes; at most %d", len(id), runIDMax)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return fmt.Errorf("--run-id %q: use letters, digits and - _ . : only", id)
		}
	}
	return nil
}

// stamp writes p into m.
func (p provenance) stamp(m *report.Meta) {
	m.RunID, m.Segment, m.ScenarioHash = p.runID, p.segment, p.hash
}
