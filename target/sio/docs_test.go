package sio

import (
	"os"
	"strings"
	"testing"
)

// TestDocsInSync checks that docs/socketio.md lists every event the
// endpoint maps and every flag of `serve` that configures it.
func TestDocsInSync(t *testing.T) {
	doc, err := os.ReadFile("../../docs/socketio.md")
	if err != nil {
		t.Fatal(err)
	}
	for ev := range argForms {
		if !strings.Contains(string(doc), "| `"+ev+"` |") {
			t.Errorf("docs/socketio.md: event %s missing from the events table", ev)
		}
	}
	for _, flag := range []string{"--sio-ping-interval", "--sio-ping-timeout", "--sio-max-payload", "--sio-poll-timeout", "--sio-sessions-per-ip", "unknown_event", "binary_unsupported"} {
		if !strings.Contains(string(doc), flag) {
			t.Errorf("docs/socketio.md: %s undocumented", flag)
		}
	}
}
