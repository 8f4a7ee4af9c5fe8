package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unit says how a threshold's value is to be read.
type Unit int

const (
	UnitNone     Unit = iota // a plain number (counts, rates, gauge values)
	UnitDuration             // a duration; Threshold.Value is in nanoseconds
	UnitPercent              // a percentage of the metric's denominator; Value is in percent
)

// Threshold is one parsed `<metric> <stat> <op> <value>` expression.
type Threshold struct {
	Expr   string
	Metric string // latency, counter or gauge name, or an alias, with its selector if any: "delivery{scenario=lurkers}" (tags sorted)
	// Name is Metric without its selector, and Tags the selector's tags:
	// the threshold judges the sum of the series whose tags contain them
	// (tags.go); no tags judge the run-wide total.
	Name       string
	Tags       Tags
	Stat       string  // canonical: "p99", "p99.9", "min", "max", "mean", "count", "rate"
	Percentile float64 // for percentile stats, e.g. 99.9
	Op         string  // <, <=, >, >=, ==, !=
	Value      float64 // nanoseconds for UnitDuration, percent for UnitPercent
	Unit       Unit
}

// Verdict is the outcome of one threshold.
type Verdict struct {
	Expr   string `json:"expr"`
	Pass   bool   `json:"pass"`
	Actual string `json:"actual"`           // the measured value, formatted like the threshold's value
	Reason string `json:"reason,omitempty"` // why it failed when it could not be evaluated
}

var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute,
}

const (
	unitHelp = "use ns, us, ms, s, m or %"
	statHelp = "use p50, p90, p95, p99, p99.9, p99.99 (any pN), min, max, mean, count or rate"
	opHelp   = "use <, <=, >, >=, == or !="
	example  = `e.g. "delivery p99 < 50ms"`
)

// ParseThreshold parses `<metric> <stat> <op> <value>`, for example
// "delivery p99 < 50ms", "errors rate < 0.1%", "connect_failed count == 0".
// Stats: pN percentiles (p50, p99.9 …; also p(99)), min, max, mean (avg),
// count, rate (per second of run). Values: a number with a duration unit
// (ns, us, µs, ms, s, m), a percentage (count and rate of counters only: the
// share of an appropriate denominator, see Evaluate) or a plain number.
func ParseThreshold(expr string) (Threshold, error) {
	th := Threshold{Expr: expr}
	fail := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("threshold %q: %s", expr, fmt.Sprintf(format, args...))
	}
	// A selector's `=` is not the operator: look for it after the `}`.
	from := 0
	if open := strings.IndexByte(expr, '{'); open >= 0 {
		end := strings.IndexByte(expr, '}')
		if end < open {
			return fail("unclosed `{` in the metric's selector; want metric{key=value,…}, e.g. delivery{scenario=lurkers} p99 < 100ms")
		}
		from = end + 1
	}
	opAt := strings.IndexAny(expr[from:], "<>=!")
	if opAt >= 0 {
		opAt += from
	}
	if opAt < 0 {
		if len(strings.Fields(expr)) == 0 {
			return fail("empty; want <metric> <stat> <op> <value>, %s", example)
		}
		return fail("missing comparison operator (%s); want <metric> <stat> <op> <value>, %s", opHelp, example)
	}
	opEnd := opAt + 1
	for opEnd < len(expr) && strings.IndexByte("<>=!", expr[opEnd]) >= 0 {
		opEnd++
	}
	th.Op = expr[opAt:opEnd]
	switch th.Op {
	case "<", "<=", ">", ">=", "==", "!=":
	default:
		return fail("unknown operator %q (%s)", th.Op, opHelp)
	}
	left := strings.Fields(expr[:opAt])
	if from > 0 {
		// the selector may hold spaces: {scenario=a, room=b}
		left = append([]string{strings.Join(strings.Fields(expr[:from]), "")}, strings.Fields(expr[from:opAt])...)
	}
	switch len(left) {
	case 0:
		return fail("missing metric and stat before %q; want <metric> <stat> <op> <value>, %s", th.Op, example)
	case 1:
		return fail("missing stat after metric %q (%s)", left[0], statHelp)
	case 2:
	default:
		return fail("want <metric> <stat> <op> <value> but found %d words before %q; %s", len(left), th.Op, example)
	}
	name, tags, err := ParseSelector(left[0])
	if err != nil {
		return fail("%v", err)
	}
	th.Name, th.Tags, th.Metric = name, tags, SeriesName(name, tags)
	stat, pct, err := parseStat(left[1])
	if err != nil {
		return fail("%v", err)
	}
	th.Stat, th.Percentile = stat, pct

	valText := strings.Join(strings.Fields(expr[opEnd:]), "")
	if valText == "" {
		return fail("missing value after %q", th.Op)
	}
	numEnd := 0
	if numEnd < len(valText) && (valText[0] == '-' || valText[0] == '+') {
		numEnd++
	}
	for numEnd < len(valText) && (valText[numEnd] >= '0' && valText[numEnd] <= '9' || valText[numEnd] == '.') {
		numEnd++
	}
	num, err := strconv.ParseFloat(valText[:numEnd], 64)
	if err != nil {
		return fail("value %q is not a number", valText)
	}
	unit := valText[numEnd:]
	switch {
	case unit == "":
		th.Unit, th.Value = UnitNone, num
	case unit == "%":
		th.Unit, th.Value = UnitPercent, num
	default:
		d, ok := durationUnits[unit]
		if !ok {
			return fail("unknown unit %q (%s)", unit, unitHelp)
		}
		th.Unit, th.Value = UnitDuration, num*float64(d)
	}

	switch {
	case th.Percentile > 0:
		if th.Unit != UnitDuration {
			return fail("%s is a latency percentile: give a duration with a unit, e.g. %s < 50ms", th.Stat, th.Stat)
		}
	case th.Stat == "count" || th.Stat == "rate":
		if th.Unit == UnitDuration {
			return fail("%s takes a plain number or a percentage, not a duration", th.Stat)
		}
	default: // min, max, mean: latencies (duration) or gauges (plain)
		if th.Unit == UnitPercent {
			return fail("%s takes a duration (latency) or a plain number (gauge), not a percentage", th.Stat)
		}
	}
	return th, nil
}

