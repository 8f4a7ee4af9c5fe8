package inspect

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/wsbench/wsbench/internal/trace"
)

// TestHARMatchesSchema holds the HAR that --har writes to the HAR 1.2
// specification, as the har-schema package writes it down (the schema the
// HAR viewers of the npm world validate with), and checks that the schema
// also accepts the export taken from Chromium, so that it is the right
// yardstick. A file missing a field the spec requires (a response's
// `content`, an entry's `timings`) fails here.
func TestHARMatchesSchema(t *testing.T) {
	files, err := filepath.Glob("testdata/har-schema/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	c := jsonschema.NewCompiler()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource("file:///har-schema/"+filepath.Base(f), doc); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile("file:///har-schema/har.json")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(name string, r io.Reader) {
		t.Helper()
		inst, err := jsonschema.UnmarshalJSON(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s does not match HAR 1.2: %v", name, err)
		}
	}

	chromium, err := os.Open("testdata/chromium-chat.har")
	if err != nil {
		t.Fatal(err)
	}
	defer chromium.Close()
	validate("Chromium's export", chromium)

	hw := NewHARWriter("test")
	s := NewSession(io.Discard, SessionOptions{Observer: hw})
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s.setStart(t0)
	s.Handshake(1, t0, []byte("GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nCookie: a=b\r\n\r\n"),
		[]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	s.Data(1, trace.ClientToServer, t0.Add(time.Millisecond), frameBytes(true, OpText, true, []byte(`{"op":"nick"}`)))
	s.Data(1, trace.ServerToClient, t0.Add(2*time.Millisecond), frameBytes(true, OpBinary, false, []byte{0, 0xff}))
	s.Handshake(2, t0, []byte("GET /echo?x=1&y HTTP/1.1\r\nHost: example.test\r\n\r\n"),
		[]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
	var buf bytes.Buffer
	if err := hw.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "_webSocketMessages") {
		t.Fatalf("no messages written:\n%s", buf.String())
	}
	validate("inspect --har", &buf)
}
