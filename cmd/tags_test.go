package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// taggedScenario has two scenarios in one room of the builtin server:
// talkers say five messages each and wait for their acks (tagged
// room=hall), lurkers only listen. Each lurker sends exactly two messages
// (nick, join), so a threshold on the lurkers' series can be exact.
const taggedScenario = `target: builtin
connect: {path: /chat}
duration: 3s
graceful_stop: 3s
thresholds:
  - "msgs.sent{scenario=lurkers} count == 8"
  - "msgs.sent count == 8"
  - "delivery{scenario=lurkers} count > 0"
  - "ack{room=hall} count == 0"
scenarios:
  talkers:
    vus: 2
    iterations: 1
    listeners: &l
      - {name: delivery, match: {json: {op: said, history: null}}, latency_from: ts, latency_unit: ns}
    steps:
      - connect
      - send: {json: {op: nick, name: "t{{vu}}"}}
      - expect: {name: nick, json: {op: welcome}, timeout: 5s}
      - send: {json: {op: join, room: hall}}
      - expect: {name: join, json: {op: joined}, timeout: 5s}
      - think: 500ms
      - repeat:
          count: 5
          every: 100ms
          steps:
            - send: {json: {op: say, room: hall, text: hi, ts: "{{now_ns}}", id: "{{seq}}"}}
            - expect: {name: ack, json: {op: ack}, timeout: 5s}
        tags: {room: hall}
      - think: 500ms
      - close
  lurkers:
    vus: 4
    iterations: 1
    listeners: *l
    steps:
      - connect
      - send: {json: {op: nick, name: "l{{vu}}"}}
      - expect: {name: nick, json: {op: welcome}, timeout: 5s}
      - send: {json: {op: join, room: hall}}
      - expect: {name: join, json: {op: joined}, timeout: 5s}
      - think: 2s
      - close
`