// parseStat canonicalises a stat name; pct is the percentile (0 for others).
func parseStat(s string) (stat string, pct float64, err error) {
	l := strings.ToLower(s)
	switch l {
	case "min", "max", "mean", "count", "rate":
		return l, 0, nil
	case "avg":
		return "mean", 0, nil
	case "med", "median":
		return "p50", 50, nil
	}
	if len(l) > 1 && l[0] == 'p' {
		num := l[1:]
		if len(num) > 2 && num[0] == '(' && num[len(num)-1] == ')' {
			num = num[1 : len(num)-1]
		}
		ok := num != "" && strings.Trim(num, "0123456789.") == ""
		if ok {
			p, perr := strconv.ParseFloat(num, 64)
			if perr == nil && p > 0 && p <= 100 {
				return "p" + strconv.FormatFloat(p, 'f', -1, 64), p, nil
			}
		}
		return "", 0, fmt.Errorf("bad percentile %q (want p followed by a number in (0, 100], e.g. p99 or p99.9)", s)
	}
	return "", 0, fmt.Errorf("unknown stat %q (%s)", s, statHelp)
}

// knownCounters are the counters the engine may never create when nothing
// happened; a threshold on them reads 0 instead of failing for lack of data.
var knownCounters = map[string]bool{
	CounterConnOpened: true, CounterMsgsSent: true, CounterMsgsRecv: true, CounterBytesSent: true, CounterBytesRecv: true,
	CounterDeliveryLost: true, CounterDeliveryDuplicate: true, CounterDeliveryReordered: true,
	CounterIterations: true, CounterIterationsFailed: true, CounterArrivalsDropped: true, CounterReconnects: true,
	CounterExpectStale:     true,
	CounterConnInterrupted: true, CounterIterInterrupted: true,
}

// Evaluate checks each threshold against r. Percentages of counters are
// shares of a denominator: errors (and errors.<kind>) of msgs.sent plus
// connection attempts (conn.opened + conn.failed.*); connect_failed (and
// conn.failed.<kind>) of connection attempts; delivery.lost of listener
// deliveries (listener.*) plus lost; delivery.duplicate and
// delivery.reordered of listener deliveries; conn.closed.<code> of
// conn.opened; iterations.failed of iterations; arrivals.dropped of
// iterations plus dropped; listener.<name> of msgs.recv. A threshold whose
// metric recorded nothing, or whose denominator is zero, fails with a
// reason.
func Evaluate(r *Results, ths []Threshold) []Verdict {
	out := make([]Verdict, 0, len(ths))
	for _, th := range ths {
		out = append(out, evaluate(r, th))
	}
	return out
}

func evaluate(r *Results, th Threshold) Verdict {
	v := Verdict{Expr: th.Expr}
	name := th.Name
	if name == "" { // a Threshold built without ParseThreshold
		name = th.Metric
	}
	r = r.Select(th.Tags)
	failf := func(actual, format string, args ...any) Verdict {
		v.Actual = actual
		v.Reason = fmt.Sprintf(format, args...)
		return v
	}
	if _, ok := r.Latency(name); ok {
		return evalLatency(r, name, th, v, failf)
	}
	if g, ok := r.Gauges[name]; ok {
		if th.Stat != "max" {
			return failf("n/a", "%s does not apply to gauge %q (use max)", th.Stat, th.Metric)
		}
		if th.Unit != UnitNone {
			return failf("n/a", "gauge %q takes a plain number", th.Metric)
		}
		v.Actual = strconv.FormatInt(g.Max, 10)
		v.Pass = compare(float64(g.Max), th.Op, th.Value)
		return v
	}
	count, ok := counterValue(r, name)
	if !ok {
		return failf("no data", "metric %q recorded nothing (no latency samples, counter or gauge of that name)", th.Metric)
	}
	if th.Stat != "count" && th.Stat != "rate" {
		return failf("n/a", "%s needs a latency metric; %q is a counter (use count or rate)", th.Stat, th.Metric)
	}
	if th.Unit == UnitPercent {
		den, what, ok := denominator(r, name)
		if !ok {
			return failf("n/a", "no denominator for a percentage of %q; use a plain count or rate", th.Metric)
		}
		if den == 0 {
			return failf("no data", "%% of %q is undefined: no %s recorded", th.Metric, what)
		}
		pct := float64(count) / float64(den) * 100
		v.Actual = formatPercent(pct)
		v.Pass = compare(pct, th.Op, th.Value)
		return v
	}
	if th.Stat == "count" {
		v.Actual = strconv.FormatInt(count, 10)
		v.Pass = compare(float64(count), th.Op, th.Value)
		return v
	}
	secs := r.Duration().Seconds()
	if secs <= 0 {
		return failf("n/a", "rate of %q is undefined: the run's duration is unknown", th.Metric)
	}
	rate := float64(count) / secs
	v.Actual = formatRate(rate)
	v.Pass = compare(rate, th.Op, th.Value)
	return v
}

