// Package promhist is the fixed-bucket delay histogram the reference
// server shows on /metrics: one bucket search and two atomic adds per
// sample, no memory per connection, written in Prometheus' text format in
// seconds. The node's share of the delivery delay (target) and the
// broker's (target/cluster) use the same buckets, so the two line up.
package promhist

import (
	"strconv"
	"sync/atomic"
)

// Bounds are the buckets' upper bounds in nanoseconds: fine below 20 ms,
// where the reference server's fan-out goals lie.
var Bounds = [...]int64{
	50e3, 100e3, 200e3, 500e3,
	1e6, 2e6, 3e6, 5e6, 7.5e6, 10e6, 15e6, 20e6, 30e6, 50e6, 75e6,
	100e6, 200e6, 500e6, 1e9, 2e9, 5e9,
}

// Histogram counts durations into Bounds. The zero value is ready; it is
// safe for concurrent use.
type Histogram struct {
	counts [len(Bounds) + 1]atomic.Int64 // last: above every bound (+Inf)
	sum    atomic.Int64                  // ns
}

// Observe counts one duration of ns nanoseconds (a negative one as 0).
func (h *Histogram) Observe(ns int64) {
	ns = max(ns, 0)
	i := 0
	for i < len(Bounds) && ns > Bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(ns)
}

// Count is the number of durations observed.
func (h *Histogram) Count() int64 {
	var n int64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// AppendPrometheus appends h as a Prometheus histogram named name, in
// seconds, with its HELP and TYPE lines.
func (h *Histogram) AppendPrometheus(dst []byte, name, help string) []byte {
	dst = append(dst, "# HELP "+name+" "+help+"\n# TYPE "+name+" histogram\n"...)
	var cum int64
	for i := range h.counts {
		cum += h.counts[i].Load()
		dst = append(dst, name+`_bucket{le="`...)
		if i < len(Bounds) {
			dst = strconv.AppendFloat(dst, float64(Bounds[i])/1e9, 'g', -1, 64)
		} else {
			dst = append(dst, "+Inf"...)
		}
		dst = append(dst, `"} `...)
		dst = strconv.AppendInt(dst, cum, 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, name+"_sum "...)
	dst = strconv.AppendFloat(dst, float64(h.sum.Load())/1e9, 'g', -1, 64)
	dst = append(dst, "\n"+name+"_count "...)
	dst = strconv.AppendInt(dst, cum, 10)
	return append(dst, '\n')
}
