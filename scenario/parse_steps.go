package scenario

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
)

var (
	expectFields   = []string{"name", "event", "json", "regex", "binary", "timeout", "on_timeout", "capture"}
	onTimeoutNames = []string{"fail", "continue"}
)

// steps decodes a list of steps; conn is the scenario's connect options,
// over which connect steps merge theirs.
func (d *decoder) steps(n *ynode, field string, conn ConnectOptions) []Step {
	if n.kind != ySeq {
		d.fail(n, field, "expected a list of steps, got %s", n.describe())
		return nil
	}
	if len(n.items) == 0 {
		d.fail(n, field, "must not be empty")
		return nil
	}
	out := make([]Step, 0, len(n.items))
	for i, it := range n.items {
		if st, ok := d.step(it, index(field, i), conn); ok {
			out = append(out, st)
		}
	}
	return out
}

func (d *decoder) step(n *ynode, field string, conn ConnectOptions) (Step, bool) {
	var kind string
	var v *ynode
	switch {
	case n.kind == yString:
		kind, v = n.str, &ynode{kind: yNull, pos: n.pos}
	case n.kind == yMap && len(n.keys) == 1:
		kind, v = n.keys[0].str, n.vals[0]
	case n.kind == yMap && len(n.keys) > 1:
		d.fail(n, field, "a step has exactly one kind, found `%s` and `%s` (write them as separate list items)", n.keys[0].str, n.keys[1].str)
		return Step{}, false
	default:
		d.fail(n, field, "expected a step (%s), got %s", stepKindList(), n.describe())
		return Step{}, false
	}
	k, known := stepKindByName(kind)
	if !known {
		at := n
		if n.kind == yMap {
			at = n.keys[0]
		}
		d.failHint(at, field, closest(kind, stepKindNames()), "unknown step `%s`", kind)
		return Step{}, false
	}
	st := Step{Kind: k, Pos: n.pos}
	stepKinds[k].parse(d, &st, v, join(field, kind), conn)
	return st, true
}

// needMap reports whether a step's value is a mapping with allowed keys; a
// null value (bare step word) is reported as needing options when required.
// binary decodes a binary_hex (spaces, newlines, tabs and colons allowed) or
// binary_base64 (padded or not) payload; nil after reporting an error.
func (d *decoder) binary(v *ynode, field, kind string) []byte {
	str, ok := d.str(v, field)
	if !ok {
		return nil
	}
	if kind == "binary_hex" {
		raw, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "", ":", "").Replace(str))
		if err != nil {
			d.fail(v, field, "invalid hex: %v", err)
			return nil
		}
		return raw
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(str))
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimSpace(str))
	}
	if err != nil {
		d.fail(v, field, "invalid base64: %v", err)
		return nil
	}
	return raw
}

// onTimeout reads an on_timeout value: fail or continue.
func (d *decoder) onTimeout(v *ynode, field string) OnTimeout {
	s, _ := d.str(v, field)
	switch s {
	case "fail":
		return TimeoutFail
	case "continue":
		return TimeoutContinue
	}
	d.failHint(v, field, closest(s, onTimeoutNames), "expected fail or continue, got %q", s)
	return TimeoutFail
}

func (d *decoder) needMap(v *ynode, field string, allowed []string, optional bool) bool {
	if v.kind == yNull {
		if !optional {
			d.fail(v, field, "needs options: %s", strings.Join(allowed, ", "))
		}
		return false
	}
	return d.object(v, field, allowed)
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

func parseConnect(d *decoder, st *Step, v *ynode, f string, conn ConnectOptions) {
	st.Connect = &ConnectStep{Options: conn}
	if v.kind != yNull {
		st.Connect.Options = mergeConnect(conn, d.connectOptions(v, f))
	}
}

func parseExpect(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) {
	st.Expect = d.expect(v, f)
}

func parseEmit(d *decoder, st *Step, v *ynode, f string, _ ConnectOptions) { st.Emit = d.emit(v, f) }
