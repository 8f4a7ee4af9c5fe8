package report

// sched.go measures the load generator itself: how long this process's
// goroutines waited for a CPU once runnable, from the Go runtime's own
// histogram (runtime/metrics). A message latency of the same size as this
// delay is partly the tool's, not the server's, so the summary shows it
// beside the measured latencies and thresholds can check it.

import (
	"math"
	"runtime/metrics"
	"time"
)

const schedMetric = "/sched/latencies:seconds"

// SchedSampler copies the Go scheduler's latency histogram into a Latency
// metric; each Sample adds what the runtime recorded since the previous one.
// The runtime samples a fraction of goroutine wake-ups, so the count is not
// the number of wake-ups; the distribution is representative.
type SchedSampler struct {
	lat    *Latency
	sample []metrics.Sample
	prev   []uint64
}

// NewSchedSampler returns a sampler recording into reg's SchedLatency and
// takes the runtime's current counts as its baseline.
func NewSchedSampler(reg *Registry) *SchedSampler {
	s := &SchedSampler{lat: reg.Latency(SchedLatency), sample: []metrics.Sample{{Name: schedMetric}}}
	metrics.Read(s.sample)
	if h := s.hist(); h != nil {
		s.prev = append([]uint64(nil), h.Counts...)
	}
	return s
}

func (s *SchedSampler) hist() *metrics.Float64Histogram {
	if s.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil // not provided by this runtime
	}
	return s.sample[0].Value.Float64Histogram()
}

// Sample records the scheduling delays seen since the last call. Each
// runtime bucket's new count is recorded at the bucket's upper bound (its
// lower bound for the open last bucket), so percentiles err on the high side
// by at most one runtime bucket.
func (s *SchedSampler) Sample() {
	metrics.Read(s.sample)
	h := s.hist()
	if h == nil {
		return
	}
	if len(s.prev) != len(h.Counts) {
		s.prev = make([]uint64, len(h.Counts))
	}
	for i, c := range h.Counts {
		d := c - s.prev[i]
		s.prev[i] = c
		if d == 0 {
			continue
		}
		v := h.Buckets[i+1]
		if math.IsInf(v, 1) {
			v = h.Buckets[i]
		}
		if v < 0 || math.IsInf(v, 0) {
			v = 0
		}
		s.lat.RecordN(time.Duration(v*1e9), int64(d))
	}
}
