package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/target"
)

// TestStalledMemberIsCutOff runs issue 2's slow-consumer case against the
// embedded server: two members of a room talk (and read), a third stops
// reading (`think` with `read: false`) while the room's chatter fills its
// socket buffers and outbound queue. The server must cut the stalled member
// off (close code 1008 in its metrics) while the reading members keep
// receiving every message.
func TestStalledMemberIsCutOff(t *testing.T) {
	cfg := target.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Loops = 1
	// 1 MiB of queue gives the reading members slack on a busy machine (the
	// kernel send buffer is only 64 KiB); the stalled one owes ~4.8 MB.
	cfg.OutboundLimit = 1 << 20
	cfg.SlowTimeout = 200 * time.Millisecond
	srv, err := target.Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	text := strings.Repeat("x", 12000)
	src := `
target: builtin
connect: {path: /chat}
graceful_stop: 2s
scenarios:
  talkers:
    vus: 2
    iterations: 1
    listeners:
      - {name: heard, match: {json: {op: said}}, sequence: {sender: from, field: seq}}
    steps:
      - connect
      - send: {json: {op: nick, name: "talker-{{vu}}"}}
      - expect: {json: {op: welcome}, timeout: 5s}
      - send: {json: {op: join, room: r}}
      - expect: {json: {op: joined}, timeout: 5s}
      - think: 300ms
      - repeat:
          count: 400
          every: 3ms
          steps:
            - send: {json: {op: say, room: r, text: "` + text + `", seq: "{{seq}}", id: "{{seq}}"}}
            - expect: {name: ack, json: {op: ack}, timeout: 5s}
      - think: 500ms # the other talker's last messages
      - close
  stalled:
    vus: 1
    iterations: 1
    listeners:
      - {name: stalled_heard, match: {json: {op: said}}}
    steps:
      - connect
      - send: {json: {op: nick, name: "stalled-{{vu}}"}}
      - expect: {json: {op: welcome}, timeout: 5s}
      - send: {json: {op: join, room: r}}
      - expect: {json: {op: joined}, timeout: 5s}
      - think: {fixed: 3s, read: false}
      - expect: {name: never, json: {op: never}, timeout: 3s, on_timeout: continue}
`
	p, err := Parse("slow.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r := runPlan(t, p, strings.TrimSuffix(srv.URL(""), "/"), Segment{})
	// 2 talkers × 400 says (about 9.6 MB), each delivered to both talkers.
	wantCounters(t, r, map[string]int64{
		"listener.heard": 1600, "delivery.lost": 0, "delivery.duplicate": 0, "delivery.reordered": 0,
		"errors.closed_by_peer": 1, "errors.expect_timeout": 0, "iterations.failed": 1,
	})
	// The server's close frame reaches the stalled member only if its
	// buffers have room for it; usually they do not and the member sees
	// the socket end without one (1006).
	if n := counter(r, "conn.closed.1008") + counter(r, "conn.closed.1006"); n != 1 {
		t.Errorf("the stalled member's end: conn.closed.1008 + conn.closed.1006 = %d, want 1", n)
	}
	if n := counter(r, "listener.stalled_heard"); n >= 800 {
		t.Errorf("the stalled member got %d of 800 messages, want fewer (cut off)", n)
	}
	m := srv.Metrics()
	for _, want := range []string{"wsbench_slow_consumer_disconnects_total 1\n", `wsbench_closes_total{code="1008",initiator="server"} 1` + "\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("server metrics lack %q:\n%s", want, m)
		}
	}
}
