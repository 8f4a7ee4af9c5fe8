package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbench/wsbench/report"
)

// Test helpers shared by the runner's tests: small gorilla/websocket
// servers on 127.0.0.1 and Plans built directly in Go.

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// wsServer serves handle for every WebSocket connection and returns the
// ws:// base URL.
func wsServer(t testing.TB, handle func(n int, c *websocket.Conn)) string {
	t.Helper()
	var conns atomic.Int64
	var wg sync.WaitGroup
	// closing stops new handlers from joining wg once cleanup waits on it
	// (WaitGroup.Add racing Wait is a data race).
	var mu sync.Mutex
	closing := false
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		if closing {
			mu.Unlock()
			c.Close()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		defer c.Close()
		handle(int(conns.Add(1)), c)
	}))
	srv.Config.ErrorLog = nil
	srv.Start()
	t.Cleanup(func() {
		mu.Lock()
		closing = true
		mu.Unlock()
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return "ws://" + srv.Listener.Addr().String()
}

// echoHandler echoes every data message, after delay.
func echoHandler(delay time.Duration) func(int, *websocket.Conn) {
	return func(_ int, c *websocket.Conn) {
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
		}
	}
}

func connectStep() Step { return Step{Kind: StepConnect, Connect: &ConnectStep{}} }

func sendStep(body string) Step {
	return Step{Kind: StepSend, Send: &SendStep{Kind: PayloadJSON, Body: mustTemplate(body)}}
}

func expectStep(name string, match map[string]any, timeout time.Duration, on OnTimeout) Step {
	return Step{Kind: StepExpect, Expect: &ExpectStep{Name: name, Match: Matcher{JSON: match}, Timeout: timeout, OnTimeout: on}}
}

func thinkStep(d time.Duration) Step { return Step{Kind: StepThink, Think: &ThinkStep{Fixed: d}} }

func repeatStep(count int, dur, every time.Duration, steps ...Step) Step {
	return Step{Kind: StepRepeat, Repeat: &RepeatStep{Count: count, Duration: dur, Every: every, Steps: steps}}
}

func closedPlan(vus, iters int, steps ...Step) *Plan {
	return &Plan{File: "test.yaml", GracefulStop: 2 * time.Second, Scenarios: []*Scenario{{
		Name: "s", Weight: 1, Load: Load{Model: Closed, VUs: vus, Iterations: iters}, Steps: steps,
	}}}
}

// runPlan runs p against base with a fresh registry and returns the results.
func runPlan(t testing.TB, p *Plan, base string, seg Segment) *report.Results {
	t.Helper()
	reg := report.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Run(ctx, p, RunOptions{BaseURL: base, Registry: reg, Segment: seg, Seed: 1}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Run did not finish in time")
	}
	return reg.Results(report.Meta{})
}

func counter(r *report.Results, name string) int64 { return r.Counters[name] }

func latency(t testing.TB, r *report.Results, name string) report.LatencyStats {
	t.Helper()
	l, ok := r.Latency(name)
	if !ok {
		t.Fatalf("no latency metric %q (have %v)", name, r.Latencies)
	}
	return l
}

func wantCounters(t *testing.T, r *report.Results, want map[string]int64) {
	t.Helper()
	for name, n := range want {
		if got := counter(r, name); got != n {
			t.Errorf("counter %s = %d, want %d", name, got, n)
		}
	}
}

func TestEchoCountsExact(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := closedPlan(3, 5,
		connectStep(),
		repeatStep(4, 0, 0,
			sendStep(`{"op":"echo","vu":{{vu}},"n":{{seq}}}`),
			expectStep("echo", map[string]any{"op": "echo", "vu": "{{vu}}"}, 2*time.Second, TimeoutFail),
		),
	)
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{
		"msgs.sent": 60, "msgs.recv": 60, "iterations": 15, "iterations.failed": 0,
		"conn.opened": 15, "conn.closed.1000": 15, "errors.expect_timeout": 0, "errors.closed_by_peer": 0,
	})
	if l := latency(t, r, "echo"); l.Count != 60 {
		t.Errorf("echo latency count %d, want 60", l.Count)
	}
	if l := latency(t, r, "connect"); l.Count != 15 {
		t.Errorf("connect latency count %d, want 15", l.Count)
	}
	if g := r.Gauges["vus"]; g.Max != 3 || g.Last != 0 {
		t.Errorf("vus gauge %+v, want max 3 last 0", g)
	}
	if g := r.Gauges["conns.open"]; g.Last != 0 || g.Max < 1 {
		t.Errorf("conns.open gauge %+v", g)
	}
}

func TestLatencyIncludesServerDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	base := wsServer(t, echoHandler(delay))
	p := closedPlan(1, 1, connectStep(), repeatStep(10, 0, 0,
		sendStep(`{"op":"echo"}`),
		expectStep("rt", map[string]any{"op": "echo"}, 2*time.Second, TimeoutFail)))
	r := runPlan(t, p, base, Segment{})
	l := latency(t, r, "rt")
	if l.Count != 10 {
		t.Fatalf("count %d, want 10", l.Count)
	}
	if l.P50 < delay || l.P50 >= delay+150*time.Millisecond {
		t.Errorf("p50 %v, want in [%v, %v)", l.P50, delay, delay+150*time.Millisecond)
	}
	if l.Min < delay {
		t.Errorf("min %v below the server delay %v", l.Min, delay)
	}
}

func TestCoordinatedOmissionCorrection(t *testing.T) {
	// The server stalls once for 1 s; the VU sends every 10 ms.
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		for n := 1; ; n++ {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if n == 20 {
				time.Sleep(time.Second)
			}
			if c.WriteMessage(op, p) != nil {
				return
			}
		}
	})
	p := closedPlan(1, 1, connectStep(), repeatStep(0, 2*time.Second, 10*time.Millisecond,
		sendStep(`{"op":"echo","n":{{seq}}}`),
		expectStep("paced", map[string]any{"op": "echo"}, 5*time.Second, TimeoutFail)))
	r := runPlan(t, p, base, Segment{})
	cor, raw := latency(t, r, "paced"), latency(t, r, "paced.raw")
	if cor.Count != raw.Count || cor.Count < 150 {
		t.Fatalf("counts corrected %d raw %d, want equal and ≥150", cor.Count, raw.Count)
	}
	if cor.Max < 900*time.Millisecond || cor.P99 < 800*time.Millisecond {
		t.Errorf("corrected max %v p99 %v: the 1 s stall is hidden", cor.Max, cor.P99)
	}
	if raw.Max < 900*time.Millisecond {
		t.Errorf("raw max %v: the stalled message itself took 1 s", raw.Max)
	}
	if raw.P99 > 500*time.Millisecond {
		t.Errorf("raw p99 %v: only one raw sample should be slow", raw.P99)
	}
	if cor.P50 <= raw.P50 {
		t.Errorf("corrected p50 %v not above raw p50 %v", cor.P50, raw.P50)
	}
}

