package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbench/wsbench/report"
)

// Chained round trips (chain.go) record what the steps would: the same
// plan against the same server gives the same counters chained (--chain)
// and step by step (without it, or with --event-loops -1).

// runPlanLoops runs p with loops event loops and returns the results and
// how many round trips the loops started (the run's debug log says).
func runPlanLoops(t *testing.T, p *Plan, base string, loops int, chain bool) (*report.Results, int64) {
	t.Helper()
	reg := report.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := &chainedLog{}
	if err := Run(ctx, p, RunOptions{BaseURL: base, Registry: reg, Seed: 1, EventLoops: loops, Chain: chain, Logger: slog.New(h)}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run did not finish in time")
	}
	return reg.Results(report.Meta{}), h.n.Load()
}

// chainedLog is a slog.Handler that keeps chained_round_trips.
type chainedLog struct{ n atomic.Int64 }

func (h *chainedLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *chainedLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *chainedLog) WithGroup(string) slog.Handler            { return h }
func (h *chainedLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "chained_round_trips" {
			h.n.Store(a.Value.Int64())
		}
		return true
	})
	return nil
}

// TestChainMatchesSteps: many round trips per VU with captures, a
// listener and pings from the server (answered from the loop), counted
// exactly, chained and not.
func TestChainMatchesSteps(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		n := 0
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if n++; n%7 == 0 {
				_ = c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
			}
			if n%5 == 0 { // a message no expect waits for: the listener's
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"note"}`))
			}
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
		}
	})
	echo := expectStep("rtt", map[string]any{"op": "echo", "n": "{{seq}}"}, 5*time.Second, TimeoutFail)
	echo.Expect.Capture = map[string]string{"last": "n"}
	for _, tc := range []struct {
		loops int
		chain bool
	}{{0, true}, {1, true}, {-1, true}, {0, false}} {
		loops, chain := tc.loops, tc.chain && tc.loops >= 0
		t.Run(fmt.Sprintf("loops=%d,chain=%v", tc.loops, tc.chain), func(t *testing.T) {
			p := closedPlan(16, 1, connectStep(),
				repeatStep(150, 0, 0, sendStep(`{"op":"echo","n":{{seq}}}`), echo),
				sendStep(`{"op":"echo","n":"{{last}}"}`),
				expectStep("last", map[string]any{"op": "echo", "n": "150"}, 5*time.Second, TimeoutFail))
			p.Scenarios[0].Listeners = []Listener{{Name: "note", Match: Matcher{JSON: map[string]any{"op": "note"}}}}
			r, chained := runPlanLoops(t, p, base, loops, tc.chain)
			// Each VU sends its first request; the loops send the rest
			// unless a write did not go out whole (a few at most).
			if chain && chained < 16*140 || !chain && chained != 0 {
				t.Errorf("%d round trips chained of %d", chained, 16*150)
			}
			wantCounters(t, r, map[string]int64{
				"msgs.sent": 16 * 151, "msgs.recv": 16*151 + 16*30, "listener.note": 16 * 30,
				"iterations": 16, "iterations.failed": 0, "errors.capture": 0, "errors.expect_timeout": 0,
				"conn.closed.1000": 16,
			})
			if l := latency(t, r, "rtt"); l.Count != 16*150 {
				t.Errorf("rtt latency count %d, want %d", l.Count, 16*150)
			}
		})
	}
}

// TestChainTimeouts: a server that drops every fifth message: each drop is
// one expect timeout; with on_timeout: continue the repeat goes on (the
// loop hands the round trip back to the VU, which sends the next), with
// fail the iteration ends at the first.
func TestChainTimeouts(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		for n := 1; ; n++ {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if n%5 == 0 {
				continue
			}
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
		}
	})
	for _, tc := range []struct {
		on                 OnTimeout
		sent, rtt, timeout int64
		failed             int64
	}{
		{TimeoutContinue, 3 * 20, 3 * 16, 3 * 4, 0},
		{TimeoutFail, 3 * 5, 3 * 4, 3, 3},
	} {
		p := closedPlan(3, 1, connectStep(), repeatStep(20, 0, 0,
			sendStep(`{"op":"echo","n":{{seq}}}`),
			expectStep("rtt", map[string]any{"op": "echo", "n": "{{seq}}"}, 60*time.Millisecond, tc.on)))
		r, _ := runPlanLoops(t, p, base, 0, true)
		wantCounters(t, r, map[string]int64{
			"msgs.sent": tc.sent, "errors.expect_timeout": tc.timeout, "iterations.failed": tc.failed,
		})
		if l := latency(t, r, "rtt"); l.Count != tc.rtt {
			t.Errorf("on_timeout %v: rtt count %d, want %d", tc.on, l.Count, tc.rtt)
		}
	}
}

// TestChainDuration: a repeat with a duration ends on time while the loop
// runs it (the loop checks the end at each reply), and a cancel during a
// chained repeat stops the VUs promptly.
func TestChainDuration(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := closedPlan(4, 1, connectStep(), repeatStep(0, 300*time.Millisecond, 0,
		sendStep(`{"op":"echo"}`),
		expectStep("rtt", map[string]any{"op": "echo"}, 5*time.Second, TimeoutFail)))
	start := time.Now()
	r, _ := runPlanLoops(t, p, base, 0, true)
	if el := time.Since(start); el < 300*time.Millisecond || el > 10*time.Second {
		t.Errorf("a 300 ms repeat took %v", el)
	}
	sent, rtt := counter(r, "msgs.sent"), latency(t, r, "rtt").Count
	if sent < 4 || sent != rtt || counter(r, "iterations.failed") != 0 {
		t.Errorf("sent %d, rtt %d, failed %d: want every send answered", sent, rtt, counter(r, "iterations.failed"))
	}

	p = closedPlan(4, 0, connectStep(), repeatStep(0, time.Hour, 0,
		sendStep(`{"op":"echo"}`),
		expectStep("rtt", map[string]any{"op": "echo"}, 5*time.Second, TimeoutFail)))
	p.Scenarios[0].Load.Duration = time.Hour
	p.GracefulStop = time.Hour
	reg := report.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start = time.Now()
	if err := Run(ctx, p, RunOptions{BaseURL: base, Registry: reg, Chain: true}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Run took %v after a cancel", el)
	}
	r = reg.Results(report.Meta{})
	if counter(r, "msgs.recv") == 0 || r.Gauges["conns.open"].Last != 0 {
		t.Errorf("recv %d, conns.open %d after a cancel", counter(r, "msgs.recv"), r.Gauges["conns.open"].Last)
	}
}
