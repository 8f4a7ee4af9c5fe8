package scenario

// tags.go gives every metric a series per scenario and per user-defined
// step tags (k6's tags): the scenario's name is the tag `scenario`, and a
// step may add its own with `tags: {room: big}` beside its kind. The
// report registry keeps each tag set's series next to the run's totals;
// this file decodes the tags, lists the tag sets a plan records (bounded by
// report.MaxTagSets) and checks threshold selectors against them.

import (
	"slices"
	"strings"

	"github.com/wsbench/wsbench/report"
)

// Tags returns the tag set of the scenario's own series: {scenario=NAME}.
func (s *Scenario) Tags() report.Tags {
	return report.Tags{{Key: report.TagScenario, Value: s.Name}}
}

// mergeTags returns base with add laid over it (add wins on a shared key),
// sorted by key.
func mergeTags(base, add report.Tags) report.Tags {
	out := slices.Clone(base)
	for _, t := range add {
		i := slices.IndexFunc(out, func(o report.Tag) bool { return o.Key == t.Key })
		if i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	return report.SortTags(out)
}

// stepTags decodes a step's `tags`: a mapping of key to value, keys and
// values as report.CheckTag allows, no reserved key.
func (d *decoder) stepTags(n *ynode, field string) report.Tags {
	if n.kind != yMap {
		d.fail(n, field, "expected a mapping of tag to value, e.g. {room: big}, got %s", n.describe())
		return nil
	}
	var out report.Tags
	for i, k := range n.keys {
		f := join(field, k.str)
		if slices.Contains(report.ReservedTagKeys, k.str) {
			d.fail(k, f, "tag `%s` is reserved (wsbench sets %s); pick another name", k.str, strings.Join(report.ReservedTagKeys, ", "))
			continue
		}
		v := n.vals[i]
		if v.kind != yString && v.kind != yInt && v.kind != yFloat && v.kind != yBool {
			d.fail(v, f, "expected a tag value (a word), got %s", v.describe())
			continue
		}
		if err := report.CheckTag(k.str, v.str); err != nil {
			d.fail(k, f, "%v", err)
			continue
		}
		out = append(out, report.Tag{Key: k.str, Value: v.str})
	}
	if len(out) == 0 && len(n.keys) == 0 {
		d.fail(n, field, "empty: name at least one tag, e.g. {room: big}")
	}
	return report.SortTags(out)
}

// TagSets lists, sorted, the tag sets whose series a run of p records:
// each scenario's {scenario=NAME}, and the scenario's tags merged with the
// tags of each tagged step (with those of the steps around it).
func (p *Plan) TagSets() []report.Tags {
	seen := map[string]report.Tags{}
	var walk func(steps []Step, tags report.Tags)
	walk = func(steps []Step, tags report.Tags) {
		for i := range steps {
			st := &steps[i]
			t := tags
			if len(st.Tags) > 0 {
				t = mergeTags(tags, st.Tags)
				seen[t.String()] = t
			}
			if inner, _ := blockSteps(st); inner != nil {
				walk(inner, t)
			}
		}
	}
	for _, sc := range p.Scenarios {
		t := sc.Tags()
		seen[t.String()] = t
		walk(sc.Steps, t)
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]report.Tags, len(keys))
	for i, k := range keys {
		out[i] = seen[k]
	}
	return out
}