func TestExpectFindsMessageThatArrivedEarly(t *testing.T) {
	// A welcome right after the upgrade and a reply that arrives during a
	// think: both must be found by the expects that start later.
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"welcome","name":"x"}`))
		echoHandler(0)(0, c)
	})
	capt := expectStep("welcome", map[string]any{"op": "welcome"}, time.Second, TimeoutFail)
	capt.Expect.Capture = map[string]string{"who": "name"}
	p := closedPlan(1, 2, connectStep(), thinkStep(50*time.Millisecond), capt,
		sendStep(`{"op":"echo","who":"{{who}}"}`), thinkStep(50*time.Millisecond),
		expectStep("back", map[string]any{"op": "echo", "who": "x"}, time.Second, TimeoutFail))
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{"iterations": 2, "iterations.failed": 0, "errors.expect_timeout": 0, "errors.capture": 0})
	if l := latency(t, r, "back"); l.Count != 2 || l.Max >= 50*time.Millisecond {
		t.Errorf("back latency %+v: want 2 samples timed at arrival, not at the expect", l)
	}
}

func TestExpectTimeoutFailAndContinue(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := closedPlan(1, 2, connectStep(),
		sendStep(`{"op":"echo"}`),
		expectStep("never", map[string]any{"op": "nope"}, 50*time.Millisecond, TimeoutContinue),
		expectStep("never2", map[string]any{"op": "nope"}, 50*time.Millisecond, TimeoutFail),
		sendStep(`{"op":"unreached"}`))
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{"errors.expect_timeout": 4, "iterations": 2, "iterations.failed": 2, "msgs.sent": 2})
}

func TestPingAndCloseSteps(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := closedPlan(2, 3, connectStep(),
		Step{Kind: StepPing, Ping: &PingStep{Name: "rtt", Payload: []byte("hi")}},
		Step{Kind: StepClose, Close: &CloseStep{Code: 1000, Reason: "bye"}})
	r := runPlan(t, p, base, Segment{})
	if l := latency(t, r, "rtt"); l.Count != 6 {
		t.Errorf("ping count %d, want 6", l.Count)
	}
	wantCounters(t, r, map[string]int64{"conn.closed.1000": 6, "iterations.failed": 0, "errors.close_timeout": 0})
}

func TestGroupAndThink(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := closedPlan(1, 3, connectStep(), Step{Kind: StepGroup, Group: &GroupStep{Name: "g", Steps: []Step{
		thinkStep(20 * time.Millisecond),
		{Kind: StepThink, Think: &ThinkStep{Dist: ThinkUniform, Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}},
		{Kind: StepThink, Think: &ThinkStep{Dist: ThinkExponential, Mean: time.Millisecond}},
	}}})
	r := runPlan(t, p, base, Segment{})
	if l := latency(t, r, "g"); l.Count != 3 || l.Min < 25*time.Millisecond {
		t.Errorf("group latency %+v, want 3 samples ≥ 25ms", l)
	}
}

// seqServer sends a scripted list of messages when asked with "go", then "end".
func TestListenersCountDeliveryAndSequence(t *testing.T) {
	script := []struct {
		from string
		seq  int
	}{{"a", 1}, {"a", 2}, {"a", 4}, {"a", 3}, {"a", 3}, {"a", 5}, {"b", 1}, {"b", 5}}
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
		for _, m := range script {
			ts := time.Now().Add(-5 * time.Millisecond).UnixMicro()
			msg := fmt.Sprintf(`{"op":"said","from":%q,"seq":%d,"ts":%d}`, m.from, m.seq, ts)
			_ = c.WriteMessage(websocket.TextMessage, []byte(msg))
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"other"}`))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"end"}`))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	p := closedPlan(1, 1, connectStep(), sendStep(`{"op":"go"}`),
		expectStep("end", map[string]any{"op": "end"}, 2*time.Second, TimeoutFail))
	p.Scenarios[0].Listeners = []Listener{{
		Name: "delivery", Match: Matcher{JSON: map[string]any{"op": "said"}},
		LatencyField: "ts", LatencyUnit: time.Microsecond, SenderField: "from", SeqField: "seq",
	}}
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{
		"listener.delivery": 8, "delivery.lost": 3, "delivery.duplicate": 1, "delivery.reordered": 1,
		"msgs.recv": 10, "iterations.failed": 0,
	})
	l := latency(t, r, "delivery")
	if l.Count != 8 || l.Min < 5*time.Millisecond || l.Max > time.Second {
		t.Errorf("delivery latency %+v, want 8 samples ≥ 5ms", l)
	}
}

// dropFirst echoes but drops the first connection after 3 messages.
func dropFirst(n int, c *websocket.Conn) {
	for k := 1; ; k++ {
		op, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
		if n == 1 && k == 3 {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1001, "going away"), time.Now().Add(time.Second))
			return
		}
	}
}

func TestReconnectAfterServerDrop(t *testing.T) {
	for _, tc := range []struct {
		mode                  ReconnectMode
		iters, failed, reconn int64
	}{
		{ReconnectOff, 1, 1, 0},
		{ReconnectImmediate, 1, 0, 1},
		{ReconnectBackoff, 1, 0, 1},
	} {
		t.Run(fmt.Sprint(tc.mode), func(t *testing.T) {
			base := wsServer(t, dropFirst)
			p := closedPlan(1, 1, connectStep(), repeatStep(6, 0, 0,
				sendStep(`{"op":"echo"}`),
				thinkStep(5*time.Millisecond),
				expectStep("echo", map[string]any{"op": "echo"}, 2*time.Second, TimeoutFail)))
			p.Scenarios[0].Reconnect = Reconnect{Mode: tc.mode, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, MaxAttempts: 3}
			r := runPlan(t, p, base, Segment{})
			wantCounters(t, r, map[string]int64{
				"iterations": tc.iters, "iterations.failed": tc.failed, "reconnects": tc.reconn,
				"errors.closed_by_peer": 1, "conn.closed.1001": 1,
			})
		})
	}
}

func TestMisbehavingServers(t *testing.T) {
	// Refused: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "ws://" + ln.Addr().String()
	ln.Close()

	// Stalled handshake: accepts TCP and never answers.
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stall.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})

	// Garbage: upgrades, then writes bytes that are no valid frame.
	garbage := wsServer(t, func(_ int, c *websocket.Conn) {
		_, _ = c.NetConn().Write([]byte{0x8f, 0x00, 0x81, 0x02, 0xff, 0xfe}) // reserved opcode
		time.Sleep(200 * time.Millisecond)
	})

	// HTTP 403: no upgrade.
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(forbidden.Close)

	for _, tc := range []struct {
		name, base, counter string
	}{
		{"refused", refused, "conn.failed.refused"},
		{"stall", "ws://" + stall.Addr().String(), "conn.failed.timeout"},
		{"garbage", garbage, "errors.protocol"},
		{"forbidden", "ws" + strings.TrimPrefix(forbidden.URL, "http"), "conn.failed.http_status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := closedPlan(2, 2, connectStep(), sendStep(`{"op":"echo"}`),
				expectStep("echo", map[string]any{"op": "echo"}, time.Second, TimeoutFail))
			p.Connect.HandshakeTimeout = 200 * time.Millisecond
			p.Connect.ConnectTimeout = 200 * time.Millisecond
			start := time.Now()
			r := runPlan(t, p, tc.base, Segment{})
			if counter(r, tc.counter) != 4 {
				t.Errorf("%s = %d, want 4 (counters %v)", tc.counter, counter(r, tc.counter), r.Counters)
			}
			if got := counter(r, "iterations.failed"); got != 4 {
				t.Errorf("iterations.failed = %d, want 4", got)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("run took %v", el)
			}
		})
	}
}

func TestCancelStopsPromptly(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := closedPlan(5, 0, connectStep(), repeatStep(0, time.Hour, 0,
		sendStep(`{"op":"echo"}`), thinkStep(time.Millisecond),
		expectStep("echo", map[string]any{"op": "echo"}, 10*time.Second, TimeoutFail)))
	p.Scenarios[0].Load.Duration = time.Hour
	p.GracefulStop = time.Hour
	reg := report.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	if err := Run(ctx, p, RunOptions{BaseURL: base, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Run took %v after cancel", el)
	}
	r := reg.Results(report.Meta{})
	if counter(r, "msgs.recv") == 0 {
		t.Error("nothing measured before the cancel")
	}
	if g := r.Gauges["conns.open"]; g.Last != 0 {
		t.Errorf("conns.open left at %d", g.Last)
	}
}

func TestPlanDurationCapsRun(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	p := closedPlan(2, 0, connectStep(), repeatStep(0, time.Hour, 0, thinkStep(10*time.Millisecond)))
	p.Scenarios[0].Load.Duration = time.Hour
	p.Duration = 300 * time.Millisecond
	p.GracefulStop = 100 * time.Millisecond
	start := time.Now()
	r := runPlan(t, p, base, Segment{})
	if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
		t.Errorf("run took %v, want about 400ms", el)
	}
	if counter(r, "iterations") != 0 {
		t.Errorf("the interrupted iterations were counted: %d", counter(r, "iterations"))
	}
}

func TestRunRejectsBadSetup(t *testing.T) {
	p := closedPlan(1, 1, connectStep())
	if err := Run(context.Background(), p, RunOptions{BaseURL: "ws://x"}); err == nil {
		t.Error("no registry: want an error")
	}
	p.Target = Builtin
	if err := Run(context.Background(), p, RunOptions{Registry: report.NewRegistry()}); err == nil {
		t.Error("builtin target without BaseURL: want an error")
	}
}

func TestExpectSeesLastMessageBeforePeerClose(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"bye"}`))
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "done"), time.Now().Add(time.Second))
		time.Sleep(100 * time.Millisecond)
	})
	p := closedPlan(1, 1, connectStep(), sendStep(`{"op":"x"}`), thinkStep(50*time.Millisecond),
		expectStep("bye", map[string]any{"op": "bye"}, time.Second, TimeoutFail))
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{"iterations.failed": 0, "conn.closed.4000": 1, "errors.closed_by_peer": 1})
	if l := latency(t, r, "bye"); l.Count != 1 {
		t.Errorf("bye count %d", l.Count)
	}
}

