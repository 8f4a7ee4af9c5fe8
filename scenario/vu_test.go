package scenario

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/report"
)

func TestThinkTimeDistributions(t *testing.T) {
	v := NewVars(1, "s", 42, nil)
	if d := thinkTime(&ThinkStep{Fixed: 7 * time.Millisecond}, v); d != 7*time.Millisecond {
		t.Errorf("fixed %v", d)
	}
	u := &ThinkStep{Dist: ThinkUniform, Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}
	e := &ThinkStep{Dist: ThinkExponential, Mean: 10 * time.Millisecond}
	var sum time.Duration
	const n = 20000
	for range n {
		if d := thinkTime(u, v); d < u.Min || d > u.Max {
			t.Fatalf("uniform draw %v outside [%v, %v]", d, u.Min, u.Max)
		}
		d := thinkTime(e, v)
		if d < 0 {
			t.Fatalf("exponential draw %v", d)
		}
		sum += d
	}
	if mean := sum / n; mean < 9*time.Millisecond || mean > 11*time.Millisecond {
		t.Errorf("exponential mean %v, want about 10ms", mean)
	}
}

func TestBackoffDelay(t *testing.T) {
	v := NewVars(1, "s", 1, nil)
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 50 {
			d := backoffDelay(100*time.Millisecond, time.Second, attempt, v)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := backoffDelay(time.Second, 2*time.Second, 200, v); d > 2*time.Second {
		t.Errorf("large attempt overflowed: %v", d)
	}
}

func TestBacklogKeepsRecentMessages(t *testing.T) {
	l := &link{s: &scenarioRun{expects: true}}
	for i := range backlogLen + 2 {
		l.keep(ws.OpText, []byte{'{', '"', 'n', '"', ':', byte('0' + i), '}'}, time.Unix(int64(i), 0))
	}
	if l.blen != backlogLen {
		t.Fatalf("backlog holds %d, want %d", l.blen, backlogLen)
	}
	m := Matcher{JSON: map[string]any{"n": 3}}
	if err := m.Compile(); err != nil {
		t.Fatal(err)
	}
	st := &cstep{Step: &Step{Kind: StepExpect, Expect: &ExpectStep{Match: m}}}
	at, ok := l.takeBacklog(st, NewVars(1, "s", 1, nil), time.Time{})
	if !ok || at.Unix() != 3 {
		t.Fatalf("took %v %v, want the message from t=3", at, ok)
	}
	if l.blen != backlogLen-1 {
		t.Errorf("backlog holds %d after a take", l.blen)
	}
	// The oldest two were dropped; the rest stay in order.
	var got []int64
	for k := 0; k < l.blen; k++ {
		got = append(got, l.backlog[(l.bstart+k)%backlogLen].at.Unix())
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 4 || got[2] != 5 {
		t.Errorf("backlog order %v, want [2 4 5]", got)
	}
	if _, ok := l.takeBacklog(st, NewVars(1, "s", 1, nil), time.Time{}); ok {
		t.Error("a taken message matched twice")
	}
	big := make([]byte, backlogMaxMsg+1)
	l.keep(ws.OpBinary, big, time.Now())
	if l.blen != backlogLen-1 {
		t.Error("an oversized message was kept")
	}
}

// A scenario without an expect keeps no backlog: nothing could read it.
func TestBacklogOnlyWhereAnExpectCanReadIt(t *testing.T) {
	expect := Step{Kind: StepExpect, Expect: &ExpectStep{}}
	think := Step{Kind: StepThink}
	group := func(s ...Step) Step { return Step{Kind: StepGroup, Group: &GroupStep{Steps: s}} }
	repeat := func(s ...Step) Step { return Step{Kind: StepRepeat, Repeat: &RepeatStep{Steps: s}} }
	for _, c := range []struct {
		name  string
		steps []Step
		want  bool
	}{
		{"none", []Step{think}, false},
		{"top level", []Step{think, expect}, true},
		{"in a repeat in a group", []Step{think, group(repeat(think, expect))}, true},
		{"nested without one", []Step{group(think)}, false},
	} {
		if got := hasExpect(c.steps); got != c.want {
			t.Errorf("%s: hasExpect %v, want %v", c.name, got, c.want)
		}
		l := &link{s: &scenarioRun{expects: hasExpect(c.steps)}}
		l.keep(ws.OpText, []byte(`{"n":1}`), time.Now())
		if kept := l.blen == 1; kept != c.want {
			t.Errorf("%s: message kept %v, want %v", c.name, kept, c.want)
		}
	}
}

// rawEcho is a minimal WebSocket echo server that does not allocate per
// message (gobwas upgrade, then hand-parsed frames up to 125 bytes), so a
// benchmark's allocs/op are the client's.
func rawEcho(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := ws.Upgrade(c); err != nil {
					return
				}
				r := bufio.NewReader(c)
				var in [2 + 4 + 125]byte
				var out [2 + 125]byte
				for {
					if _, err := io.ReadFull(r, in[:6]); err != nil {
						return
					}
					n := int(in[1] & 0x7f)
					if n > 125 || in[0]&0x0f == 8 {
						return
					}
					if _, err := io.ReadFull(r, in[6:6+n]); err != nil {
						return
					}
					key := binary.BigEndian.Uint32(in[2:6])
					for i := 0; i < n; i++ {
						out[2+i] = in[6+i] ^ byte(key>>(24-8*(i%4)))
					}
					out[0], out[1] = 0x80|in[0]&0x0f, byte(n)
					if _, err := c.Write(out[:2+n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "ws://" + ln.Addr().String()
}

// BenchmarkVURoundTrip measures one VU's send + expect round trip against a
// local echo server that does not allocate: template rendering, the write,
// the VU's own read and match, and the latency record. The steady state
// allocates nothing (0 allocs/op).
func BenchmarkVURoundTrip(b *testing.B) {
	base := rawEcho(b)
	reg := report.NewRegistry()
	p := closedPlan(1, 1, connectStep(),
		sendStep(`{"op":"echo","vu":{{vu}},"n":{{seq}}}`),
		expectStep("echo", map[string]any{"op": "echo", "vu": "{{vu}}"}, 5*time.Second, TimeoutFail))
	r := &runner{plan: p, base: base, reg: reg, seed: 1, log: slog.New(slog.DiscardHandler)}
	s, err := r.prepare(p.Scenarios[0], nil, map[string]*dialer.Dialer{})
	if err != nil {
		b.Fatal(err)
	}
	v := newVU(s, 1)
	v.ctx = context.Background()
	if err := v.step(&s.steps[0], sched{}); err != nil {
		b.Fatal(err)
	}
	send, expect := &s.steps[1], &s.steps[2]
	for range 100 { // warm up buffers
		if v.step(send, sched{}) != nil || v.step(expect, sched{}) != nil {
			b.Fatal("warm-up round trip failed")
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := v.step(send, sched{}); err != nil {
			b.Fatal(err)
		}
		if err := v.step(expect, sched{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	v.close()
}

// BenchmarkVUMemory reports the Go memory (heap + stacks in use, and the
// stacks alone) one idle connected VU costs, 2,000 of them against a local
// echo server: "think" is a VU in a long think, "expect" a VU waiting in a
// long expect; either way the VU's goroutine blocks reading its connection.
// The server runs in this process, so
// its share per connection is measured first with 2,000 bare connections
// (a goroutine, a bufio.Reader and a socket each) and subtracted. Kernel
// socket buffers are not included; bench/vu-memory.sh measures the RSS of
// a real run.
func BenchmarkVUMemory(b *testing.B) {
	b.Run("think", func(b *testing.B) { benchVUMemory(b, thinkStep(time.Hour)) })
	b.Run("expect", func(b *testing.B) {
		benchVUMemory(b, expectStep("never", map[string]any{"op": "nope"}, time.Hour, TimeoutFail))
	})
}

func benchVUMemory(b *testing.B, idle Step) {
	const n = 2000
	inUse := func() (total, stacks uint64) {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse, ms.StackInuse
	}
	for range b.N {
		base := rawEcho(b)
		m0, s0 := inUse()
		var raw []net.Conn
		for range n {
			c, _, _, err := ws.Dial(context.Background(), base)
			if err != nil {
				b.Fatal(err)
			}
			raw = append(raw, c)
		}
		time.Sleep(300 * time.Millisecond)
		m1, s1 := inUse()

		reg := report.NewRegistry()
		p := closedPlan(n, 0, connectStep(), idle)
		p.Scenarios[0].Load.Duration = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, p, RunOptions{BaseURL: base, Registry: reg, Seed: 1}) }()
		for deadline := time.Now().Add(60 * time.Second); reg.Gauge("conns.open").Value() < n; {
			if time.Now().After(deadline) {
				b.Fatalf("only %d VUs connected", reg.Gauge("conns.open").Value())
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		m2, s2 := inUse()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		for _, c := range raw {
			c.Close()
		}
		server, serverStack := float64(m1-m0)/n, float64(s1-s0)/n
		b.ReportMetric(float64(m2-m1)/n-server, "B/VU")
		b.ReportMetric(float64(s2-s1)/n-serverStack, "stack-B/VU")
		b.ReportMetric(server, "B/server-conn")
	}
}

// TestThinkReadsConnection: while a VU thinks it reads its connection:
// messages that arrive are counted, seen by listeners and kept for a later
// expect, a ping from the server is answered, and the echo afterwards is
// matched.
func TestThinkReadsConnection(t *testing.T) {
	var pongs atomic.Int64
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		c.SetPongHandler(func(string) error { pongs.Add(1); return nil })
		if _, _, err := c.ReadMessage(); err != nil { // "go"
			return
		}
		sent := make(chan struct{})
		go func() { // the pong arrives through the read loop below
			defer close(sent)
			time.Sleep(50 * time.Millisecond)
			for i := 1; i <= 4; i++ {
				_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"said","seq":%d}`, i)))
			}
			_ = c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
		}()
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			<-sent // one writer at a time
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
		}
	})
	p := closedPlan(1, 1, connectStep(), sendStep(`{"op":"go"}`),
		thinkStep(300*time.Millisecond),
		expectStep("last", map[string]any{"op": "said", "seq": 4}, 2*time.Second, TimeoutFail),
		sendStep(`{"op":"echo"}`),
		expectStep("echo", map[string]any{"op": "echo"}, 2*time.Second, TimeoutFail))
	p.Scenarios[0].Listeners = []Listener{{Name: "said", Match: Matcher{JSON: map[string]any{"op": "said"}}, SeqField: "seq"}}
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{
		"listener.said": 4, "msgs.recv": 5, "delivery.lost": 0, "iterations": 1, "iterations.failed": 0,
		"errors.expect_timeout": 0,
	})
	if n := pongs.Load(); n != 1 {
		t.Errorf("server got %d pongs, want 1", n)
	}
	// The messages were read as they came, during the think: "last" was
	// kept with its arrival time, well before the think ended.
	if l := latency(t, r, "last"); l.Count != 1 || l.Max >= 250*time.Millisecond {
		t.Errorf("last %+v, want one sample of about 50ms (arrival during the think)", l)
	}
	if g := r.Gauges["conns.open"]; g.Max != 1 || g.Last != 0 {
		t.Errorf("conns.open %+v, want max 1, last 0", g)
	}
}

// TestThinkWithoutReading: a think with `read: false` leaves the server's
// messages in the socket; they are read (and timed) only afterwards.
func TestThinkWithoutReading(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		if _, _, err := c.ReadMessage(); err != nil { // "go"
			return
		}
		for i := 1; i <= 3; i++ {
			_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"said","seq":%d}`, i)))
		}
		_, _, _ = c.ReadMessage()
	})
	stall := Step{Kind: StepThink, Think: &ThinkStep{Dist: ThinkFixed, Fixed: 300 * time.Millisecond, NoRead: true}}
	p := closedPlan(1, 1, connectStep(), sendStep(`{"op":"go"}`), stall,
		expectStep("last", map[string]any{"op": "said", "seq": 3}, 2*time.Second, TimeoutFail))
	p.Scenarios[0].Listeners = []Listener{{Name: "said", Match: Matcher{JSON: map[string]any{"op": "said"}}, SeqField: "seq"}}
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{"listener.said": 3, "msgs.recv": 3, "iterations.failed": 0})
	if l := latency(t, r, "last"); l.Count != 1 || l.Min < 290*time.Millisecond { // 3 significant digits
		t.Errorf("last %+v, want one sample of at least the 300ms pause", l)
	}
}

// TestPeerCloseDuringThink: the peer closes while the VU reads during a
// think; the close is counted once, the think still ends, and the next
// step finds the connection gone.
func TestPeerCloseDuringThink(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		time.Sleep(50 * time.Millisecond)
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1001, "bye"), time.Now().Add(time.Second))
		_, _, _ = c.ReadMessage() // the client's answer
	})
	p := closedPlan(1, 1, connectStep(), thinkStep(300*time.Millisecond), sendStep(`{"op":"after"}`))
	start := time.Now()
	r := runPlan(t, p, base, Segment{})
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("run took %v: the think did not sleep out its rest", el)
	}
	wantCounters(t, r, map[string]int64{
		"conn.closed.1001": 1, "errors.closed_by_peer": 1, "iterations": 1, "iterations.failed": 1, "msgs.sent": 0,
	})
	if g := r.Gauges["conns.open"]; g.Last != 0 {
		t.Errorf("conns.open left at %d", g.Last)
	}
}

