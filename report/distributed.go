package report

// distributed.go holds what a run spread over processes and machines adds
// to the results meta: the agreed start instant and how late each process
// was for it (--start-at), and each host's clock error bound, which makes
// latencies that compare one process's timestamp with another's clock
// (fan-out delivery) uncertain by the sum of the two hosts' errors.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// StartInfo is the agreed start of a distributed run.
type StartInfo struct {
	At time.Time `json:"at"` // the instant every process began its load (--start-at)
	// Late is how long after At this process began (0 when on time); in
	// merged results the worst of them, and LateSources counts the late ones.
	Late        time.Duration `json:"late_ns,omitempty"`
	LateSources int           `json:"late_sources,omitempty"`
}

// ClockInfo is the wall-clock error of every host that produced the results.
type ClockInfo struct {
	Hosts []HostClock `json:"hosts"`
	// CrossMetrics names the latencies whose samples compare a timestamp
	// taken by one process with another's clock (delivery latencies of
	// listeners), which the uncertainty applies to.
	CrossMetrics []string `json:"cross_metrics,omitempty"`
}

// HostClock is one host's clock status (from adjtimex on Linux).
type HostClock struct {
	Host     string        `json:"host"`
	Source   string        `json:"source"` // adjtimex or unavailable
	Synced   bool          `json:"synced"`
	MaxError time.Duration `json:"max_error_ns"`
	EstError time.Duration `json:"est_error_ns"`
}

// unknownClockError stands for the error of a host whose clock could not be
// read: the kernel's own bound for an unsynchronised clock (NTP_PHASE_LIMIT).
const unknownClockError = 16 * time.Second

func (h HostClock) bound() time.Duration {
	if h.Source != "adjtimex" {
		return unknownClockError
	}
	return h.MaxError
}

// Uncertainty is the bound on the error of a latency measured between two
// of the hosts: the sum of the two largest clock errors. It is 0 when all
// samples came from one host (one clock, whatever its error).
func (c *ClockInfo) Uncertainty() time.Duration {
	if c == nil || len(c.Hosts) < 2 {
		return 0
	}
	b := make([]time.Duration, len(c.Hosts))
	for i, h := range c.Hosts {
		b[i] = h.bound()
	}
	slices.Sort(b)
	return b[len(b)-1] + b[len(b)-2]
}

// mergeStart keeps the agreed instant (the earliest, should they differ)
// and the worst lateness.
func mergeStart(rs []*Results) *StartInfo {
	var out *StartInfo
	for _, r := range rs {
		s := r.Meta.StartAt
		if s == nil {
			continue
		}
		if out == nil {
			out = &StartInfo{At: s.At}
		}
		if s.At.Before(out.At) {
			out.At = s.At
		}
		out.Late = max(out.Late, s.Late)
		switch {
		case s.LateSources > 0:
			out.LateSources += s.LateSources
		case s.Late > 0:
			out.LateSources++
		}
	}
	return out
}

// mergeClock lists every host once, with the worst status seen for it.
func mergeClock(rs []*Results) *ClockInfo {
	var out *ClockInfo
	for _, r := range rs {
		c := r.Meta.Clock
		if c == nil {
			continue
		}
		if out == nil {
			out = &ClockInfo{}
		}
		for _, m := range c.CrossMetrics {
			if !slices.Contains(out.CrossMetrics, m) {
				out.CrossMetrics = append(out.CrossMetrics, m)
			}
		}
		for _, h := range c.Hosts {
			i := slices.IndexFunc(out.Hosts, func(o HostClock) bool { return o.Host == h.Host })
			if i < 0 {
				out.Hosts = append(out.Hosts, h)
				continue
			}
			o := &out.Hosts[i]
			if h.bound() > o.bound() {
				o.Source, o.MaxError = h.Source, h.MaxError
			}
			o.EstError = max(o.EstError, h.EstError)
			o.Synced = o.Synced && h.Synced
		}
	}
	if out != nil {
		slices.SortFunc(out.Hosts, func(a, b HostClock) int { return strings.Compare(a.Host, b.Host) })
	}
	return out
}

// startAtText describes the agreed start and any lateness, "" without one.
func startAtText(r *Results) string {
	s := r.Meta.StartAt
	if s == nil {
		return ""
	}
	at := s.At.UTC().Format("2006-01-02 15:04:05.000 UTC")
	switch {
	case s.Late <= 0:
		return at + ", on time"
	case r.Sources > 1:
		return fmt.Sprintf("%s, %d of %d processes late, the latest by %s", at, s.LateSources, r.Sources, FormatDuration(s.Late))
	default:
		return fmt.Sprintf("%s, LATE by %s", at, FormatDuration(s.Late))
	}
}

// writeStartHeader adds the agreed start and any lateness to the summary
// header.
func writeStartHeader(w io.Writer, r *Results) {
	if t := startAtText(r); t != "" {
		fmt.Fprintf(w, "start-at:  %s\n", t)
	}
}

// clockNotes describes the clock uncertainty of cross-process latencies
// when the samples came from more than one host: the bound, then each such
// latency with its ±; warnings name those whose uncertainty is more than a
// tenth of the p50.
func clockNotes(r *Results) (notes, warnings []string) {
	c := r.Meta.Clock
	u := c.Uncertainty()
	if u == 0 {
		return nil, nil
	}
	unsynced := 0
	for _, h := range c.Hosts {
		if !h.Synced {
			unsynced++
		}
	}
	head := fmt.Sprintf("samples from %d hosts; a latency between two of them is uncertain by ±%s (sum of the two largest clock error bounds", len(c.Hosts), FormatDuration(u))
	if unsynced > 0 {
		head += fmt.Sprintf("; %d host(s) not synchronised", unsynced)
	}
	notes = append(notes, head+")")
	for _, name := range c.CrossMetrics {
		l, ok := r.Latency(name)
		if !ok || l.Count == 0 {
			continue
		}
		notes = append(notes, fmt.Sprintf("%s p50 %s ± %s, p99 %s ± %s", name, FormatDuration(l.P50), FormatDuration(u), FormatDuration(l.P99), FormatDuration(u)))
		if u*10 > l.P50 {
			warnings = append(warnings, fmt.Sprintf("the clock uncertainty of %s is more than a tenth of its p50: synchronise the hosts' clocks (chrony) before trusting it", name))
		}
	}
	return notes, warnings
}

// writeClockNotes adds the clock notes to the summary.
func writeClockNotes(w io.Writer, r *Results) {
	notes, warnings := clockNotes(r)
	if len(notes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nClock: %s\n", notes[0])
	for _, n := range notes[1:] {
		fmt.Fprintln(w, n)
	}
	for _, wn := range warnings {
		fmt.Fprintln(w, "warning: "+wn)
	}
}
