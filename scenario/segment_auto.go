package scenario

// segment_auto.go lets the same command line run in every pod of a
// Kubernetes Indexed Job: `--segment auto` takes this process's index from
// the variable Kubernetes sets in each pod and the number of pods from one
// the chart sets (or from `auto/N`), and becomes the segment i/N:(i+1)/N.

import (
	"fmt"
	"strconv"
	"strings"
)

const (
	// EnvSegmentIndex is the 0-based pod index Kubernetes sets in every pod
	// of an Indexed Job.
	EnvSegmentIndex = "JOB_COMPLETION_INDEX"
	// EnvSegmentCount is the number of segments the load is cut into: the
	// Job's completions (the chart sets it).
	EnvSegmentCount = "WSBENCH_SEGMENTS"
)

// SegmentAuto is the --segment value that reads index and count from the
// environment.
const SegmentAuto = "auto"

// ResolveSegment returns spec unchanged unless it is "auto" or "auto/N", in
// which case it returns the segment "i/N:(i+1)/N" with i read from
// JOB_COMPLETION_INDEX and N from WSBENCH_SEGMENTS (or from "/N", which
// wins over the variable). getenv nil reads nothing.
func ResolveSegment(spec string, getenv func(string) string) (string, error) {
	s := strings.TrimSpace(spec)
	rest, ok := strings.CutPrefix(s, SegmentAuto)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		return spec, nil
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var count int
	var err error
	if rest != "" {
		if count, err = strconv.Atoi(rest[1:]); err != nil || count < 1 {
			return "", fmt.Errorf("segment %q: want auto or auto/N with N ≥ 1 the number of processes", spec)
		}
	} else {
		v := strings.TrimSpace(getenv(EnvSegmentCount))
		if v == "" {
			return "", fmt.Errorf("segment auto: %s is not set: set it to the number of processes (the Job's completions) or write --segment auto/N", EnvSegmentCount)
		}
		if count, err = strconv.Atoi(v); err != nil || count < 1 {
			return "", fmt.Errorf("segment auto: %s=%q: want a whole number ≥ 1", EnvSegmentCount, v)
		}
	}
	if count > maxSegmentDen {
		return "", fmt.Errorf("segment auto: %d processes: at most %d", count, maxSegmentDen)
	}
	v := strings.TrimSpace(getenv(EnvSegmentIndex))
	if v == "" {
		return "", fmt.Errorf("segment auto: %s is not set: run in a pod of an Indexed Job (completionMode: Indexed) or set it to this process's index 0…%d", EnvSegmentIndex, count-1)
	}
	index, err := strconv.Atoi(v)
	if err != nil || index < 0 || index >= count {
		return "", fmt.Errorf("segment auto: %s=%q: want an index 0…%d (%d processes)", EnvSegmentIndex, v, count-1, count)
	}
	if count == 1 {
		return "0:1", nil
	}
	return segmentEnd(index, count) + ":" + segmentEnd(index+1, count), nil
}

func segmentEnd(i, n int) string {
	switch i {
	case 0:
		return "0"
	case n:
		return "1"
	}
	return strconv.Itoa(i) + "/" + strconv.Itoa(n)
}