// TestCancelDuringThink: cancelling the run while VUs read during a think
// (or pause without reading) stops them at once and closes their
// connections, without counting errors.
func TestCancelDuringThink(t *testing.T) {
	for _, noRead := range []bool{false, true} {
		t.Run(fmt.Sprintf("noread=%v", noRead), func(t *testing.T) {
			base := wsServer(t, echoHandler(0))
			think := Step{Kind: StepThink, Think: &ThinkStep{Dist: ThinkFixed, Fixed: time.Hour, NoRead: noRead}}
			p := closedPlan(3, 0, connectStep(), think)
			p.Scenarios[0].Load.Duration = time.Hour
			p.GracefulStop = time.Hour
			reg := report.NewRegistry()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for reg.Gauge("conns.open").Value() < 3 && ctx.Err() == nil {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond) // the VUs are in their think
				cancel()
			}()
			done := make(chan error, 1)
			go func() { done <- Run(ctx, p, RunOptions{BaseURL: base, Registry: reg, Seed: 1}) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			r := reg.Results(report.Meta{})
			if g := r.Gauges["conns.open"]; g.Max != 3 || g.Last != 0 {
				t.Errorf("conns.open %+v, want max 3, last 0", g)
			}
			if n := r.CounterPrefix("errors."); n != 0 {
				t.Errorf("%d errors counted for a cancel", n)
			}
		})
	}
}

