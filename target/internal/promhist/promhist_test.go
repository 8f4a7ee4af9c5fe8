package promhist

import (
	"strings"
	"testing"
)

func TestDelayHistogramPrometheus(t *testing.T) {
	var h Histogram
	h.Observe(-5)         // clock oddity: counted as 0
	h.Observe(40e3)       // ≤ 50 µs
	h.Observe(50e3)       // bounds are inclusive
	h.Observe(1.5e6)      // ≤ 2 ms
	h.Observe(9e6)        // ≤ 10 ms
	h.Observe(int64(6e9)) // above every bound
	out := string(h.AppendPrometheus(nil, "x_seconds", "help text"))
	for _, want := range []string{
		"# HELP x_seconds help text\n# TYPE x_seconds histogram\n",
		`x_seconds_bucket{le="5e-05"} 3` + "\n",
		`x_seconds_bucket{le="0.001"} 3` + "\n",
		`x_seconds_bucket{le="0.002"} 4` + "\n",
		`x_seconds_bucket{le="0.01"} 5` + "\n",
		`x_seconds_bucket{le="5"} 5` + "\n",
		`x_seconds_bucket{le="+Inf"} 6` + "\n",
		"x_seconds_count 6\n",
		"x_seconds_sum 6.01059\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
