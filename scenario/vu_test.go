package scenario

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"
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
	l := &link{}
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
	at, ok := l.takeBacklog(st, NewVars(1, "s", 1, nil))
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
	if _, ok := l.takeBacklog(st, NewVars(1, "s", 1, nil)); ok {
		t.Error("a taken message matched twice")
	}
	big := make([]byte, backlogMaxMsg+1)
	l.keep(ws.OpBinary, big, time.Now())
	if l.blen != backlogLen-1 {
		t.Error("an oversized message was kept")
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
// the reader goroutine's read and match and the hand-off to the waiting
// expect, and the latency record. The steady state allocates nothing
// (0 allocs/op).
func BenchmarkVURoundTrip(b *testing.B) {
	base := rawEcho(b)
	reg := report.NewRegistry()
	p := closedPlan(1, 1, connectStep(),
		sendStep(`{"op":"echo","vu":{{vu}},"n":{{seq}}}`),
		expectStep("echo", map[string]any{"op": "echo", "vu": "{{vu}}"}, 5*time.Second, TimeoutFail))
	r := &runner{plan: p, base: base, m: newMetrics(reg), seed: 1, log: slog.New(slog.DiscardHandler)}
	s := &scenarioRun{r: r, sc: p.Scenarios[0]}
	var err error
	if s.steps, err = s.compile(p.Scenarios[0].Steps, false, nil, map[string]*dialer.Dialer{}); err != nil {
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
	r.wg.Wait()
}

// BenchmarkVUMemory reports the Go memory (heap + stacks in use) one idle
// VU costs: a connected VU waiting in an expect, with its reader goroutine,
// 2,000 of them against a local echo server. The server runs in this
// process, so its share per connection is measured first with 2,000 bare
// connections (a goroutine, a bufio.Reader and a socket each) and
// subtracted. Kernel socket buffers are not included.
func BenchmarkVUMemory(b *testing.B) {
	const n = 2000
	inUse := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse
	}
	for range b.N {
		base := rawEcho(b)
		m0 := inUse()
		var raw []net.Conn
		for range n {
			c, _, _, err := ws.Dial(context.Background(), base)
			if err != nil {
				b.Fatal(err)
			}
			raw = append(raw, c)
		}
		time.Sleep(300 * time.Millisecond)
		m1 := inUse()

		reg := report.NewRegistry()
		p := closedPlan(n, 0, connectStep(), expectStep("never", map[string]any{"op": "nope"}, time.Hour, TimeoutFail))
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
		m2 := inUse()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		for _, c := range raw {
			c.Close()
		}
		server := float64(m1-m0) / n
		b.ReportMetric(float64(m2-m1)/n-server, "B/VU")
		b.ReportMetric(server, "B/server-conn")
	}
}