// TestExpectReadsConnection covers expects that wait long: one matched by
// a message that comes late (after others), one that times out and
// continues, then a quick echo and an expect with a short timeout after a
// long one (the read deadline must move back for it to time out on time).
func TestExpectReadsConnection(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		if _, _, err := c.ReadMessage(); err != nil { // "go"
			return
		}
		time.Sleep(300 * time.Millisecond)
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"noise"}`))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"late"}`))
		echoHandler(0)(0, c)
	})
	p := closedPlan(1, 1, connectStep(), sendStep(`{"op":"go"}`),
		expectStep("late", map[string]any{"op": "late"}, 5*time.Second, TimeoutFail),
		expectStep("never", map[string]any{"op": "never"}, 200*time.Millisecond, TimeoutContinue),
		sendStep(`{"op":"echo"}`),
		expectStep("echo", map[string]any{"op": "echo"}, time.Hour, TimeoutFail),
		expectStep("short", map[string]any{"op": "never"}, 100*time.Millisecond, TimeoutContinue))
	start := time.Now()
	r := runPlan(t, p, base, Segment{})
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("run took %v: a short expect waited for a long one's deadline", el)
	}
	wantCounters(t, r, map[string]int64{
		"msgs.recv": 3, "errors.expect_timeout": 2, "iterations": 1, "iterations.failed": 0,
	})
	if l := latency(t, r, "late"); l.Count != 1 || l.Min < 290*time.Millisecond { // 3 significant digits
		t.Errorf("late %+v, want one sample over 300ms", l)
	}
	if l := latency(t, r, "echo"); l.Count != 1 {
		t.Errorf("echo %+v, want one sample", l)
	}
}

