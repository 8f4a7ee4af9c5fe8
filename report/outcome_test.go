package report

import (
	"strings"
	"testing"
)

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		name     string
		counters map[string]int64
		want     string // substring of NotCarriedOut; "" = carried out
	}{
		{"nothing attempted", map[string]int64{}, ""},
		{"all opened", map[string]int64{"conn.opened": 10}, ""},
		{"all failed", map[string]int64{"conn.failed.refused": 7, "conn.failed.timeout": 2}, "no connection succeeded: all 9 attempt(s) failed (refused 7, timeout 2; e.g. boom)"},
		{"half failed", map[string]int64{"conn.opened": 5, "conn.failed.refused": 5}, ""},
		{"most failed", map[string]int64{"conn.opened": 4, "conn.failed.http_status": 5}, "5 of 9 connection attempts failed (http_status 5)"},
		{"zero reasons", map[string]int64{"conn.opened": 4, "conn.failed.dns": 0}, ""},
	} {
		r := &Results{Counters: c.counters, Examples: map[string]string{"conn.failed.refused": "boom"}}
		got := r.Outcome().NotCarriedOut
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: NotCarriedOut %q, want %q", c.name, got, c.want)
		}
	}
}

func TestExamplesKeptAndMerged(t *testing.T) {
	reg := NewRegistry()
	reg.Example("conn.failed.http_status", "HTTP 403 Forbidden: line one\r\nline two")
	reg.Example("conn.failed.http_status", "a later one")
	reg.Example("conn.failed.dns", strings.Repeat("é", 300))
	a := reg.Results(Meta{})
	if got := a.Examples["conn.failed.http_status"]; got != "HTTP 403 Forbidden: line one  line two" {
		t.Fatalf("example %q", got)
	}
	if got := a.Examples["conn.failed.dns"]; len(got) > exampleMax+len("…") || !strings.HasSuffix(got, "é…") {
		t.Fatalf("long example cut badly: %d bytes %q", len(got), got)
	}
	b := &Results{Examples: map[string]string{"conn.failed.http_status": "other", "conn.failed.refused": "refused one"}}
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Examples["conn.failed.http_status"] != a.Examples["conn.failed.http_status"] || m.Examples["conn.failed.refused"] != "refused one" {
		t.Fatalf("merged examples %v", m.Examples)
	}
}
