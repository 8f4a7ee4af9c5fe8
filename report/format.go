package report

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// FormatDuration renders a latency for people: whole microseconds under
// 1 ms ("812µs"), nanoseconds under 1 µs ("640ns"), then milliseconds with
// two decimals ("12.35ms"), seconds with three ("1.234s"), minutes and
// seconds from one minute ("2m5.3s"), and Go's form from one hour ("1h0m1s").
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return "-" + FormatDuration(-d)
	}
	if d < time.Microsecond {
		return strconv.FormatInt(int64(d), 10) + "ns"
	}
	// Each unit is used while the rounded figure stays below the next unit,
	// so 999.9µs reads "1.00ms", not "1000µs".
	if us := math.Round(float64(d) / 1e3); us < 1000 {
		return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
	}
	if ms := math.Round(float64(d)/1e4) / 100; ms < 1000 {
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	}
	if s := math.Round(float64(d)/1e6) / 1000; s < 60 {
		return strconv.FormatFloat(s, 'f', 3, 64) + "s"
	}
	if d >= time.Hour {
		return d.Round(time.Second).String()
	}
	d = d.Round(100 * time.Millisecond)
	m := d / time.Minute
	rest := float64(d-m*time.Minute) / 1e9
	return fmt.Sprintf("%dm%ss", m, strconv.FormatFloat(rest, 'f', 1, 64))
}

// formatRate renders a per-second rate ("1234.5/s").
func formatRate(v float64) string {
	return strconv.FormatFloat(v, 'f', 1, 64) + "/s"
}

// formatPercent renders a percentage with three significant digits
// ("0.0571%", "1.96%", "12.5%"), enough for small error rates.
func formatPercent(p float64) string {
	if p == 0 || math.IsNaN(p) || math.IsInf(p, 0) {
		return strconv.FormatFloat(p, 'f', -1, 64) + "%"
	}
	decimals := 2 - int(math.Floor(math.Log10(math.Abs(p))))
	decimals = max(1, min(decimals, 6))
	return strconv.FormatFloat(p, 'f', decimals, 64) + "%"
}

// formatBytes renders a byte count with IEC units ("11.77 MiB").
func formatBytes(n float64) string {
	const unit = 1024
	if math.Abs(n) < unit {
		return strconv.FormatFloat(n, 'f', 0, 64) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	i := -1
	for math.Abs(n) >= unit && i < len(units)-1 {
		n /= unit
		i++
	}
	return strconv.FormatFloat(n, 'f', 2, 64) + " " + units[i]
}

// formatSI renders a count compactly for the progress line ("15.2k").
func formatSI(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