// TestReadUntilDeadlines drives one VU's waits directly: a short wait
// after a long one times out on time (the deadline moves back), a wait
// after a short one outlives the short one's kept, earlier deadline and
// still gets its message, and a wait whose end has passed returns at once.
func TestReadUntilDeadlines(t *testing.T) {
	base := wsServer(t, func(_ int, c *websocket.Conn) {
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if string(p) == "slow" {
				time.Sleep(150 * time.Millisecond)
			}
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
		}
	})
	reg := report.NewRegistry()
	p := closedPlan(1, 1, connectStep(),
		sendStep("fast"), expectStep("long", nil, time.Hour, TimeoutFail),
		sendStep("slow"), expectStep("slow", nil, 2*time.Second, TimeoutFail),
		sendStep("fast"), expectStep("short", nil, 100*time.Millisecond, TimeoutFail))
	r := &runner{plan: p, base: base, reg: reg, seed: 1, log: slog.New(slog.DiscardHandler)}
	s, err := r.prepare(p.Scenarios[0], nil, map[string]*dialer.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	v := newVU(s, 1)
	v.ctx = context.Background()
	defer v.close()
	run := func(i int) {
		t.Helper()
		if err := v.step(&s.steps[i], sched{}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	run(0)
	run(1)
	run(2) // deadline an hour ahead
	start := time.Now()
	if out := v.link.readUntil(start.Add(50 * time.Millisecond)); out != readTimeout {
		t.Fatalf("short wait: outcome %d, want a timeout", out)
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 5*time.Second {
		t.Errorf("a 50ms wait after an hour-long one took %v", el)
	}
	run(3)
	run(4) // deadline passed: set again
	run(5)
	run(6) // deadline 100ms ahead, kept for the next wait
	run(3)
	run(4) // the kept deadline fires before the reply
	start = time.Now()
	if out := v.link.readUntil(start.Add(-time.Second)); out != readTimeout {
		t.Fatalf("past end: outcome %d, want a timeout", out)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("a wait whose end had passed took %v", el)
	}
	if n := reg.Results(report.Meta{}).CounterPrefix("errors."); n != 0 {
		t.Errorf("%d errors", n)
	}
}

// TestSendFloodKeepsReading: a VU that only sends (no step that waits)
// must still read, or an echo server that blocks writing to it stops
// reading, and the VU's writes then block for good. 20 MB each way is far
// more than the socket buffers hold. Every echo is seen by the listener in
// order, the expect after the flood finds the last one, and the VU reads
// its connection itself again for the ping.
func TestSendFloodKeepsReading(t *testing.T) {
	base := wsServer(t, echoHandler(0))
	const n = 5000
	big := sendStep(`{"n":{{seq}},"pad":"` + strings.Repeat("x", 4000) + `"}`)
	p := closedPlan(1, 1, connectStep(), repeatStep(n, 0, 0, big),
		expectStep("last", map[string]any{"n": n}, 5*time.Second, TimeoutFail),
		Step{Kind: StepPing, Ping: &PingStep{Timeout: 5 * time.Second}})
	p.Scenarios[0].Listeners = []Listener{{Name: "echo", Match: Matcher{JSON: map[string]any{}}, SeqField: "n"}}
	r := runPlan(t, p, base, Segment{})
	wantCounters(t, r, map[string]int64{
		"msgs.sent": n, "msgs.recv": n, "listener.echo": n, "delivery.lost": 0, "delivery.reordered": 0,
		"iterations.failed": 0, "errors.expect_timeout": 0, "errors.close_timeout": 0,
	})
	if l := latency(t, r, "ping"); l.Count != 1 {
		t.Errorf("ping %+v, want one sample", l)
	}
}
