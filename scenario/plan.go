// Package scenario turns a YAML scenario file into a validated Plan and runs
// it: it sits between the scenario file and the report package in the data
// flow (scenario.yaml → Plan → load model → virtual users → samples).
//
// plan.go holds the parsed, validated form of a scenario file. The parser
// (parse*.go, validate.go) produces it; the runner (run.go, vu.go, load*.go)
// consumes it. Nothing in a Plan refers back to YAML.
package scenario

import (
	"fmt"
	"regexp"
	"time"

	"github.com/wsbench/wsbench/report"
)

// Pos is a position in a scenario file, for error messages.
type Pos struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int // 1-based; 0 when unknown
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Builtin is the Target value that asks for the embedded reference server.
const Builtin = "builtin"

// Plan is a whole scenario file after parsing and validation.
type Plan struct {
	File         string
	Target       string         // base URL such as ws://127.0.0.1:8080, or Builtin ("" is normalised to Builtin)
	Connect      ConnectOptions // defaults every scenario inherits
	Duration     time.Duration  // hard cap on the whole run (0: the longest scenario's own length)
	GracefulStop time.Duration  // time VUs get to finish their iteration once the run ends
	Scenarios    []*Scenario
	Thresholds   []ThresholdSpec
	// Scaling says what --vus / --rate did to each scenario (Apply fills
	// it in; empty without those overrides). The command shows it at start.
	Scaling []ScaledLoad
}

// ThresholdSpec is one entry of `thresholds:`, parsed by report.ParseThreshold.
type ThresholdSpec struct {
	Expr string
	Pos  Pos
}

// ConnectOptions configure how a virtual user dials. Scenario and step
// values override file-level ones field by field (zero means inherit).
type ConnectOptions struct {
	Path             string            // appended to Target, e.g. "/chat"
	Headers          map[string]string // values are templates rendered per connection
	Subprotocols     []string
	ConnectTimeout   time.Duration
	HandshakeTimeout time.Duration
	Compression      bool   // permessage-deflate
	Insecure         bool   // skip TLS verification
	CAFile           string // extra CA for wss://
	Source           string // source address or range, e.g. "127.0.0.1-127.0.0.32"
	RecvBuffer       int    // socket receive buffer in bytes (SO_RCVBUF); 0 = the kernel's autotuned default

	// Backoff is the wait before dialing again after failed dials (backoff.go).
	Backoff DialBackoff
	// Socket.IO (see socketio_plan.go): Protocol ProtoSocketIO speaks
	// Engine.IO over the WebSocket and connects Namespace with Auth.
	Protocol  Protocol
	Namespace string // "" = the main namespace "/"
	Auth      any    // JSON value sent with the namespace connect; strings are templates
	EngineIO  int    // Engine.IO protocol version; 0 = 4
}

// Scenario is one named population of virtual users with its own load model
// and steps. Several scenarios in one file run side by side.
type Scenario struct {
	Name      string
	Pos       Pos
	Weight    int  // share of --vus/--rate overrides when the file sets it; default 1
	WeightSet bool // the file sets `weight`: --vus/--rate split by weight, not by the file's own load
	// VUsMultipleOf keeps the closed model's VU counts multiples of it
	// when --vus rescales the file (e.g. 2 so that dm pairs stay pairs);
	// 0 or 1: any count.
	VUsMultipleOf int
	Connect       ConnectOptions
	Load          Load
	Steps         []Step
	Listeners     []Listener
	Reconnect     Reconnect
}

// LoadModel selects closed (fixed VU count) or open (arrival rate) load.
type LoadModel int

const (
	Closed LoadModel = iota // `vus` with optional stages: each VU loops over the steps
	Open                    // `arrival_rate` with optional stages: each arrival runs the steps once
)

func (m LoadModel) String() string {
	if m == Open {
		return "open"
	}
	return "closed"
}

