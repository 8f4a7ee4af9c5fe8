package target

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestDelayHistogramPrometheus(t *testing.T) {
	var h delayHistogram
	h.observe(-5)         // clock oddity: counted as 0
	h.observe(40e3)       // ≤ 50 µs
	h.observe(50e3)       // bounds are inclusive
	h.observe(1.5e6)      // ≤ 2 ms
	h.observe(9e6)        // ≤ 10 ms
	h.observe(int64(6e9)) // above every bound
	out := string(h.appendPrometheus(nil, "x_seconds", "help text"))
	for _, want := range []string{
		"# HELP x_seconds help text\n# TYPE x_seconds histogram\n",
		`x_seconds_bucket{le="5e-05"} 3` + "\n",
		`x_seconds_bucket{le="0.001"} 3` + "\n",
		`x_seconds_bucket{le="0.002"} 4` + "\n",
		`x_seconds_bucket{le="0.01"} 5` + "\n",
		`x_seconds_bucket{le="5"} 5` + "\n",
		`x_seconds_bucket{le="+Inf"} 6` + "\n",
		"x_seconds_count 6\n",
		"x_seconds_sum 6.01059\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestDeliveryDelayOnMetrics: room deliveries over real sockets show up in
// the delivery-delay histogram of /metrics, one sample per recipient.
func TestDeliveryDelayOnMetrics(t *testing.T) {
	s := startTest(t, nil)
	d := &websocket.Dialer{}
	a := chatClient(t, d, s.URL("/chat"), "alice", "r")
	b := chatClient(t, d, s.URL("/chat"), "bob", "r")
	defer a.Close()
	defer b.Close()
	// Bob's join is announced to alice; that delivery's sample may land
	// after the join returned, so start counting once the count is still.
	before := delayCount(t, s)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		now := delayCount(t, s)
		if now == before {
			break
		}
		before = now
	}
	if err := a.WriteJSON(map[string]any{"op": "say", "room": "r", "text": "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{a, b} {
		for {
			var m chatMsg
			if err := c.ReadJSON(&m); err != nil {
				t.Fatal(err)
			}
			if m.Op == "said" {
				break
			}
		}
	}
	// The sample is taken once writev returns, which may be just after the
	// client has read the frame.
	waitFor(t, "2 delivery delay samples", func() bool { return delayCount(t, s)-before >= 2 })
	time.Sleep(50 * time.Millisecond)
	if got := delayCount(t, s) - before; got != 2 {
		t.Errorf("delivery delay samples for one say to a room of 2 = %d, want 2", got)
	}
}

func delayCount(t *testing.T, s *Server) int64 {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "wsbench_delivery_delay_seconds_count "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no wsbench_delivery_delay_seconds_count in /metrics:\n%s", body)
	return 0
}
