package scenario

import (
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRunSegmentsReproduceWholeRun runs the same plan as three segments
// against a real server and checks that together they ran every VU number
// once and every arrival once.
func TestRunSegmentsReproduceWholeRun(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{} // VU number → messages
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m struct{ VU int }
			if json.Unmarshal(p, &m) == nil {
				mu.Lock()
				seen[m.VU]++
				mu.Unlock()
			}
			if c.WriteMessage(op, p) != nil {
				return
			}
		}
	})
	steps := []Step{connectStep(), sendStep(`{"op":"echo","vu":{{vu}}}`),
		expectStep("echo", map[string]any{"op": "echo"}, 2*time.Second, TimeoutFail)}
	closed := closedPlan(7, 2, steps...)
	open := &Plan{File: "open.yaml", GracefulStop: 2 * time.Second, Scenarios: []*Scenario{{
		Name: "o", Weight: 1, Load: Load{Model: Open, Rate: 40, Duration: 500 * time.Millisecond, MaxVUs: 30}, Steps: steps,
	}}}
	segs := mustSegments(t, "0:1/3", "1/3:2/3", "2/3:1")
	for _, s := range segs {
		r := runPlan(t, closed, base, s)
		if got, want := counter(r, "iterations"), int64(2*s.Scale(7)); got != want {
			t.Errorf("segment %s: %d closed-model iterations, want %d", s, got, want)
		}
	}
	mu.Lock()
	if len(seen) != 7 {
		t.Errorf("closed model over 3 segments: VUs %v, want 1…7", seen)
	}
	for vu := 1; vu <= 7; vu++ {
		if seen[vu] != 2 {
			t.Errorf("VU %d sent %d messages, want 2 (one per iteration)", vu, seen[vu])
		}
	}
	clear(seen)
	mu.Unlock()

	var openRuns int64
	for _, s := range segs {
		r := runPlan(t, open, base, s)
		openRuns += counter(r, "iterations") + counter(r, "arrivals.dropped")
	}
	if openRuns != 20 {
		t.Errorf("open model over 3 segments: %d arrivals, want 20", openRuns)
	}
	mu.Lock()
	defer mu.Unlock()
	var vus []int
	for vu := range seen {
		vus = append(vus, vu)
	}
	sort.Ints(vus)
	if len(vus) == 0 || vus[0] < 1 || vus[len(vus)-1] > 30 {
		t.Errorf("open-model VU numbers %v outside 1…30", vus)
	}
}

// TestRunParsedScenario runs a plan produced by the YAML parser, so the
// runner and the parser agree on the Plan.
func TestRunParsedScenario(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"welcome","name":"me"}`))
		echoHandler(time.Millisecond)(0, c)
	})
	src := `
target: ws://127.0.0.1:1
graceful_stop: 2s
scenarios:
  talk:
    vus: 2
    iterations: 2
    listeners:
      - {name: delivery, match: {json: {op: say}}, latency_from: ts, latency_unit: ns, sequence: {sender: from, field: seq}}
    steps:
      - connect
      - expect: {name: welcome, json: {op: welcome}, timeout: 2s, capture: {me: name}}
      - repeat:
          count: 5
          every: 10ms
          steps:
            - send: {name: say, json: {op: say, from: "{{me}}-{{vu}}", ts: "{{now_ns}}", seq: "{{seq}}"}}
            - expect: {name: rt, json: {op: say}, timeout: 2s}
      - ping: {name: ping, timeout: 2s}
      - close: {code: 1000, reason: bye}
  burst:
    arrival_rate: 20
    max_vus: 10
    duration: 500ms
    steps:
      - connect
      - send: {text: "hello {{rand_string 8}}"}
      - expect: {regex: "^hello (\\w+)", capture: {word: $1}, timeout: 2s}
      - send: {random_bytes: 64}
      - close
`
	p, err := Parse("inline.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{
		"iterations": 4 + 10, "iterations.failed": 0, "listener.delivery": 20, "delivery.lost": 0,
		"delivery.duplicate": 0, "delivery.reordered": 0, "conn.closed.1000": 14, "errors.capture": 0,
	})
	for name, n := range map[string]int64{"rt": 20, "rt.raw": 20, "welcome": 4, "ping": 4, "delivery": 20} {
		if l := latency(t, r, name); l.Count != n {
			t.Errorf("%s count %d, want %d", name, l.Count, n)
		}
	}
}

func TestDefaultLoops(t *testing.T) {
	for _, c := range []struct {
		procs int
		chain bool
		want  int
	}{
		{1, false, 1}, {2, false, 1}, {3, false, 1}, {4, false, 2}, {16, false, 8},
		{1, true, 1}, {2, true, 2}, {16, true, 16}, {0, false, 1}, {0, true, 1},
	} {
		if got := defaultLoops(c.procs, c.chain); got != c.want {
			t.Errorf("defaultLoops(%d, %v) = %d, want %d", c.procs, c.chain, got, c.want)
		}
	}
}
