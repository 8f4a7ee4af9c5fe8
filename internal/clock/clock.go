// Package clock reads how far this machine's wall clock may be from true
// time, so that latencies that compare timestamps taken by different
// processes on different machines (fan-out delivery) can carry a ± bound.
// It sits beside the commands: `wsbench run` records the status in its
// results meta, and the report merges and shows it.
package clock

import "time"

// Status is the kernel's view of the wall clock's synchronisation.
type Status struct {
	Source string // "adjtimex", or "unavailable" where it cannot be read
	// Synced is false when the kernel says the clock is not disciplined by
	// NTP/chrony (STA_UNSYNC or TIME_ERROR): then MaxError is a guess.
	Synced bool
	// MaxError is the kernel's maximum error bound (grows by 500 ppm
	// between NTP updates; 16 s when never synced); EstError its estimate.
	MaxError time.Duration
	EstError time.Duration
	Err      string // why Source is unavailable
}