func evalLatency(r *Results, name string, th Threshold, v Verdict, failf func(string, string, ...any) Verdict) Verdict {
	h := r.Histogram(name)
	if h == nil {
		return failf("n/a", "latency %q: histogram cannot be decoded", th.Metric)
	}
	n := h.TotalCount()
	switch th.Stat {
	case "count", "rate":
		if th.Unit == UnitPercent {
			return failf("n/a", "a percentage is not defined for latency %q; use a plain count or rate", th.Metric)
		}
		val := float64(n)
		v.Actual = strconv.FormatInt(n, 10)
		if th.Stat == "rate" {
			secs := r.Duration().Seconds()
			if secs <= 0 {
				return failf("n/a", "rate of %q is undefined: the run's duration is unknown", th.Metric)
			}
			val /= secs
			v.Actual = formatRate(val)
		}
		v.Pass = compare(val, th.Op, th.Value)
		return v
	}
	if th.Unit != UnitDuration {
		return failf("n/a", "latency %q needs a duration with a unit, e.g. 50ms", th.Metric)
	}
	if n == 0 {
		return failf("no data", "latency %q recorded no samples", th.Metric)
	}
	var ns float64
	switch th.Stat {
	case "min":
		ns = float64(h.Min())
	case "max":
		ns = float64(h.Max())
	case "mean":
		ns = h.Mean()
	default:
		ns = float64(h.ValueAtQuantile(th.Percentile))
	}
	v.Actual = FormatDuration(time.Duration(ns))
	v.Pass = compare(ns, th.Op, th.Value)
	return v
}

// counterValue resolves a counter, an alias or a counter family.
func counterValue(r *Results, name string) (int64, bool) {
	if v, ok := r.Counters[name]; ok {
		return v, true
	}
	if p, ok := knownPrefixes[name]; ok {
		return r.CounterPrefix(p), true
	}
	if knownCounters[name] {
		return 0, true
	}
	for _, p := range []string{PrefixErrors, PrefixConnFailed, PrefixConnClosed, PrefixListener} {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return 0, true
		}
	}
	prefix := name + "."
	for k := range r.Counters {
		if strings.HasPrefix(k, prefix) && !IsSeries(k) {
			return r.CounterPrefix(prefix), true
		}
	}
	return 0, false
}

// denominator returns what a percentage of counter name is a share of.
func denominator(r *Results, name string) (den int64, what string, ok bool) {
	attempts := r.Counters[CounterConnOpened] + r.CounterPrefix(PrefixConnFailed)
	deliveries := r.CounterPrefix(PrefixListener)
	switch {
	case name == AliasErrors || strings.HasPrefix(name, PrefixErrors):
		return r.Counters[CounterMsgsSent] + attempts, "messages sent or connection attempts", true
	case knownPrefixes[name] == PrefixConnFailed || strings.HasPrefix(name, PrefixConnFailed):
		return attempts, "connection attempts", true
	case name == CounterDeliveryLost:
		return deliveries + r.Counters[CounterDeliveryLost], "listener deliveries", true
	case name == CounterDeliveryDuplicate || name == CounterDeliveryReordered:
		return deliveries, "listener deliveries", true
	case knownPrefixes[name] == PrefixConnClosed || strings.HasPrefix(name, PrefixConnClosed):
		return r.Counters[CounterConnOpened], "opened connections", true
	case name == CounterIterationsFailed:
		return r.Counters[CounterIterations], "iterations", true
	case name == CounterArrivalsDropped:
		return r.Counters[CounterIterations] + r.Counters[CounterArrivalsDropped], "arrivals", true
	case knownPrefixes[name] == PrefixListener || strings.HasPrefix(name, PrefixListener):
		return r.Counters[CounterMsgsRecv], "received messages", true
	}
	return 0, "", false
}

func compare(actual float64, op string, want float64) bool {
	switch op {
	case "<":
		return actual < want
	case "<=":
		return actual <= want
	case ">":
		return actual > want
	case ">=":
		return actual >= want
	case "==":
		return actual == want
	case "!=":
		return actual != want
	}
	return false
}
