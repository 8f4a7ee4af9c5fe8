package scenario

// parse_steps.go decodes a list of steps, each through its kind's entry in
// the registry (steps.go), and holds the decoding helpers that several
// kinds share (binary payloads, on_timeout, needMap).

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
)

var (
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
	var v, tagsNode *ynode
	if n.kind == yMap {
		// `tags` sits beside the kind: {expect: {…}, tags: {room: big}}.
		if i := slices.IndexFunc(n.keys, func(k *ynode) bool { return k.str == "tags" }); i >= 0 && len(n.keys) > 1 {
			tagsNode = n.vals[i]
			n = &ynode{kind: yMap, pos: n.pos, keys: slices.Delete(slices.Clone(n.keys), i, i+1), vals: slices.Delete(slices.Clone(n.vals), i, i+1)}
		}
	}
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
	if tagsNode != nil {
		st.Tags = d.stepTags(tagsNode, join(field, "tags"))
	}
	stepKinds[k].parse(d, &st, v, join(field, kind), conn)
	return st, true
}

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

// needMap reports whether a step's value is a mapping with allowed keys; a
// null value (bare step word) is reported as needing options when required.
func (d *decoder) needMap(v *ynode, field string, allowed []string, optional bool) bool {
	if v.kind == yNull {
		if !optional {
			d.fail(v, field, "needs options: %s", strings.Join(allowed, ", "))
		}
		return false
	}
	return d.object(v, field, allowed)
}
