package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wsbench/wsbench/internal/jsonscan"
	"github.com/wsbench/wsbench/report"
)

// step_expect.go is the expect step: it waits for a matching message
// (from the link's backlog or read off the connection), records the
// latency since the VU's last send and captures values into variables.

// StepExpect is the kind of an `expect` step; its number is its index in
// the kind table (steps.go).
const StepExpect StepKind = 2

func init() {
	registerStep(StepExpect, stepKind{name: "expect", parse: parseExpect, compile: compileExpect, run: runExpect, conn: connNeeds, latency: expectLatency})
}

var (
	expectFields = []string{"name", "event", "json", "regex", "binary", "timeout", "on_timeout", "capture"}
)

// ExpectStep waits for a matching message and records the latency since the
// VU's previous send under Name.
type ExpectStep struct {
	Name      string // metric name; default "expect"
	Match     Matcher
	Timeout   time.Duration
	OnTimeout OnTimeout
	// Capture stores values of the matched message into the VU's variables:
	// variable name → dot path into the JSON message ("from", "user.id") or,
	// for regex matchers, "$1", "$2"... for capture groups.
	Capture map[string]string
}

func (d *decoder) expect(v *ynode, f string) *ExpectStep {
	e := &ExpectStep{Name: "expect", Timeout: DefaultExpectTimeout}
	if !d.needMap(v, f, expectFields, true) {
		return e
	}
	e.Match = d.matcher(v, f)
	if names := e.Match.regexVars(); names != nil {
		d.useVars(v.get("regex"), join(f, "regex"), names)
	}
	for i, k := range v.keys {
		val, kf := v.vals[i], join(f, k.str)
		switch k.str {
		case "name":
			e.Name = d.metricName(val, kf)
		case "timeout":
			e.Timeout, _ = d.positiveDur(val, kf)
		case "on_timeout":
			e.OnTimeout = d.onTimeout(val, kf)
		case "capture":
			e.Capture = d.capture(val, kf, e.Match)
		}
	}
	return e
}

func (d *decoder) capture(n *ynode, field string, m Matcher) map[string]string {
	if n.kind != yMap {
		d.fail(n, field, "expected a mapping of variable name to dot path or regex group ($1), got %s", n.describe())
		return nil
	}
	out := make(map[string]string, len(n.keys))
	for i, k := range n.keys {
		kf := join(field, k.str)
		if !isIdent(k.str) || strings.Contains(k.str, "-") {
			d.fail(k, kf, "variable names are letters, digits and `_`, starting with a letter or `_`")
			continue
		}
		if contains(builtinExprs, k.str) || k.str == "env" {
			d.fail(k, kf, "`%s` is a built-in template name; choose another variable name", k.str)
			continue
		}
		path, ok := d.str(n.vals[i], kf)
		if !ok {
			continue
		}
		if g, isGroup := regexGroup(path); isGroup {
			switch {
			case m.Regex == nil:
				d.fail(n.vals[i], kf, "regex group %s needs a `regex` matcher", path)
			case g > m.numSubexp():
				d.fail(n.vals[i], kf, "the regex has %d capture group(s), no %s", m.numSubexp(), path)
			}
		} else {
			path = d.path(n.vals[i], kf)
		}
		out[k.str] = path
	}
	return out
}

func parseExpect(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) {
	st.Expect = d.expect(v, f)
}

func compileExpect(s *scenarioRun, c *cstep, env compileEnv) error {
	if c.Expect == nil {
		return fmt.Errorf("%s: expect step without a matcher", c.Pos)
	}
	var err error
	if err = c.Expect.Match.Compile(); err != nil {
		err = fmt.Errorf("%s: expect %s: %w", c.Pos, c.Expect.Name, err)
	}
	reg := env.tags
	name := nameOr(c.Expect.Name, "expect")
	c.lat = reg.Latency(name)
	if env.paced {
		c.raw = reg.Latency(name + report.RawSuffix)
	}
	return err
}

