package chat

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestStringsEscapedAsEncodingJSON: a string the hub echoes into a reply
// (here the unknown name of a dm) is escaped byte for byte as encoding/json
// escapes it with HTML escaping off (wsproto.AppendJSONString), control
// characters, U+2028 and quotes included.
func TestStringsEscapedAsEncodingJSON(t *testing.T) {
	h, o := newHub(t, Config{})
	login(t, h, o, 1)
	send(h, 1, `{"op":"dm","to":"a\u2028b\bc\fd\u0001\"<&>","text":"x","id":7}`)
	got := o.take(1)
	if len(got) != 1 {
		t.Fatalf("got %d frames, want 1 error", len(got))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode("no user named a\u2028b\bc\fd\x01\"<&>"); err != nil {
		t.Fatal(err)
	}
	want := `"message":` + strings.TrimSpace(buf.String())
	if !strings.Contains(got[0].payload, want) {
		t.Fatalf("error frame %s does not hold %s", got[0].payload, want)
	}
	if m := decode(t, got[0].payload); m["code"] != CodeUnknownUser {
		t.Fatalf("error frame %s: code %v", got[0].payload, m["code"])
	}
}
