package report

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)

// feed records a deterministic, chat-like run of `seconds` seconds into r,
// ticking once per second; scale multiplies every sample count.
func feed(r *Registry, seconds, scale int) []*Interval {
	r.StartAt(t0)
	var ivs []*Interval
	conn, hs := r.Latency("connect"), r.Latency("handshake")
	echo, del, delRaw := r.Latency("echo"), r.Latency("delivery"), r.Latency("delivery.raw")
	r.Latency("never") // registered, no samples
	vus, open := r.Gauge("vus"), r.Gauge("conns.open")
	for s := 0; s < seconds; s++ {
		for i := 0; i < 50*scale; i++ {
			conn.Record(time.Duration(80+i%40) * time.Microsecond)
			hs.Record(time.Duration(200+i%100) * time.Microsecond)
			r.Counter("conn.opened").Inc()
			vus.Add(1)
			open.Add(1)
		}
		for i := 0; i < 1000*scale; i++ {
			echo.Record(time.Duration(30+i%70)*time.Microsecond + time.Duration(s)*time.Microsecond)
			d := time.Duration(1+i%9) * time.Millisecond
			del.Record(d + time.Duration(i%3)*time.Millisecond)
			delRaw.Record(d)
			r.Counter("msgs.sent").Inc()
			r.Counter("msgs.recv").Add(2)
			r.Counter("bytes.sent").Add(64)
			r.Counter("bytes.recv").Add(128)
			r.Counter("listener.said").Inc()
		}
		r.Counter("errors.expect_timeout").Add(int64(s % 2))
		r.Counter("conn.failed.refused").Add(int64(scale))
		r.Example("conn.failed.refused", "dial ws://127.0.0.1:8080/chat: dial tcp 127.0.0.1:8080: connect: connection refused")
		r.Counter("delivery.lost").Add(int64(scale))
		open.Add(-int64(10 * scale))
		ivs = append(ivs, r.Tick(t0.Add(time.Duration(s+1)*time.Second)))
	}
	r.Counter("conn.closed.1000").Add(int64(40 * scale))
	r.Counter("errors.closed_by_peer").Inc()
	r.Latency("ping").Record(2 * time.Hour) // clamped
	vus.Set(0)
	return ivs
}

func fixtureResults(t testing.TB) *Results {
	t.Helper()
	r := NewRegistry()
	feed(r, 5, 1)
	return r.Results(Meta{Scenario: "examples/chat-room.yaml", Target: "ws://127.0.0.1:8080/chat", Version: "0.1.0-test", Start: t0, End: t0.Add(5 * time.Second)})
}
