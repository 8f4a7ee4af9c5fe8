package scenario

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("wsbench.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("wsbench.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return sch
}

func validateYAML(sch *jsonschema.Schema, data []byte) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// TestSchemaAcceptsScenarios validates every example and test scenario
// against the schema, and parses each too: the two must agree.
func TestSchemaAcceptsScenarios(t *testing.T) {
	sch := compileSchema(t)
	examples, _ := filepath.Glob("../examples/*.yaml")
	own, _ := filepath.Glob("testdata/scenarios/*.yaml")
	files := append(examples, own...)
	if len(own) == 0 {
		t.Fatal("no testdata scenarios")
	}
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateYAML(sch, data); err != nil {
			t.Errorf("%s: schema: %v", f, err)
		}
		if _, err := Parse(f, data); err != nil {
			t.Errorf("%s: parse: %v", f, err)
		}
	}
}

// TestSchemaRejects checks the schema catches the common mistakes too.
func TestSchemaRejects(t *testing.T) {
	sch := compileSchema(t)
	bad := map[string]string{
		"unknown top-level":  "duration: 1s\narival_rate: 3\nsteps: [connect]",
		"no steps":           "duration: 1s",
		"vus and rate":       "scenarios: {a: {vus: 1, arrival_rate: 2, duration: 1s, steps: [connect]}}",
		"unknown step":       "duration: 1s\nsteps: [connect, {sned: {text: x}}]",
		"two payloads":       "duration: 1s\nsteps: [connect, {send: {text: x, json: {a: 1}}}]",
		"bad duration":       "duration: 10\nsteps: [connect]",
		"reserved close":     "duration: 1s\nsteps: [connect, {close: {code: 1005}}]",
		"bad reconnect":      "duration: 1s\nreconnect: sometimes\nsteps: [connect]",
		"listener no name":   "duration: 1s\nlisteners: [{json: {op: x}}]\nsteps: [connect]",
		"repeat no count":    "duration: 1s\nsteps: [connect, {repeat: {steps: [ping]}}]",
		"unknown expect key": "duration: 1s\nsteps: [connect, {expect: {jsn: {}}}]",
		"target http":        "target: http://x\nduration: 1s\nsteps: [connect]",
	}
	for name, doc := range bad {
		if err := validateYAML(sch, []byte(doc)); err == nil {
			t.Errorf("%s: schema accepted %q", name, doc)
		}
		if _, err := Parse("bad.yaml", []byte(doc)); err == nil {
			t.Errorf("%s: Parse accepted %q", name, doc)
		}
	}
}
