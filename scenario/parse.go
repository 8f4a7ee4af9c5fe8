package scenario

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wsbench/wsbench/report"
)

// Defaults the parser fills in when a file leaves them out.
const (
	DefaultExpectTimeout = 10 * time.Second
	DefaultPingTimeout   = 10 * time.Second
	DefaultGracefulStop  = 5 * time.Second
	DefaultBackoffMin    = 100 * time.Millisecond
	DefaultBackoffMax    = 5 * time.Second
	DefaultMinMaxVUs     = 100 // open model: max_vus defaults to max(100, 10 × peak rate)
)

// LoadFile reads and parses a scenario file.
func LoadFile(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a scenario file's contents; file names the
// file in errors. It returns an *Error or an ErrorList (every problem found,
// sorted by position), each formatted
// "file:line:col: field: message (did you mean `x`?)".
func Parse(file string, data []byte) (*Plan, error) {
	root, errs := parseYAML(file, data)
	if len(errs) > 0 {
		return nil, errs.sort().err()
	}
	d := &decoder{file: file}
	plan := d.plan(root)
	if len(d.errs) > 0 {
		return nil, d.errs.sort().err()
	}
	return plan, nil
}

// decoder reads the ynode tree into a Plan, collecting every error.
type decoder struct {
	file string
	errs ErrorList
	// template variable uses to check against the captures of the scenario
	// being decoded (scenarioUses) or of every scenario (fileUses).
	scenarioUses []tmplUse
	fileUses     []tmplUse
	inFileLevel  bool
}

type tmplUse struct {
	pos   Pos
	field string
	name  string
}

func (d *decoder) fail(n *ynode, field, format string, args ...any) {
	d.failHint(n, field, "", format, args...)
}

func (d *decoder) failHint(n *ynode, field, hint, format string, args ...any) {
	pos := Pos{File: d.file}
	if n != nil {
		pos = n.pos
	}
	d.errs = append(d.errs, &Error{Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// object checks that n is a mapping whose keys are all allowed.
func (d *decoder) object(n *ynode, field string, allowed []string) bool {
	if n.kind != yMap {
		if len(allowed) <= 8 {
			d.fail(n, field, "expected a mapping with fields %s, got %s", strings.Join(allowed, ", "), n.describe())
		} else {
			d.fail(n, field, "expected a mapping, got %s", n.describe())
		}
		return false
	}
	ok := true
	for _, k := range n.keys {
		if !contains(allowed, k.str) {
			d.failHint(k, join(field, k.str), closest(k.str, allowed), "unknown field `%s`", k.str)
			ok = false
		}
	}
	return ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) str(n *ynode, field string) (string, bool) {
	switch n.kind {
	case yNull:
		return "", true
	case yString, yInt, yFloat, yBool:
		return n.str, true
	}
	d.fail(n, field, "expected a string, got %s", n.describe())
	return "", false
}

func (d *decoder) dur(n *ynode, field string) (time.Duration, bool) {
	switch n.kind {
	case yString:
		t, err := time.ParseDuration(strings.TrimSpace(n.str))
		if err == nil {
			return t, true
		}
		d.fail(n, field, "expected a duration such as 100ms or 1m30s, got %q", n.str)
		return 0, false
	case yInt:
		if n.i == 0 && !n.big {
			return 0, true
		}
		d.failHint(n, field, n.str+"s", "expected a duration with a unit, got %s", n.describe())
		return 0, false
	}
	d.fail(n, field, "expected a duration such as 100ms or 1m30s, got %s", n.describe())
	return 0, false
}

func (d *decoder) positiveDur(n *ynode, field string) (time.Duration, bool) {
	t, ok := d.dur(n, field)
	if ok && t <= 0 {
		d.fail(n, field, "must be positive, got %s", n.str)
		return 0, false
	}
	return t, ok
}

func (d *decoder) int(n *ynode, field string, lo, hi int64) (int, bool) {
	if n.kind != yInt {
		d.fail(n, field, "expected an integer, got %s", n.describe())
		return 0, false
	}
	if n.big || n.i < lo || n.i > hi {
		d.fail(n, field, "must be between %d and %d, got %s", lo, hi, n.str)
		return 0, false
	}
	return int(n.i), true
}

func (d *decoder) num(n *ynode, field string) (float64, bool) {
	switch n.kind {
	case yInt:
		if n.big {
			return float64(n.u), true
		}
		return float64(n.i), true
	case yFloat:
		if math.IsNaN(n.f) || math.IsInf(n.f, 0) {
			d.fail(n, field, "expected a finite number, got %s", n.str)
			return 0, false
		}
		return n.f, true
	}
	d.fail(n, field, "expected a number, got %s", n.describe())
	return 0, false
}

func (d *decoder) bool(n *ynode, field string) (bool, bool) {
	if n.kind != yBool {
		d.fail(n, field, "expected true or false, got %s", n.describe())
		return false, false
	}
	return n.b, true
}

// strList accepts a list of strings or a single string.
func (d *decoder) strList(n *ynode, field string) []string {
	switch n.kind {
	case yNull:
		return nil
	case yString:
		return []string{n.str}
	case ySeq:
		out := make([]string, 0, len(n.items))
		for i, it := range n.items {
			if it.kind != yString {
				d.fail(it, index(field, i), "expected a string, got %s", it.describe())
				continue
			}
			out = append(out, it.str)
		}
		return out
	}
	d.fail(n, field, "expected a list of strings, got %s", n.describe())
	return nil
}

// template compiles a string node as a template, recording the captured
// variables it reads for the scenario-level check.
func (d *decoder) template(n *ynode, field string) *Template {
	s, ok := d.str(n, field)
	if !ok {
		return nil
	}
	t, err := ParseTemplate(s)
	if err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			d.failHint(n, field, te.Hint, "%s", te.Msg)
		} else {
			d.fail(n, field, "%v", err)
		}
		return nil
	}
	d.useVars(n, field, t.Variables())
	return t
}

func (d *decoder) useVars(n *ynode, field string, names []string) {
	for _, name := range names {
		u := tmplUse{pos: n.pos, field: field, name: name}
		if d.inFileLevel {
			d.fileUses = append(d.fileUses, u)
		} else {
			d.scenarioUses = append(d.scenarioUses, u)
		}
	}
}

// The fields of each level.
var (
	fileOnlyFields     = []string{"target", "connect", "duration", "graceful_stop", "thresholds", "scenarios", "description"}
	scenarioOnlyFields = []string{"weight", "vus", "vus_multiple_of", "arrival_rate", "max_vus", "stages", "iterations", "reconnect", "listeners", "steps"}
	scenarioFields     = append([]string{"description", "duration", "connect"}, scenarioOnlyFields...)
	connectFields      = []string{"path", "headers", "subprotocols", "connect_timeout", "handshake_timeout", "compression", "insecure", "ca_file", "source", "recv_buffer", "backoff", "protocol", "namespace", "auth", "engineio"}
)

func (d *decoder) plan(root *ynode) *Plan {
	p := &Plan{File: d.file, Target: Builtin, GracefulStop: DefaultGracefulStop}
	if root.kind == yNull {
		d.fail(root, "", "empty scenario file: it needs at least `steps` (or `scenarios`)")
		return p
	}
	allowed := append(append([]string{}, fileOnlyFields...), scenarioOnlyFields...)
	if !d.object(root, "", allowed) && root.kind != yMap {
		return p
	}
	d.inFileLevel = true
	if n := root.get("target"); n != nil {
		p.Target = d.target(n)
	}
	if n := root.get("connect"); n != nil {
		p.Connect = d.connectOptions(n, "connect")
	}
	if n := root.get("duration"); n != nil {
		p.Duration, _ = d.positiveDur(n, "duration")
	}
	if n := root.get("graceful_stop"); n != nil {
		if t, ok := d.dur(n, "graceful_stop"); ok {
			if t < 0 {
				d.fail(n, "graceful_stop", "must not be negative")
			}
			p.GracefulStop = t
		}
	}
	if n := root.get("description"); n != nil {
		d.str(n, "description")
	}
	if n := root.get("thresholds"); n != nil {
		p.Thresholds = d.thresholds(n)
	}
	d.inFileLevel = false

	if sc := root.get("scenarios"); sc != nil {
		for _, k := range root.keys {
			if contains(scenarioOnlyFields, k.str) {
				d.fail(k, k.str, "belongs inside a scenario when `scenarios` is set")
			}
		}
		if sc.kind != yMap || len(sc.keys) == 0 {
			d.fail(sc, "scenarios", "expected a mapping of scenario name to scenario, got %s", sc.describe())
		} else {
			for i, k := range sc.keys {
				if s := d.scenario(k.str, k, sc.vals[i], "scenarios."+k.str, p); s != nil {
					p.Scenarios = append(p.Scenarios, s)
				}
			}
		}
	} else if s := d.scenario("default", root, root, "", p); s != nil {
		p.Scenarios = append(p.Scenarios, s)
	}

	if sets := p.TagSets(); len(sets) > report.MaxTagSets {
		d.fail(root, "tags", "%d tag sets (scenarios × distinct step tags); a run keeps at most %d, each with its own series of every metric: use fewer tag values", len(sets), report.MaxTagSets)
	}

	// File-level templates (headers, path) may read any scenario's captures.
	all := map[string]bool{}
	for _, s := range p.Scenarios {
		for name := range scenarioCaptures(s.Steps) {
			all[name] = true
		}
	}
	d.checkUses(d.fileUses, all)
	if n := root.get("thresholds"); n != nil && n.kind == ySeq {
		d.checkThresholdMetrics(n, p)
	}
	return p
}

// checkThresholdMetrics rejects thresholds on metrics no run of p can
// record (a typo such as "rttt p99 < 50ms" would otherwise only fail after
// the run, for lack of data), suggesting the nearest name.
func (d *decoder) checkThresholdMetrics(n *ynode, p *Plan) {
	recorded := p.MetricNames()
	var candidates []string
	for i, it := range n.items {
		if it.kind != yString {
			continue
		}
		th, err := report.ParseThreshold(it.str)
		if err != nil {
			continue
		}
		if candidates == nil {
			candidates = append(report.MetricAliases(), recorded...)
		}
		field := index("thresholds", i)
		switch {
		case !report.Recordable(th.Name, recorded):
			d.failHint(it, field, closest(th.Name, candidates),
				"metric %q is never recorded by this scenario (no step or listener names it, and no run records it by itself; see Thresholds in docs/scenarios.md)", th.Name)
		case th.Stat != "count" && th.Stat != "rate" && !slices.Contains(recorded, th.Name):
			// p99, min, max, mean read one latency (or gauge): a counter
			// family of that name ("delivery" for delivery.*) has none.
			d.fail(it, field,
				"%s needs a latency metric, and this scenario records none named %q (only counters under %q)", th.Stat, th.Name, th.Name+".")
		case len(th.Tags) > 0:
			d.checkSelector(it, field, th, p)
		}
	}
}

// checkSelector rejects a threshold whose selector ({scenario=…, room=…})
// no series of p carries, or whose metric no such series records.
func (d *decoder) checkSelector(it *ynode, field string, th report.Threshold, p *Plan) {
	sets := p.TagSets()
	matched := false
	for _, t := range sets {
		matched = matched || t.Contains(th.Tags)
	}
	if !matched {
		// Name the first tag that no series has, with the nearest value.
		for _, want := range th.Tags {
			var values []string
			for _, t := range sets {
				if v, ok := t.Get(want.Key); ok && !slices.Contains(values, v) {
					values = append(values, v)
				}
			}
			if slices.Contains(values, want.Value) {
				continue
			}
			slices.Sort(values)
			if len(values) == 0 {
				var keys []string
				for _, t := range sets {
					for _, tg := range t {
						if !slices.Contains(keys, tg.Key) {
							keys = append(keys, tg.Key)
						}
					}
				}
				slices.Sort(keys)
				d.failHint(it, field, closest(want.Key, keys), "selector %s: no series has the tag `%s` (tags in this file: %s)", th.Metric, want.Key, strings.Join(keys, ", "))
				return
			}
			d.failHint(it, field, closest(want.Value, values), "selector %s: no series has %s=%s (%s is one of %s)", th.Metric, want.Key, want.Value, want.Key, strings.Join(values, ", "))
			return
		}
		d.fail(it, field, "selector %s: no series carries all these tags together (tag sets: %s)", th.Metric, tagSetList(sets))
		return
	}
	names := p.MetricNamesFor(th.Tags)
	if !report.Recordable(th.Name, names) || (th.Stat != "count" && th.Stat != "rate" && !slices.Contains(names, th.Name)) {
		// p99, min, max and mean need the latency itself in these series.
		d.fail(it, field, "selector %s: no series with these tags records %q (tag sets: %s)", th.Metric, th.Name, tagSetList(sets))
	}
}

func tagSetList(sets []report.Tags) string {
	parts := make([]string, len(sets))
	for i, t := range sets {
		parts[i] = "{" + t.String() + "}"
	}
	return strings.Join(parts, " ")
}

func (d *decoder) target(n *ynode) string {
	s, ok := d.str(n, "target")
	if !ok {
		return Builtin
	}
	s = strings.TrimSpace(s)
	if s == "" || s == Builtin {
		return Builtin
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		hint := ""
		if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			hint = strings.Replace(s, "http", "ws", 1)
		}
		d.failHint(n, "target", hint, "must be `builtin` or a ws:// or wss:// URL, got %q", s)
		return Builtin
	}
	if u.Path == "/" && u.RawQuery == "" {
		s = strings.TrimSuffix(s, "/")
	}
	return s
}

func (d *decoder) thresholds(n *ynode) []ThresholdSpec {
	if n.kind != ySeq {
		d.fail(n, "thresholds", "expected a list of expressions such as \"delivery p99 < 50ms\", got %s", n.describe())
		return nil
	}
	var out []ThresholdSpec
	for i, it := range n.items {
		field := index("thresholds", i)
		if it.kind != yString {
			d.fail(it, field, "expected a string such as \"delivery p99 < 50ms\", got %s", it.describe())
			continue
		}
		if err := checkThreshold(it.str); err != nil {
			d.fail(it, field, "%v", err)
			continue
		}
		out = append(out, ThresholdSpec{Expr: it.str, Pos: it.pos})
	}
	return out
}

func (d *decoder) connectOptions(n *ynode, field string) ConnectOptions {
	var o ConnectOptions
	if n.kind == yNull {
		return o
	}
	if !d.object(n, field, connectFields) && n.kind != yMap {
		return o
	}
	for i, k := range n.keys {
		v, f := n.vals[i], join(field, k.str)
		switch k.str {
		case "path":
			if t := d.template(v, f); t != nil {
				o.Path = t.String()
				if o.Path != "" && !strings.HasPrefix(o.Path, "/") && !strings.HasPrefix(o.Path, "?") {
					d.failHint(v, f, "/"+o.Path, "must start with `/`")
				}
			}
		case "headers":
			if v.kind == yNull {
				continue
			}
			if v.kind != yMap {
				d.fail(v, f, "expected a mapping of header name to value, got %s", v.describe())
				continue
			}
			o.Headers = make(map[string]string, len(v.keys))
			for j, hk := range v.keys {
				hf := join(f, hk.str)
				if !validHeaderName(hk.str) {
					d.fail(hk, hf, "invalid HTTP header name %q", hk.str)
					continue
				}
				if t := d.template(v.vals[j], hf); t != nil {
					o.Headers[hk.str] = t.String()
				}
			}
		case "subprotocols":
			o.Subprotocols = d.strList(v, f)
		case "connect_timeout":
			o.ConnectTimeout, _ = d.positiveDur(v, f)
		case "handshake_timeout":
			o.HandshakeTimeout, _ = d.positiveDur(v, f)
		case "compression":
			o.Compression, _ = d.bool(v, f)
		case "insecure":
			o.Insecure, _ = d.bool(v, f)
		case "ca_file":
			o.CAFile, _ = d.str(v, f)
		case "recv_buffer":
			o.RecvBuffer, _ = d.int(v, f, 1024, 64<<20)
		case "backoff":
			o.Backoff = d.dialBackoff(v, f)
		case "source":
			o.Source, _ = d.str(v, f)
			if err := checkSource(o.Source); err != nil {
				d.fail(v, f, "%v", err)
			}
		case "protocol", "namespace", "auth", "engineio":
			d.socketIOOption(&o, k.str, v, f)
		}
	}
	return o
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

var scenarioNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// scenario decodes one scenario. For a single-scenario file n is the root
// and field is "".
func (d *decoder) scenario(name string, nameNode, n *ynode, field string, p *Plan) *Scenario {
	d.scenarioUses = d.scenarioUses[:0]
	s := &Scenario{Name: name, Pos: nameNode.pos, Weight: 1, Connect: p.Connect}
	if field != "" {
		if !scenarioNameRE.MatchString(name) {
			d.fail(nameNode, field, "scenario names use letters, digits, `_`, `-` and `.`")
		}
		if n.kind == yNull {
			d.fail(n, field, "empty scenario: it needs `steps`")
			return nil
		}
		if !d.object(n, field, scenarioFields) && n.kind != yMap {
			return nil
		}
		if c := n.get("connect"); c != nil {
			s.Connect = mergeConnect(p.Connect, d.connectOptions(c, join(field, "connect")))
		}
		if c := n.get("description"); c != nil {
			d.str(c, join(field, "description"))
		}
	}
	if w := n.get("weight"); w != nil {
		s.Weight, _ = d.int(w, join(field, "weight"), 1, 1_000_000)
		s.WeightSet = true
	}
	s.Load = d.load(n, field, p)
	if k := n.get("vus_multiple_of"); k != nil {
		s.VUsMultipleOf = d.vusMultipleOf(k, join(field, "vus_multiple_of"), s.Load)
	}
	if r := n.get("reconnect"); r != nil {
		s.Reconnect = d.reconnect(r, join(field, "reconnect"))
	}
	if l := n.get("listeners"); l != nil {
		s.Listeners = d.listeners(l, join(field, "listeners"))
	}
	stepsNode := n.get("steps")
	if stepsNode == nil {
		d.fail(n, field, "missing `steps`")
	} else {
		s.Steps = d.steps(stepsNode, join(field, "steps"), s.Connect)
		d.checkConnected(s.Steps, join(field, "steps"))
		d.checkSocketIO(s, field)
	}
	d.checkUses(d.scenarioUses, scenarioCaptures(s.Steps))
	return s
}

// load decodes the load model fields of a scenario.
func (d *decoder) load(n *ynode, field string, p *Plan) Load {
	var l Load
	vusN, rateN, maxN := n.get("vus"), n.get("arrival_rate"), n.get("max_vus")
	stagesN, durN, itN := n.get("stages"), n.get("duration"), n.get("iterations")
	hasDur := durN != nil
	if field == "" {
		durN = nil // top-level duration is the file's (and so this scenario's)
		hasDur = n.get("duration") != nil
	} else if p.Duration > 0 || n == nil {
		hasDur = true
	}
	if vusN != nil && rateN != nil {
		d.fail(rateN, join(field, "arrival_rate"), "`vus` (closed model) and `arrival_rate` (open model) are mutually exclusive")
	}
	if rateN != nil {
		l.Model = Open
		l.Rate, _ = d.num(rateN, join(field, "arrival_rate"))
		if l.Rate < 0 {
			d.fail(rateN, join(field, "arrival_rate"), "must not be negative")
		}
	} else if vusN != nil {
		var ok bool
		if l.VUs, ok = d.int(vusN, join(field, "vus"), 0, 1_000_000_000); !ok {
			l.VUs = 1 // reported; avoid a second error about the same value
		}
	}
	if stagesN != nil {
		l.Stages = d.stages(stagesN, join(field, "stages"), l.Model)
		if durN != nil {
			d.fail(durN, join(field, "duration"), "`duration` and `stages` are mutually exclusive: the stages' durations set the length")
		}
	} else {
		if durN != nil {
			l.Duration, _ = d.positiveDur(durN, join(field, "duration"))
		} else {
			l.Duration = p.Duration
		}
	}
	if itN != nil {
		f := join(field, "iterations")
		l.Iterations, _ = d.int(itN, f, 0, 1_000_000_000)
		if l.Model == Open {
			d.fail(itN, f, "applies to the closed model (`vus`); in the open model each arrival runs the steps once")
		}
	}
	at := n
	if field == "" {
		at = n.keys[0]
		if stepsN := n.get("steps"); stepsN != nil {
			at = stepsN
		}
	}
	switch l.Model {
	case Closed:
		if maxN != nil {
			d.fail(maxN, join(field, "max_vus"), "applies to the open model (`arrival_rate`)")
		}
		if vusN == nil && stagesN == nil {
			l.VUs = 1
		}
		if vusN != nil && l.VUs == 0 && len(l.Stages) == 0 {
			d.fail(vusN, join(field, "vus"), "must be at least 1 without `stages`")
		}
		if stagesN == nil && l.Duration == 0 && l.Iterations == 0 && !hasDur && itN == nil {
			d.fail(at, field, "the closed model needs `duration`, `stages` or `iterations`")
		}
	case Open:
		if rateN != nil && l.Rate == 0 && len(l.Stages) == 0 {
			d.fail(rateN, join(field, "arrival_rate"), "must be positive without `stages`")
		}
		if stagesN == nil && l.Duration == 0 && !hasDur {
			d.fail(at, field, "the open model needs `duration` or `stages`")
		}
		peak := l.Rate
		for _, st := range l.Stages {
			peak = max(peak, st.Target)
		}
		l.MaxVUs = max(DefaultMinMaxVUs, int(math.Ceil(10*min(peak, 1e8))))
		if maxN != nil {
			l.MaxVUs, _ = d.int(maxN, join(field, "max_vus"), 1, 1_000_000_000)
		}
	}
	return l
}

// vusMultipleOf decodes `vus_multiple_of`: a closed-model option whose
// value must divide the file's own VU counts.
func (d *decoder) vusMultipleOf(n *ynode, field string, l Load) int {
	k, ok := d.int(n, field, 1, 1_000_000)
	if !ok {
		return 0
	}
	if l.Model == Open {
		d.fail(n, field, "applies to the closed model (`vus`)")
		return 0
	}
	if l.VUs%k != 0 {
		d.fail(n, field, "vus %d is not a multiple of %d", l.VUs, k)
	}
	for i, st := range l.Stages {
		if int(st.Target)%k != 0 {
			d.fail(n, field, "stages[%d].target %v is not a multiple of %d", i, st.Target, k)
		}
	}
	return k
}

func (d *decoder) stages(n *ynode, field string, model LoadModel) []Stage {
	if n.kind != ySeq || len(n.items) == 0 {
		d.fail(n, field, "expected a non-empty list of {duration, target}, got %s", n.describe())
		return nil
	}
	out := make([]Stage, 0, len(n.items))
	for i, it := range n.items {
		f := index(field, i)
		if !d.object(it, f, []string{"duration", "target"}) && it.kind != yMap {
			continue
		}
		var st Stage
		if dn := it.get("duration"); dn != nil {
			st.Duration, _ = d.positiveDur(dn, join(f, "duration"))
		} else {
			d.fail(it, f, "missing `duration`")
		}
		if tn := it.get("target"); tn != nil {
			tf := join(f, "target")
			if model == Closed {
				v, _ := d.int(tn, tf, 0, 1_000_000_000)
				st.Target = float64(v)
			} else if v, ok := d.num(tn, tf); ok {
				if v < 0 {
					d.fail(tn, tf, "must not be negative")
				}
				st.Target = v
			}
		} else {
			d.fail(it, f, "missing `target`")
		}
		out = append(out, st)
	}
	return out
}

var reconnectModes = []string{"off", "immediate", "backoff"}

func (d *decoder) reconnect(n *ynode, field string) Reconnect {
	r := Reconnect{Initial: DefaultBackoffMin, Max: DefaultBackoffMax}
	modeNode := n
	if n.kind == yMap {
		if !d.object(n, field, []string{"mode", "initial", "max", "max_attempts"}) {
			return r
		}
		modeNode = n.get("mode")
		if modeNode == nil {
			d.fail(n, field, "missing `mode` (off, immediate or backoff)")
			return r
		}
		field = join(field, "mode")
	}
	switch {
	case modeNode.kind == yBool && !modeNode.b:
		r.Mode = ReconnectOff
	case modeNode.kind == yString && modeNode.str == "off":
		r.Mode = ReconnectOff
	case modeNode.kind == yString && modeNode.str == "immediate":
		r.Mode = ReconnectImmediate
	case modeNode.kind == yString && modeNode.str == "backoff":
		r.Mode = ReconnectBackoff
	default:
		d.failHint(modeNode, field, closest(modeNode.str, reconnectModes), "expected off, immediate or backoff, got %s", modeNode.describe())
	}
	if n.kind != yMap {
		return r
	}
	field = strings.TrimSuffix(field, ".mode")
	for i, k := range n.keys {
		v, f := n.vals[i], join(field, k.str)
		switch k.str {
		case "initial":
			r.Initial, _ = d.positiveDur(v, f)
		case "max":
			r.Max, _ = d.positiveDur(v, f)
		case "max_attempts":
			r.MaxAttempts, _ = d.int(v, f, 0, 1_000_000_000)
		}
		if k.str != "mode" && r.Mode != ReconnectBackoff && k.str != "max_attempts" {
			d.fail(k, f, "applies to `mode: backoff` only")
		}
	}
	if r.Initial > r.Max && r.Max > 0 {
		d.fail(n, field, "`initial` (%s) exceeds `max` (%s)", r.Initial, r.Max)
	}
	return r
}

var (
	listenerFields = []string{"name", "match", "event", "json", "regex", "binary", "latency_from", "latency_unit", "sequence"}
	matchFields    = []string{"event", "json", "regex", "binary"}
	latencyUnits   = map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second}
	metricNameRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

func (d *decoder) listeners(n *ynode, field string) []Listener {
	if n.kind != ySeq {
		d.fail(n, field, "expected a list of listeners, got %s", n.describe())
		return nil
	}
	var out []Listener
	seen := map[string]bool{}
	for i, it := range n.items {
		f := index(field, i)
		if !d.object(it, f, listenerFields) && it.kind != yMap {
			continue
		}
		l := Listener{Pos: it.pos, LatencyUnit: time.Nanosecond}
		if nn := it.get("name"); nn != nil {
			l.Name = d.metricName(nn, join(f, "name"))
			if seen[l.Name] {
				d.fail(nn, join(f, "name"), "duplicate listener name %q", l.Name)
			}
			seen[l.Name] = true
		} else {
			d.fail(it, f, "missing `name`")
		}
		if m := it.get("match"); m != nil {
			if it.get("json") != nil || it.get("regex") != nil || it.get("binary") != nil || it.get("event") != nil {
				d.fail(m, join(f, "match"), "use either `match` or inline event/json/regex/binary, not both")
			}
			if d.object(m, join(f, "match"), matchFields) {
				l.Match = d.matcher(m, join(f, "match"))
			}
		} else {
			l.Match = d.matcher(it, f)
		}
		if ln := it.get("latency_from"); ln != nil {
			l.LatencyField = d.path(ln, join(f, "latency_from"))
		}
		if un := it.get("latency_unit"); un != nil {
			uf := join(f, "latency_unit")
			if s, ok := d.str(un, uf); ok {
				u, known := latencyUnits[s]
				if !known {
					d.failHint(un, uf, closest(s, []string{"ns", "us", "ms", "s"}), "expected ns, us, ms or s, got %q", s)
				}
				l.LatencyUnit = u
			}
			if l.LatencyField == "" {
				d.fail(un, uf, "needs `latency_from`")
			}
		}
		if sn := it.get("sequence"); sn != nil {
			sf := join(f, "sequence")
			if d.object(sn, sf, []string{"sender", "field"}) {
				if x := sn.get("sender"); x != nil {
					l.SenderField = d.path(x, join(sf, "sender"))
				}
				if x := sn.get("field"); x != nil {
					l.SeqField = d.path(x, join(sf, "field"))
				} else {
					d.fail(sn, sf, "missing `field` (the per-sender sequence number)")
				}
			}
		}
		out = append(out, l)
	}
	return out
}

func (d *decoder) metricName(n *ynode, field string) string {
	s, ok := d.str(n, field)
	if !ok {
		return ""
	}
	if !metricNameRE.MatchString(s) {
		d.fail(n, field, "names use letters, digits, `_`, `-` and `.`, got %q", s)
	}
	return s
}

// path reads a dot path into a JSON message.
func (d *decoder) path(n *ynode, field string) string {
	s, ok := d.str(n, field)
	if !ok {
		return ""
	}
	if s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		d.fail(n, field, "expected a dot path such as `ts` or `user.id`, got %q", s)
	}
	return s
}

// matcher reads json/regex/binary from n (a mapping already checked).
func (d *decoder) matcher(n *ynode, field string) Matcher {
	var m Matcher
	if j := n.get("json"); j != nil {
		f := join(field, "json")
		if j.kind != yMap {
			d.fail(j, f, "expected a mapping (a subset of the message's JSON object), got %s", j.describe())
		} else if v, ok := d.jsonValue(j, f, false).(map[string]any); ok {
			m.JSON = v
		}
	}
	if r := n.get("regex"); r != nil {
		f := join(field, "regex")
		if s, ok := d.str(r, f); ok {
			re, err := regexp.Compile(s)
			if err != nil {
				d.fail(r, f, "invalid regular expression: %v", err)
			} else {
				m.Regex = re
			}
		}
	}
	if b := n.get("binary"); b != nil {
		m.Binary, _ = d.bool(b, join(field, "binary"))
	}
	if e := n.get("event"); e != nil {
		m.Event = d.eventName(e, join(field, "event"))
	}
	if err := m.Compile(); err != nil {
		d.fail(n, field, "%v", err)
	}
	return m
}

// jsonValue converts a node to a JSON value. Strings are checked as
// templates. ordered selects orderedObject (payloads, whose key order
// matters) over map[string]any (matchers).
func (d *decoder) jsonValue(n *ynode, field string, ordered bool) any {
	switch n.kind {
	case yNull:
		return nil
	case yBool:
		return n.b
	case yInt:
		if n.big {
			return n.u
		}
		return n.i
	case yFloat:
		if math.IsNaN(n.f) || math.IsInf(n.f, 0) {
			d.fail(n, field, "%s cannot be written as JSON", n.str)
			return nil
		}
		return n.f
	case yString:
		if t := d.template(n, field); t == nil {
			return ""
		}
		return n.str
	case ySeq:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = d.jsonValue(it, index(field, i), ordered)
		}
		return out
	}
	if ordered {
		out := make(orderedObject, len(n.keys))
		for i, k := range n.keys {
			out[i] = jsonKV{k.str, d.jsonValue(n.vals[i], join(field, k.str), ordered)}
		}
		return out
	}
	out := make(map[string]any, len(n.keys))
	for i, k := range n.keys {
		out[k.str] = d.jsonValue(n.vals[i], join(field, k.str), ordered)
	}
	return out
}

// checkUses reports template names that are neither built in nor captured.
func (d *decoder) checkUses(uses []tmplUse, captures map[string]bool) {
	for _, u := range uses {
		if captures[u.name] {
			continue
		}
		cands := append([]string{}, builtinExprs...)
		for c := range captures {
			cands = append(cands, c)
		}
		hint := closest(u.name, sortStrings(cands))
		if strings.HasPrefix(u.name, "env") || strings.EqualFold(u.name, "env") {
			hint = "env.NAME"
		}
		d.errs = append(d.errs, &Error{Pos: u.pos, Field: u.field, Msg: fmt.Sprintf("unknown template expression `%s` (not built in, and no expect captures it)", u.name), Hint: hint})
	}
}