func runExpect(v *vu, st *cstep, _ sched) error {
	l := v.link
	if l == nil {
		v.m.errNotConnected.Inc()
		return errIterFailed
	}
	// Messages kept before the connection ended still count, but only
	// those that arrived after the send this expect times (or the
	// connect): an older one answers an earlier request, however well it
	// matches (a stale ack with the same id).
	at, ok := l.takeBacklog(st, v.vars, v.lastSend)
	if !ok {
		if l.dead.Load() {
			return errConnLost
		}
		l.waitKind, l.want = waitExpect, st
		ok = l.readUntil(time.Now().Add(st.Expect.timeout())) == readGot
		at = l.gotAt
		l.waitKind, l.want = waitNone, nil
	}
	return v.expectEnd(st, ok, at)
}

// timeout is the expect's own timeout or the default.
func (e *ExpectStep) timeout() time.Duration {
	if e.Timeout <= 0 {
		return DefaultExpectTimeout
	}
	return e.Timeout
}

// expectEnd ends an expect: ok, its message arrived at at (the latency
// since the VU's last send is recorded); otherwise its wait ended
// without one (cancelled, the connection lost, or a timeout).
func (v *vu) expectEnd(st *cstep, ok bool, at time.Time) error {
	l := v.link
	capErr := l.capErr
	l.capErr = nil
	m := v.m
	if ok {
		if capErr != nil {
			m.errCapture.Inc()
			v.s.r.log.Debug("capture failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "step", st.Expect.Name, "err", capErr)
		}
		if v.lastPlan.IsZero() {
			st.lat.Record(at.Sub(v.lastSend))
		} else {
			st.lat.Record(at.Sub(v.lastPlan))
			st.raw.Record(at.Sub(v.lastSend))
		}
		return nil
	}
	switch {
	case v.ctx.Err() != nil:
		return errCancelled
	case l.dead.Load():
		return errConnLost
	}
	m.errExpectTimeout.Inc()
	if st.Expect.OnTimeout == TimeoutContinue {
		return nil
	}
	return errIterFailed
}

// CaptureInto stores the values named by e.Capture from the matched message
// msg into v: "$N" is regex group N (0 = the whole match), anything else a
// dot path into the JSON message (strings unescaped, other values as their
// JSON text). A templated regex renders with v as it is before any of these
// captures is stored. It fails naming every capture that found nothing.
func (e *ExpectStep) CaptureInto(msg []byte, v *Vars) error {
	if len(e.Capture) == 0 {
		return nil
	}
	msg = e.Match.subject(msg)
	var re *regexp.Regexp
	if e.Match.Regex != nil {
		for _, path := range e.Capture {
			if _, ok := regexGroup(path); ok {
				re = e.Match.regex(v)
				break
			}
		}
	}
	var groups []int
	var missing []string
	for name, path := range e.Capture {
		if g, ok := regexGroup(path); ok {
			if e.Match.Regex == nil {
				missing = append(missing, name+" ("+path+": no regex)")
				continue
			}
			if groups == nil && re != nil {
				groups = re.FindSubmatchIndex(msg)
			}
			if 2*g+1 >= len(groups) || groups[2*g] < 0 {
				missing = append(missing, name+" ("+path+")")
				continue
			}
			v.setBytes(name, msg[groups[2*g]:groups[2*g+1]])
			continue
		}
		raw, ok := Lookup(msg, path)
		if !ok {
			missing = append(missing, name+" ("+path+")")
			continue
		}
		if raw[0] == '"' && len(raw) >= 2 {
			inner := raw[1 : len(raw)-1]
			if hasBackslash(inner) {
				v.scratch = jsonscan.AppendUnescaped(v.scratch[:0], inner)
				inner = v.scratch
			}
			v.setBytes(name, inner)
			continue
		}
		v.setBytes(name, raw)
	}
	if missing != nil {
		slices.Sort(missing)
		return fmt.Errorf("expect %s: capture found nothing for %v in %.200q", e.name(), missing, msg)
	}
	return nil
}

func expectLatency(st *Step) (string, bool) { return nameOr(st.Expect.Name, "expect"), true }
