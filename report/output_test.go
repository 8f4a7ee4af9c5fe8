package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFormats: every format renders the fixture with what makes it that
// format, the names are unique, and the series format follows the file's
// name.
func TestFormats(t *testing.T) {
	res := fixtureResults(t)
	cmp := Compare(res, res, 0.1)
	starts := map[string]string{
		"table":  "scenario:",
		"json":   "{",
		"html":   "<!doctype html>",
		"series": "t,time,metric,kind,value",
	}
	seen := map[string]bool{}
	for _, f := range Formats() {
		if seen[f.Name] {
			t.Fatalf("format %q listed twice", f.Name)
		}
		seen[f.Name] = true
		if !f.Stdout && f.File == "" {
			t.Errorf("format %q can be written neither on stdout nor to a file", f.Name)
		}
		rep, err := f.Reporter("out.csv")
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		var buf bytes.Buffer
		if err := rep(&buf, res); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		want, ok := starts[f.Name]
		if !ok {
			t.Errorf("format %q: add what its output starts with to this test", f.Name)
		}
		if got := strings.TrimSpace(buf.String()); !strings.HasPrefix(strings.ToLower(got), want) {
			t.Errorf("%s output starts %.40q, want %q", f.Name, got, want)
		}
		if f.Comparison != nil {
			buf.Reset()
			if err := f.Comparison(&buf, cmp); err != nil || buf.Len() == 0 {
				t.Errorf("%s comparison: %v, %d bytes", f.Name, err, buf.Len())
			}
		}
	}
	if got := StdoutFormats(); got != "table or json" {
		t.Errorf("StdoutFormats() = %q", got)
	}
	series, _ := LookupFormat("series")
	if _, err := series.Reporter("out.txt"); err == nil || !strings.Contains(err.Error(), "name it .csv or .jsonl") {
		t.Errorf("series to out.txt: err = %v", err)
	}
	rep, _ := series.Reporter("out.jsonl")
	var buf bytes.Buffer
	if err := rep(&buf, res); err != nil || !strings.HasPrefix(buf.String(), `{"t":`) {
		t.Errorf("series to .jsonl: %v, %.30q", err, buf.String())
	}
	if _, ok := LookupFormat("yaml"); ok {
		t.Error("LookupFormat found a format that does not exist")
	}
}

// recordingSink remembers what it was given, failing from interval
// failAt on (0: never).
type recordingSink struct {
	got    []time.Duration
	failAt int
	closed int
}

func (s *recordingSink) Interval(iv *Interval) error {
	s.got = append(s.got, iv.Elapsed)
	if s.failAt > 0 && len(s.got) >= s.failAt {
		return errors.New("disk full")
	}
	return nil
}

func (s *recordingSink) Close() error { s.closed++; return nil }

// TestSinks: every sink gets every interval until it fails; its first
// error comes back from Close, named; Close closes each sink once.
func TestSinks(t *testing.T) {
	ivs := feed(NewRegistry(), 4, 1)
	good, bad := &recordingSink{}, &recordingSink{failAt: 2}
	var s Sinks
	s.Add("good", good)
	s.Add("--hlog x.hlog", bad)
	for _, iv := range ivs {
		if err := s.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Close()
	if err == nil || err.Error() != "--hlog x.hlog: disk full" {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	if len(good.got) != 4 || len(bad.got) != 2 || good.closed != 1 || bad.closed != 1 {
		t.Fatalf("good got %d, closed %d; bad got %d, closed %d", len(good.got), good.closed, len(bad.got), bad.closed)
	}
}

// TestFeed: Feed closes intervals until done, then the last one at once,
// and returns its end.
func TestFeed(t *testing.T) {
	reg := NewRegistry()
	reg.StartAt(time.Now())
	done := make(chan struct{})
	sink := &recordingSink{}
	calls := 0
	end := Feed(sink, time.Millisecond, done, func(now time.Time) *Interval {
		calls++
		if calls == 3 {
			close(done)
		}
		return reg.Tick(now)
	})
	if len(sink.got) < 3 || sink.closed != 0 {
		t.Fatalf("%d intervals, closed %d: want at least 3, not closed", len(sink.got), sink.closed)
	}
	if end.Before(reg.Start()) || sink.got[len(sink.got)-1] != end.Sub(reg.Start()) {
		t.Fatalf("end %v does not close the last interval (elapsed %v)", end, sink.got[len(sink.got)-1])
	}
}

// TestProgressMinSpan: the sliver of an interval at the end of a run is
// not shown.
func TestProgressMinSpan(t *testing.T) {
	reg := NewRegistry()
	reg.StartAt(t0)
	var buf bytes.Buffer
	p := &Progress{W: &buf, TTY: true, MinSpan: 500 * time.Millisecond}
	_ = p.Interval(reg.Tick(t0.Add(time.Second)))
	_ = p.Interval(reg.Tick(t0.Add(time.Second + 100*time.Millisecond)))
	_ = p.Close()
	if n := strings.Count(buf.String(), "\r\x1b[K"); n != 1 {
		t.Fatalf("%d lines, want 1 (the 100ms sliver left out): %q", n, buf.String())
	}
}
