package scenario

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/report"
)

// closeRecorder is a server handler that reads until the connection ends
// and reports the close code it got (1006: none); opened hears of each
// connection's first message.
func closeRecorder(opened chan<- struct{}, codes chan<- int) func(int, *websocket.Conn) {
	return func(_ int, c *websocket.Conn) {
		for n := 0; ; n++ {
			_, _, err := c.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					codes <- ce.Code
				} else {
					codes <- websocket.CloseAbnormalClosure
				}
				return
			}
			if n == 0 {
				opened <- struct{}{}
			}
		}
	}
}

// checkConnBalance asserts that every opened connection ended in exactly
// one of conn.closed.<code> and conn.interrupted.
func checkConnBalance(t *testing.T, r *report.Results) {
	t.Helper()
	opened := r.Counters[report.CounterConnOpened]
	closed := r.CounterPrefix(report.PrefixConnClosed)
	interrupted := r.Counters[report.CounterConnInterrupted]
	if opened != closed+interrupted {
		t.Errorf("conn.opened %d != conn.closed.* %d + conn.interrupted %d (counters %v)", opened, closed, interrupted, r.Counters)
	}
}

// Iterations still running when the graceful stop ends are cut: counted in
// iterations.interrupted, their connections closed with 1001 (whatever
// the VU was doing: reading, paused without reading) and counted in
// conn.interrupted.
func TestGracefulStopInterruptsWith1001(t *testing.T) {
	for _, tc := range []struct {
		name  string
		think Step
	}{
		{"reading", thinkStep(time.Hour)},
		{"paused", Step{Kind: StepThink, Think: &ThinkStep{Fixed: time.Hour, NoRead: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const vus = 3
			opened, codes := make(chan struct{}, vus), make(chan int, vus)
			base := wsServer(t, closeRecorder(opened, codes))
			p := closedPlan(vus, 0, connectStep(), tc.think)
			p.Scenarios[0].Load.Duration = 500 * time.Millisecond // every VU has connected by then
			p.GracefulStop = 50 * time.Millisecond
			r := runPlan(t, p, base, Segment{})
			for i := 0; i < vus; i++ {
				select {
				case code := <-codes:
					if code != websocket.CloseGoingAway {
						t.Errorf("server got close code %d, want 1001", code)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("server saw %d of %d connections end", i, vus)
				}
			}
			wantCounters(t, r, map[string]int64{
				"conn.opened": vus, "conn.interrupted": vus, "iterations.interrupted": vus,
				"iterations": 0, "errors.send": 0, "errors.closed_by_peer": 0,
			})
			checkConnBalance(t, r)
		})
	}
}

// Ctrl-C (the run's context cancelled) interrupts the same way.
func TestCancelInterruptsWith1001(t *testing.T) {
	const vus = 4
	opened, codes := make(chan struct{}, vus), make(chan int, vus)
	base := wsServer(t, closeRecorder(opened, codes))
	// The server counts a connection once its first message arrives, so
	// the client has counted it too when the cancel comes.
	p := closedPlan(vus, 0, connectStep(), sendStep(`{"op":"hi"}`), repeatStep(0, time.Hour, 0, thinkStep(5*time.Millisecond)))
	p.Scenarios[0].Load.Duration = time.Hour
	p.GracefulStop = time.Hour
	reg := report.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for range vus {
			<-opened
		}
		cancel() // every VU is connected
	}()
	if err := Run(ctx, p, RunOptions{BaseURL: base, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	for range vus {
		if code := <-codes; code != websocket.CloseGoingAway {
			t.Errorf("server got close code %d, want 1001", code)
		}
	}
	r := reg.Results(report.Meta{})
	wantCounters(t, r, map[string]int64{"conn.opened": vus, "conn.interrupted": vus, "iterations.interrupted": vus})
	checkConnBalance(t, r)
}

// Connections that end normally (our close, the peer's close, a drop) and
// interrupted ones add up to the opened ones.
func TestConnBalanceMixed(t *testing.T) {
	base := wsServer(t, func(n int, c *websocket.Conn) {
		if n%3 == 0 { // every third: the server closes with 4001
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "go"), time.Now().Add(time.Second))
		}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	closeStep := Step{Kind: StepClose, Close: &CloseStep{}}
	p := closedPlan(3, 0, connectStep(), thinkStep(20*time.Millisecond), closeStep, connectStep(), thinkStep(time.Hour))
	p.Scenarios[0].Load.Duration = 300 * time.Millisecond
	p.GracefulStop = 50 * time.Millisecond
	r := runPlan(t, p, base, Segment{})
	if r.Counters["conn.interrupted"] == 0 || r.CounterPrefix("conn.closed.") == 0 {
		t.Fatalf("want both ends: %v", r.Counters)
	}
	checkConnBalance(t, r)
	for k := range r.Counters {
		if strings.HasPrefix(k, "conn.failed.") && r.Counters[k] != 0 {
			t.Errorf("%s = %d", k, r.Counters[k])
		}
	}
}

// The open model's iterations still running at the end are cut the same
// way: every arrival that opened a connection ends in conn.interrupted.
func TestOpenModelInterruptsWith1001(t *testing.T) {
	opened, codes := make(chan struct{}, 100), make(chan int, 100)
	base := wsServer(t, closeRecorder(opened, codes))
	p := closedPlan(1, 0, connectStep(), thinkStep(time.Hour))
	p.Scenarios[0].Load = Load{Model: Open, Rate: 20, Duration: 200 * time.Millisecond, MaxVUs: 20}
	p.GracefulStop = 50 * time.Millisecond
	r := runPlan(t, p, base, Segment{})
	n := r.Counters["conn.opened"]
	// An arrival still dialing at the cut is an interrupted iteration
	// without a connection.
	if n == 0 || r.Counters["conn.interrupted"] != n || r.Counters["iterations.interrupted"] < n || r.Counters["iterations"] != 0 {
		t.Fatalf("counters %v", r.Counters)
	}
	checkConnBalance(t, r)
	for i := int64(0); i < n; i++ {
		select {
		case code := <-codes:
			if code != websocket.CloseGoingAway {
				t.Errorf("server got close code %d, want 1001", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("server saw %d of %d connections end", i, n)
		}
	}
}
