package chat

import (
	"os"
	"strings"
	"testing"
)

// TestProtocolDocInSync checks that docs/protocol.md names every error code
// and every op the hub speaks, so the spec cannot silently fall behind.
func TestProtocolDocInSync(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatalf("read protocol spec: %v", err)
	}
	codes := []string{CodeBadJSON, CodeUnknownOp, CodeMissingField, CodeBadName, CodeNickTaken, CodeNoNick,
		CodeNotInRoom, CodeUnknownUser, CodeTooManyRooms, CodeRateLimited, CodeTooLong, CodeInternal}
	for _, c := range codes {
		if !strings.Contains(string(doc), "| `"+c+"` |") {
			t.Errorf("docs/protocol.md: error code %s missing from the table", c)
		}
	}
	ops := []string{"nick", "join", "leave", "say", "shout", "dm", "echo", "rooms", // client
		"welcome", "joined", "left", "presence", "said", "shouted", "ack", "error"} // server
	for _, op := range ops {
		if !strings.Contains(string(doc), `{"op":"`+op+`"`) {
			t.Errorf("docs/protocol.md: no JSON example of op %s", op)
		}
	}
	for _, field := range []string{`"exclude_self"`, `"srv_ts"`, `"history":true`, `"members"`, `"rooms":[{"room":`, `"total"`} {
		if !strings.Contains(string(doc), field) {
			t.Errorf("docs/protocol.md: field %s undocumented", field)
		}
	}
}