// Load describes how many virtual users run and for how long.
type Load struct {
	Model LoadModel
	// Closed model: VUs is the starting (or constant) number of VUs and each
	// stage ramps linearly to Target VUs over Duration.
	VUs int
	// Open model: Rate arrivals per second at the start (or constantly); each
	// stage ramps linearly to Target arrivals/s. MaxVUs caps concurrent
	// sessions; an arrival that finds none free is counted as dropped.
	Rate   float64
	MaxVUs int
	Stages []Stage
	// Duration of a constant load when there are no stages (with stages the
	// sum of stage durations is the length).
	Duration time.Duration
	// Iterations per VU in the closed model (0: loop until the end).
	Iterations int
}

// Stage is one linear ramp of a load model.
type Stage struct {
	Duration time.Duration
	Target   float64 // VUs (closed) or arrivals per second (open)
}

// Length is how long this load runs before graceful stop.
func (l Load) Length() time.Duration {
	if len(l.Stages) == 0 {
		return l.Duration
	}
	var d time.Duration
	for _, s := range l.Stages {
		d += s.Duration
	}
	return d
}

// ReconnectMode says what a VU does after an unexpected close.
type ReconnectMode int

const (
	ReconnectOff       ReconnectMode = iota // the iteration fails and ends
	ReconnectImmediate                      // dial again at once and resume the steps after the last connect
	ReconnectBackoff                        // dial again after an exponential backoff with jitter
)

// Reconnect configures ReconnectMode.
type Reconnect struct {
	Mode        ReconnectMode
	Initial     time.Duration // first backoff delay (backoff mode)
	Max         time.Duration // cap of the backoff delay
	MaxAttempts int           // 0: unlimited until the run ends
}

// Step is one instruction of a virtual user. Exactly the field named by Kind is non-nil.
type Step struct {
	Kind StepKind
	Pos  Pos
	// Tags label the latency this step records (and those of the steps
	// inside it) with series of their own, besides the scenario's (tags.go).
	Tags    report.Tags
	Connect *ConnectStep
	Send    *SendStep
	Expect  *ExpectStep
	Think   *ThinkStep
	Repeat  *RepeatStep
	Ping    *PingStep
	Close   *CloseStep
	Group   *GroupStep
	Emit    *EmitStep
}

// Matcher matches an inbound data message by a JSON subset or a regular expression.
type Matcher struct {
	// JSON is a subset that the message's JSON object must contain: every key
	// present with an equal value (nested objects recursively; string values
	// may be templates, rendered with the VU's variables when matching; a
	// null value matches a null or absent key).
	JSON map[string]any
	// Regex, when set, must match the message text.
	Regex *regexp.Regexp
	// Binary restricts the match to binary (true) frames; default text or
	// binary. On a Socket.IO connection: events that carried attachments.
	Binary bool
	// Event, on a Socket.IO connection, is the event name to match; JSON,
	// Regex and dot paths then apply to the event's first argument.
	Event string

	compiled *compiledMatcher // JSON precompiled by Compile (Parse calls it)
}

// OnTimeout says what an expect does when its timeout passes.
type OnTimeout int

const (
	TimeoutFail     OnTimeout = iota // count a timeout error and end the iteration
	TimeoutContinue                  // count a timeout error and go on with the next step
)

// Listener watches every inbound message for the whole session.
type Listener struct {
	Name  string // counter "listener.<Name>" and latency metric Name
	Pos   Pos
	Match Matcher
	// LatencyField, when set, is a dot path to a Unix-time field of the
	// message; now − field is recorded under Name.
	LatencyField string
	LatencyUnit  time.Duration // unit of that field: time.Nanosecond (default), Microsecond, Millisecond
	// Sequence checking: SenderField identifies the sender ("from"), SeqField
	// a per-sender increasing integer ("seq"). Gaps count as lost, repeats as
	// duplicated, and decreases as reordered.
	SenderField string
	SeqField    string
}

// WalkSteps calls fn on every step of steps, depth first, including the
// steps inside repeat and group blocks.
func WalkSteps(steps []Step, fn func(*Step)) {
	for i := range steps {
		st := &steps[i]
		fn(st)
		if inner, _ := blockSteps(st); inner != nil {
			WalkSteps(inner, fn)
		}
	}
}