func TestServerThatStopsReadingDoesNotHang(t *testing.T) {
	stop := make(chan struct{})
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		<-stop // never reads: the client's writes block once buffers fill
	})
	defer close(stop) // before the server's cleanup, and without racing the handler on t
	big := Step{Kind: StepSend, Send: &SendStep{Kind: PayloadBinary, RandomBytes: 60000}}
	p := closedPlan(2, 0, connectStep(), repeatStep(100000, 0, 0, big))
	p.Scenarios[0].Load.Duration = 300 * time.Millisecond
	p.GracefulStop = 100 * time.Millisecond
	start := time.Now()
	r := runPlan(t, p, base, Segment{})
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Run took %v with a server that stopped reading", el)
	}
	if counter(r, "msgs.sent") == 0 || counter(r, "errors.closed_by_peer") != 0 {
		t.Errorf("counters %v", r.Counters)
	}
}

// TestExpectIgnoresStaleReply is the regression test of a stale reply: the
// ack of an earlier nick (same id) arrives during a think and waits in the
// backlog; the later expect of the say's ack must not take it (it did, and
// recorded a negative latency clamped to 0) but wait for the real one.
func TestExpectIgnoresStaleReply(t *testing.T) {
	const sayDelay = 80 * time.Millisecond
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				Op string `json:"op"`
				ID int    `json:"id"`
			}
			if json.Unmarshal(p, &m) != nil {
				return
			}
			switch m.Op {
			case "nick":
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"welcome"}`))
			case "say":
				time.Sleep(sayDelay)
			}
			_ = c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"op":"ack","id":%d}`, m.ID))
		}
	})
	p := closedPlan(1, 3, connectStep(),
		sendStep(`{"op":"nick","id":1}`),
		expectStep("nick", map[string]any{"op": "welcome"}, time.Second, TimeoutFail),
		thinkStep(30*time.Millisecond), // the nick's ack arrives and is kept
		sendStep(`{"op":"say","id":1}`),
		expectStep("ack", map[string]any{"op": "ack", "id": 1}, 2*time.Second, TimeoutFail))
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{"iterations": 3, "iterations.failed": 0, "errors.expect_timeout": 0, "expect.stale": 3})
	ack := latency(t, r, "ack")
	if ack.Count != 3 || ack.Min < sayDelay || ack.Clamped != 0 {
		t.Errorf("ack latency %+v: want 3 samples of at least %v (the say's own ack), none clamped", ack, sayDelay)
	}
	if n := counter(r, "errors.clamped_sample"); n != 0 {
		t.Errorf("errors.clamped_sample = %d", n)
	}
}
