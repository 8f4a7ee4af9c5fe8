package report

// names.go is the one home of the metric names that the runner records and
// the reports read: the contract between scenario (which records them) and
// report (which sums, renders and judges them). Metrics named by the
// scenario file (expect, ping and group names, listeners) are not here.

import (
	"slices"
	"strings"
)

// Latency metrics of fixed name.
const (
	LatencyConnect   = "connect"   // TCP (and TLS) connect
	LatencyHandshake = "handshake" // HTTP upgrade, request to 101
	// SchedLatency holds the scheduling delay of the process that ran the
	// virtual users (see sched.go).
	SchedLatency = "wsbench.sched"
	// RawSuffix names the uncorrected twin of a latency measured from the
	// scheduled send of a paced repeat: "<name>.raw".
	RawSuffix = ".raw"
)

// Counters of fixed name.
const (
	CounterConnOpened        = "conn.opened"
	CounterMsgsSent          = "msgs.sent"
	CounterMsgsRecv          = "msgs.recv"
	CounterBytesSent         = "bytes.sent"
	CounterBytesRecv         = "bytes.recv"
	CounterIterations        = "iterations"
	CounterIterationsFailed  = "iterations.failed"
	CounterArrivalsDropped   = "arrivals.dropped"
	CounterReconnects        = "reconnects"
	CounterExpectStale       = "expect.stale" // replies an expect skipped: they arrived before the send it times
	CounterDeliveryLost      = "delivery.lost"
	CounterDeliveryDuplicate = "delivery.duplicate"
	CounterDeliveryReordered = "delivery.reordered"
	CounterConnInterrupted   = "conn.interrupted"       // opened connections cut by the end of the run, the graceful stop or Ctrl-C (closed with 1001)
	CounterIterInterrupted   = "iterations.interrupted" // iterations cut the same way (no verdict)
)

// Error counters (the errors.* family, summed by AliasErrors).
const (
	ErrDial          = "errors.dial"
	ErrHandshake     = "errors.handshake"
	ErrSend          = "errors.send"
	ErrProtocol      = "errors.protocol"
	ErrExpectTimeout = "errors.expect_timeout"
	ErrClosedByPeer  = "errors.closed_by_peer"
	ErrNotConnected  = "errors.not_connected"
	ErrCapture       = "errors.capture"
	ErrPingTimeout   = "errors.ping_timeout"
	ErrCloseTimeout  = "errors.close_timeout"
	// ErrStall counts connections failed because the server stopped
	// reading: a pong, ping or close could not be written in time.
	ErrStall = "errors.stall"
	// ErrClampedSample counts latency samples outside 0 … HistHighest,
	// recorded at the bound: a measurement the tool got wrong, never
	// silent.
	ErrClampedSample = "errors.clamped_sample"
)

// Gauges.
const (
	GaugeVUs       = "vus"
	GaugeConnsOpen = "conns.open"
)

// Counter families: a prefix followed by a kind, a close code or a name.
const (
	PrefixErrors     = "errors."
	PrefixConnFailed = "conn.failed." // conn.failed.<kind>: dial failures by kind
	PrefixConnClosed = "conn.closed." // conn.closed.<code>: connections ended by close code
	PrefixListener   = "listener."    // listener.<name>: messages a listener matched
	PrefixDelivery   = "delivery."    // delivery.lost, .duplicate, .reordered: the fan-out sequence checks
)

// Metric aliases usable in thresholds (and present in the series).
const (
	AliasErrors        = "errors"         // sum of errors.*
	AliasConnectFailed = "connect_failed" // sum of conn.failed.*
)

// RecordedMetrics lists the names every run may record whatever its
// scenario: the fixed latencies, counters and gauges above.
func RecordedMetrics() []string {
	return []string{
		LatencyConnect, LatencyHandshake, SchedLatency,
		CounterConnOpened, CounterMsgsSent, CounterMsgsRecv, CounterBytesSent, CounterBytesRecv,
		CounterIterations, CounterIterationsFailed, CounterArrivalsDropped, CounterReconnects,
		CounterExpectStale, CounterDeliveryLost, CounterDeliveryDuplicate, CounterDeliveryReordered,
		CounterConnInterrupted, CounterIterInterrupted,
		ErrDial, ErrHandshake, ErrSend, ErrProtocol, ErrExpectTimeout, ErrClosedByPeer,
		ErrNotConnected, ErrCapture, ErrPingTimeout, ErrCloseTimeout, ErrStall, ErrClampedSample,
		GaugeVUs, GaugeConnsOpen,
	}
}

// openFamilies are the counter families whose members are named at run
// time (a dial error kind, a close code): any member may be recorded.
var openFamilies = []string{PrefixConnFailed, PrefixConnClosed}

// knownPrefixes are counter families summed when named without a suffix.
var knownPrefixes = map[string]string{
	AliasErrors: PrefixErrors, AliasConnectFailed: PrefixConnFailed,
	strings.TrimSuffix(PrefixConnFailed, "."): PrefixConnFailed,
	strings.TrimSuffix(PrefixConnClosed, "."): PrefixConnClosed,
	strings.TrimSuffix(PrefixListener, "."):   PrefixListener,
}

// MetricAliases lists the names a threshold may use besides recorded
// metric names: the aliases and the counter families summed as a whole
// ("conn.closed", "listener"…), sorted.
func MetricAliases() []string {
	names := make([]string, 0, len(knownPrefixes))
	for n := range knownPrefixes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Recordable reports whether a threshold on metric can ever see data in a
// run that records the names in recorded (for a scenario plan,
// scenario.Plan.MetricNames): a recorded name, an alias or counter family
// (MetricAliases), a member of a family named at run time
// (conn.failed.<kind>, conn.closed.<code>), or the common prefix of
// recorded names ("delivery" sums delivery.*), as Evaluate reads them.
func Recordable(metric string, recorded []string) bool {
	if slices.Contains(recorded, metric) {
		return true
	}
	if _, ok := knownPrefixes[metric]; ok {
		return true
	}
	for _, p := range openFamilies {
		if strings.HasPrefix(metric, p) && len(metric) > len(p) {
			return true
		}
	}
	for _, n := range recorded {
		if strings.HasPrefix(n, metric+".") {
			return true
		}
	}
	return false
}