// TestRunPerScenarioSeries runs two scenarios over real sockets against
// the builtin server: the results keep each scenario's (and the tagged
// step's) series apart and adding up to the totals, the summary shows
// them, and thresholds on one series pass or fail on that series alone.
func TestRunPerScenarioSeries(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tags.yaml")
	if err := os.WriteFile(file, []byte(taggedScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results.json")
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{File: file, Out: out, Format: "table", Quiet: true, LogLevel: "error", Stdout: &stdout, Stderr: &stderr})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitThreshold {
		t.Fatalf("run: %v (want exit %d: two thresholds fail)\nstderr:\n%s", err, ExitThreshold, stderr.String())
	}
	res := readResultsFile(t, out)

	for _, name := range []string{"delivery", "nick", "connect"} {
		tot, _ := res.Latency(name)
		tk, _ := res.Latency(name + "{scenario=talkers}")
		lk, _ := res.Latency(name + "{scenario=lurkers}")
		if tot.Count == 0 || tk.Count == 0 || lk.Count == 0 || tot.Count != tk.Count+lk.Count {
			t.Errorf("%s: total %d, talkers %d, lurkers %d", name, tot.Count, tk.Count, lk.Count)
		}
	}
	if lk, _ := res.Latency("nick{scenario=lurkers}"); lk.Count != 4 {
		t.Errorf("nick of the lurkers: %d samples, want 4", lk.Count)
	}
	ack, _ := res.Latency("ack")
	tagged, _ := res.Latency("ack{room=hall,scenario=talkers}")
	if ack.Count != 10 || tagged.Count != 10 {
		t.Errorf("ack: total %d, tagged series %d; want 10 each", ack.Count, tagged.Count)
	}
	if _, ok := res.Latency("ack{scenario=talkers}"); ok {
		t.Errorf("the tagged step also recorded into the scenario's own series")
	}
	if res.Counters["msgs.sent{scenario=lurkers}"] != 8 || res.Counters["msgs.sent"] != res.Counters["msgs.sent{scenario=lurkers}"]+res.Counters["msgs.sent{scenario=talkers}"] {
		t.Errorf("msgs.sent: %v", res.Counters)
	}
	if g := res.Gauges["vus{scenario=lurkers}"]; g.Max != 4 {
		t.Errorf("vus of the lurkers: %+v", g)
	}

	verdicts := map[string]bool{}
	for _, v := range res.Thresholds {
		verdicts[v.Expr] = v.Pass
	}
	for expr, pass := range map[string]bool{
		"msgs.sent{scenario=lurkers} count == 8": true,
		"msgs.sent count == 8":                   false,
		"delivery{scenario=lurkers} count > 0":   true,
		"ack{room=hall} count == 0":              false,
	} {
		if got, ok := verdicts[expr]; !ok || got != pass {
			t.Errorf("%s: pass %v (present %v), want %v", expr, got, ok, pass)
		}
	}
	summary := stdout.String()
	for _, want := range []string{"Per series", "delivery{scenario=lurkers}", "delivery{scenario=talkers}", "ack{room=hall,scenario=talkers}", "{scenario=lurkers}"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}

	// The same run as two segments, merged by `report`: every series adds
	// up exactly.
	var segs []string
	for _, seg := range []string{"0:1/2", "1/2:1"} {
		f := filepath.Join(dir, strings.ReplaceAll(seg, "/", "_")+".json")
		var so, se bytes.Buffer
		err := runRun(context.Background(), &runOptions{File: file, Out: f, Segment: seg, Format: "json", Quiet: true, LogLevel: "error", Stdout: &so, Stderr: &se})
		if err != nil && !(errors.As(err, &ee) && ee.Code == ExitThreshold) {
			t.Fatalf("segment %s: %v\n%s", seg, err, se.String())
		}
		segs = append(segs, f)
	}
	merged := filepath.Join(dir, "merged.json")
	var so, se bytes.Buffer
	err = runReport(context.Background(), &reportOptions{Files: segs, Out: merged, Format: "json", Stdout: &so, Stderr: &se})
	if err != nil && !(errors.As(err, &ee) && ee.Code == ExitThreshold) {
		t.Fatalf("report merge: %v\n%s", err, se.String())
	}
	m := readResultsFile(t, merged)
	a, b := readResultsFile(t, segs[0]), readResultsFile(t, segs[1])
	for _, l := range m.Latencies {
		la, _ := a.Latency(l.Name)
		lb, _ := b.Latency(l.Name)
		if l.Count != la.Count+lb.Count {
			t.Errorf("merged %s: %d samples, segments %d + %d", l.Name, l.Count, la.Count, lb.Count)
		}
	}
	if m.Counters["msgs.sent{scenario=lurkers}"] != 8 || m.Counters["msgs.sent{scenario=talkers}"] != a.Counters["msgs.sent{scenario=talkers}"]+b.Counters["msgs.sent{scenario=talkers}"] {
		t.Errorf("merged counters: %v", m.Counters)
	}
	for _, v := range m.Thresholds {
		if v.Expr == "msgs.sent{scenario=lurkers} count == 8" && !v.Pass {
			t.Errorf("merged verdict of the lurkers' series: %+v", v)
		}
	}
}

// TestCheckRejectsUnknownSelector: --check rejects a threshold selecting a
// scenario that does not exist, with a did-you-mean.
func TestCheckRejectsUnknownSelector(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tags.yaml")
	src := strings.Replace(taggedScenario, `"msgs.sent count == 8"`, `"delivery{scenario=lurker} p99 < 1s"`, 1)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{File: file, Check: true, Format: "table", Stdout: &stdout, Stderr: &stderr})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), "no series has scenario=lurker") ||
		!strings.Contains(err.Error(), "did you mean `lurkers`?") || !strings.Contains(err.Error(), "tags.yaml:") {
		t.Fatalf("--check with an unknown scenario in a selector: %v", err)
	}
}
