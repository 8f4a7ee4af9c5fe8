package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wsbench/wsbench"

// forbidden lists, for each part, the parts it must never depend on, even
// through another package: the one-way arrows of ARCHITECTURE.md. A part is
// a package path below the module and everything under it.
var forbidden = map[string][]string{
	"dialer":   {"cmd", "scenario", "report", "target", "internal/trace", "internal/inspect"},
	"report":   {"cmd", "scenario", "target", "dialer", "internal/trace", "internal/inspect"},
	"target":   {"cmd", "scenario", "dialer", "report", "internal/trace", "internal/inspect"},
	"scenario": {"cmd", "target", "internal/trace", "internal/inspect"},
	// The trace file format is shared by `run --trace` and inspect: it
	// knows neither of them.
	"internal/trace": {"cmd", "scenario", "target", "report", "internal/inspect"},
	// Inspect may use the wire (dialer, wsproto) and the trace format.
	"internal/inspect": {"cmd", "scenario", "target", "report", "internal/socketio", "internal/jsonscan"},
	// The scenario generator reads recordings through inspect and writes
	// scenario YAML as text: it knows no scenario, server or report (its
	// tests check the output with the scenario parser).
	"internal/recgen": {"cmd", "scenario", "target", "report"},
	// The leaves know nothing of wsbench.
	"internal/wsproto":  {""},
	"internal/jsonscan": {""},
	"internal/clock":    {""},
}

// TestDependencyDirection fails when a package imports, directly or
// through others, a part it must not know about.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		part := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for owner, bans := range forbidden {
			if !under(part, owner) {
				continue
			}
			checked++
			for _, dep := range p.Deps {
				if !strings.HasPrefix(dep, module+"/") {
					continue
				}
				d := strings.TrimPrefix(dep, module+"/")
				for _, ban := range bans {
					if ban == "" || under(d, ban) {
						t.Errorf("%s depends on %s: %s must not know about %s (see ARCHITECTURE.md)", part, d, owner, orAll(ban))
					}
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d packages checked; is the module path %s still right?", checked, module)
	}
}

func under(pkg, part string) bool {
	return pkg == part || strings.HasPrefix(pkg, part+"/")
}

func orAll(ban string) string {
	if ban == "" {
		return "any other wsbench package"
	}
	return ban
}
