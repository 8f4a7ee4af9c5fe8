package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// bareKinds lists the kinds the parser accepts as a bare word (`- ping`):
// those whose options all have defaults.
func bareKinds(t *testing.T) []string {
	t.Helper()
	var bare []string
	for _, k := range stepKindNames() {
		_, err := Parse("bare.yaml", []byte("duration: 1s\nsteps: [connect, "+k+"]"))
		var list ErrorList
		var one *Error
		switch {
		case err == nil:
			bare = append(bare, k)
			continue
		case errors.As(err, &one):
			list = ErrorList{one}
		case !errors.As(err, &list):
			t.Fatalf("bare %s: %v", k, err)
		}
		needs := false
		for _, e := range list {
			needs = needs || (e.Field == "steps[1]."+k && strings.HasPrefix(e.Msg, "needs options"))
		}
		if !needs {
			bare = append(bare, k) // rejected for another reason (emit on a raw connection)
		}
	}
	return bare
}

// TestStepKindsSchema fails when the JSON schema's step kinds drift from
// the registry (steps.go): one object form per kind, and the bare words
// exactly the kinds the parser accepts bare.
func TestStepKindsSchema(t *testing.T) {
	var schema struct {
		Defs map[string]struct {
			AnyOf []struct {
				Enum       []string                   `json:"enum"`
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"anyOf"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(JSONSchema, &schema); err != nil {
		t.Fatal(err)
	}
	var objects, bare []string
	for _, alt := range schema.Defs["step"].AnyOf {
		bare = append(bare, alt.Enum...)
		if len(alt.Required) != 1 {
			continue
		}
		// An object form is its kind, and `tags` beside it (tags.go).
		if _, ok := alt.Properties["tags"]; !ok {
			t.Errorf("schema $defs.step's form %q does not allow `tags` beside the kind", alt.Required[0])
		}
		if len(alt.Properties) == 2 {
			objects = append(objects, alt.Required[0])
		}
	}
	kinds := stepKindNames()
	slices.Sort(kinds)
	slices.Sort(objects)
	if !slices.Equal(objects, kinds) {
		t.Errorf("schema $defs.step has object forms %v, the registry the kinds %v", objects, kinds)
	}
	want := bareKinds(t)
	slices.Sort(want)
	slices.Sort(bare)
	if !slices.Equal(bare, want) {
		t.Errorf("schema $defs.step allows the bare words %v, the parser %v", bare, want)
	}
}

// TestStepKindsDocs fails when docs/scenarios.md does not describe every
// registered kind under "## Steps" (a "### <kind>" heading each), or names
// other bare words than the parser accepts.
func TestStepKindsDocs(t *testing.T) {
	doc, err := os.ReadFile("../docs/scenarios.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "\n## Steps\n")
	if start < 0 {
		t.Fatal("docs/scenarios.md has no ## Steps section")
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^### (\w+)$`).FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	kinds := stepKindNames()
	if !slices.Equal(documented, kinds) {
		t.Errorf("docs/scenarios.md ## Steps documents %v, the registry has %v (in this order)", documented, kinds)
	}
	m := regexp.MustCompile(`A step is a bare word \(([^)]*):`).FindStringSubmatch(section)
	if m == nil {
		t.Fatal("docs/scenarios.md ## Steps does not say which steps may be bare words")
	}
	var bare []string
	for _, w := range regexp.MustCompile("`"+`(\w+)`+"`").FindAllStringSubmatch(m[1], -1) {
		bare = append(bare, w[1])
	}
	if want := bareKinds(t); !slices.Equal(bare, want) {
		t.Errorf("docs/scenarios.md says the bare words are %v, the parser accepts %v", bare, want)
	}
}

// TestStepKindString names every registered kind and marks the others.
func TestStepKindString(t *testing.T) {
	for k := StepKind(0); k < numStepKinds(); k++ {
		if got, ok := stepKindByName(k.String()); !ok || got != k {
			t.Errorf("kind %d is named %q, which looks up as %v %v", int(k), k.String(), got, ok)
		}
	}
	if s, want := numStepKinds().String(), fmt.Sprintf("step(%d)", int(numStepKinds())); s != want {
		t.Errorf("unknown kind prints %q, want %q", s, want)
	}
}

// TestStepKindsAreContiguous: the step files register kinds 0, 1, 2… with
// no gap (a gap would be a kind with no name, parse or run), each with
// what every kind needs.
func TestStepKindsAreContiguous(t *testing.T) {
	if len(stepKinds) == 0 {
		t.Fatal("no step kind registered")
	}
	for k, sk := range stepKinds {
		if sk.name == "" || sk.parse == nil || sk.compile == nil || sk.run == nil {
			t.Errorf("kind %d: %+v lacks a name, parse, compile or run (a gap in the numbers of the step files' constants?)", k, sk)
		}
	}
}
