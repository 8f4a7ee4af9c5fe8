package scenario

// steps.go registers the kinds of step. Each kind lives in one file,
// step_<name>.go: its Plan type, how it is decoded, compiled and run. The
// table below is the one place that lists them; the parser's list of kinds
// and its errors come from it, and steps_test.go fails when the JSON schema
// or docs/scenarios.md disagree with it.

import (
	"fmt"
	"strings"

	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/report"
)

// StepKind tells which kind of step a Step is, and so which of its fields is set.
type StepKind int

// The kinds' constants and their entries in the table live in their own
// files (step_<name>.go, registered by each file's init); a kind's number
// is its index in stepKinds, and TestStepKindsAreContiguous checks that
// they run 0, 1, 2… with no gap or repeat.

// stepKind is what the package knows about one kind of step.
type stepKind struct {
	name string
	// parse decodes the step's value v (a null node when the step is a
	// bare word) at field f into st; conn is the scenario's connect
	// options, over which a connect step merges its own.
	parse func(d *decoder, st *Step, v *ynode, f string, conn ConnectOptions)
	// compile resolves, once before the run, what running c needs: metric
	// handles, dialers, templates, compiled sub-steps.
	compile func(s *scenarioRun, c *cstep, env compileEnv) error
	// run executes c for the VU v. It is the interpreter's hot path: it
	// must not allocate (BenchmarkVURoundTrip in vu_test.go: 0 allocs/op).
	run func(v *vu, c *cstep, sc sched) error
	// keepsAside: the step does not wait on the connection, so a helper
	// reading it during a flood of sends (readAside) may go on reading.
	keepsAside bool
	// conn is what the step needs of the VU's connection, for the check
	// that no step runs without one (checkConnected).
	conn connUse
	// block returns the steps a block kind holds and whether they run in
	// rounds (repeat); nil for the other kinds.
	block func(st *Step) (steps []Step, rounds bool)
	// latency names the latency metric the step records ("" for none),
	// for MetricNames and so for the threshold check of --check; timed
	// says it is timed from a send, and so also recorded uncorrected under
	// "<name>.raw" inside a repeat with `every`.
	latency func(st *Step) (name string, timed bool)
}

// connUse is what a step needs of the VU's connection.
type connUse uint8

const (
	connAny   connUse = iota // runs with or without one
	connOpens                // opens one (connect)
	connNeeds                // needs an open one
	connEnds                 // needs an open one and closes it
)

// stepKinds is indexed by StepKind. It is filled by the step files' init
// functions, not by a declaration, because the kinds that hold steps
// (repeat, group) parse, compile and run them through this table: a Go
// initializer may not refer to itself. It is never written afterwards.
var stepKinds []stepKind

// registerStep puts kind k into the table; each step_<name>.go calls it
// from init. A number used twice is a programming error.
func registerStep(k StepKind, sk stepKind) {
	if int(k) >= len(stepKinds) {
		stepKinds = append(stepKinds, make([]stepKind, int(k)+1-len(stepKinds))...)
	}
	if stepKinds[k].name != "" {
		panic(fmt.Sprintf("scenario: step kind %d registered twice (%s, %s)", k, stepKinds[k].name, sk.name))
	}
	stepKinds[k] = sk
}

// numStepKinds is the number of kinds registered.
func numStepKinds() StepKind { return StepKind(len(stepKinds)) }

// compileEnv is what compiling a step may need besides the step itself.
type compileEnv struct {
	paced   bool           // inside a repeat with `every`: latencies are also kept raw
	tags    *report.Tagged // the series the step's latency goes to: its scenario's and its own (and enclosing steps') tags
	tap     dialer.Tap
	dialers map[string]*dialer.Dialer // shared by every connect step of the run
}

func (k StepKind) String() string {
	if k >= 0 && k < numStepKinds() {
		return stepKinds[k].name
	}
	return fmt.Sprintf("step(%d)", int(k))
}

// blockSteps returns the steps st holds (repeat, group) and whether they
// run in rounds.
func blockSteps(st *Step) ([]Step, bool) {
	if st.Kind < 0 || st.Kind >= numStepKinds() || stepKinds[st.Kind].block == nil {
		return nil, false
	}
	return stepKinds[st.Kind].block(st)
}

// stepKindNames lists the kinds' names in table order.
func stepKindNames() []string {
	names := make([]string, len(stepKinds))
	for i := range stepKinds {
		names[i] = stepKinds[i].name
	}
	return names
}

// stepKindByName returns the kind named name.
func stepKindByName(name string) (StepKind, bool) {
	for i := range stepKinds {
		if stepKinds[i].name == name {
			return StepKind(i), true
		}
	}
	return 0, false
}

// stepKindList is "a, b or c" over every kind, for error messages.
func stepKindList() string {
	names := stepKindNames()
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
