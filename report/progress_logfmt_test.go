package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestLogfmtProgress(t *testing.T) {
	r := NewRegistry()
	ivs := feed(r, 2, 1)
	var buf bytes.Buffer
	p := &LogfmtProgress{W: &buf, Main: []string{"nosuch", "delivery"}, Segment: "1/4:2/4"}
	p.Update(ivs[0])
	p.Update(ivs[1])
	p.Done()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per interval:\n%s", len(lines), buf.String())
	}
	fields := map[string]string{}
	for _, kv := range strings.Fields(lines[1]) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			t.Fatalf("%q is not key=value in %q", kv, lines[1])
		}
		fields[k] = v
	}
	for k, want := range map[string]string{
		"level": "INFO", "msg": "progress", "segment": "1/4:2/4", "elapsed": "2s",
		"vus": "100", "conns": "80", "out_per_s": "1000", "in_per_s": "2000",
		"errors": "1", "errors_delta": "1", "latency": "delivery", "p99": "11.002ms",
	} {
		if fields[k] != want {
			t.Errorf("%s=%q, want %q in %q", k, fields[k], want, lines[1])
		}
	}
	if want := ivs[1].End.UTC().Format("2006-01-02T15:04:05.000Z"); fields["time"] != want {
		t.Errorf("time=%q, want the interval's end %s", fields["time"], want)
	}
	quiet := &LogfmtProgress{W: &buf, Quiet: true}
	buf.Reset()
	quiet.Update(ivs[0])
	if buf.Len() != 0 {
		t.Errorf("quiet progress wrote %q", buf.String())
	}
}
