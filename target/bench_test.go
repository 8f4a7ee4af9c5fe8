package target

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// BenchmarkDeliver measures the outbox alone: one Chatter frame to every
// member of a room, then each recipient's flush (writev to a discarding
// sink). allocs/op must be 0 for both sizes: the frame is pooled and shared.
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run("members="+strconv.Itoa(n), func(b *testing.B) {
			s := offlineServer(b, 1<<20)
			own := &listOwner{}
			ids := make([]uint64, n)
			for i := range ids {
				ids[i] = s.offlineConn(own).id
			}
			sc := newScratch()
			payload := []byte(`{"op":"said","room":"bench","from":"x","text":"hello everyone","srv_ts":1700000000000000000}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.deliver(ids, payload, true)
				own.flushAll(sc)
			}
			b.ReportMetric(float64(n), "deliveries/op")
		})
	}
}

// BenchmarkRoomBroadcast goes through the chat hub: one `say` into a room of
// N members (hub parse, stamp, history off, Deliver, flush of every member).
func BenchmarkRoomBroadcast(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run("members="+strconv.Itoa(n), func(b *testing.B) {
			s := offlineServer(b, 1<<20)
			own := &listOwner{}
			sc := newScratch()
			var sender uint64
			for i := 0; i < n; i++ {
				c := s.offlineConn(own)
				s.hub.Open(c.id)
				s.hub.Handle(c.id, []byte(`{"op":"nick","name":"u`+strconv.Itoa(i)+`"}`))
				s.hub.Handle(c.id, []byte(`{"op":"join","room":"bench"}`))
				own.flushAll(sc)
				sender = c.id
			}
			msg := []byte(`{"op":"say","room":"bench","text":"hello everyone","ts":1700000000000000000}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.hub.Handle(sender, msg)
				own.flushAll(sc)
			}
			b.ReportMetric(float64(n), "deliveries/op")
		})
	}
}

// BenchmarkEchoRoundTrip is one 64-byte text message to /echo and back over
// a real socket on 127.0.0.1.
func BenchmarkEchoRoundTrip(b *testing.B) {
	s := startTest(b, nil)
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	rc := &rawConn{t: b, nc: nc}
	rc.br = bufio.NewReader(nc)
	rc.write([]byte(upgradeRequest("/echo")))
	if r := rc.response(); r.StatusCode != 101 {
		b.Fatal(r.Status)
	}
	payload := make([]byte, 64)
	for i := range payload {
		payload[i] = 'a'
	}
	frame := clientFrame(true, ws.OpText, payload)
	reply := make([]byte, 2+len(payload))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := nc.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(rc.br, reply); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanoutSockets: one `say` per op into a 1,000-member room over real
// sockets; every member's reader (in this process, so it shares the two
// cores with the server) must receive it. Reports deliveries/s.
func BenchmarkFanoutSockets(b *testing.B) {
	const members = 1000
	s := startTest(b, func(c *Config) { c.HistorySize = 0 })
	var total, frames atomic.Int64
	var conns []*rawConn
	for i := 0; i < members; i++ {
		rc := upgradeRaw(b, s, "/chat")
		_ = rc.nc.SetDeadline(time.Time{})
		rc.write(clientFrame(true, ws.OpText, []byte(`{"op":"nick","name":"m`+strconv.Itoa(i)+`"}`)))
		rc.write(clientFrame(true, ws.OpText, []byte(`{"op":"join","room":"fan"}`)))
		conns = append(conns, rc)
	}
	waitFor(b, "members joined", func() bool { return s.hubStats().Members == members })
	var wg sync.WaitGroup
	for _, rc := range conns[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				h, p, err := rc.readFrame()
				if err != nil || h.OpCode == ws.OpClose {
					return
				}
				frames.Add(1)
				if bytes.Contains(p, []byte(`"said"`)) {
					total.Add(1)
				}
			}
		}()
	}
	sender := conns[0]
	go func() { _, _ = io.Copy(io.Discard, sender.br) }()
	waitQuiet(b, &frames) // the joins' presence events have all arrived
	msg := clientFrame(true, ws.OpText, []byte(`{"op":"say","room":"fan","text":"hello everyone","ts":1700000000000000000}`))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		sender.write(msg)
		if i%50 == 49 {
			// Keep at most ~50 messages in flight so nobody is a slow consumer.
			want := int64(i-49) * (members - 1)
			for total.Load() < want {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	want := int64(b.N) * (members - 1)
	for total.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/el.Seconds(), "deliveries/s")
	for _, rc := range conns {
		rc.nc.Close()
	}
	wg.Wait()
}

// BenchmarkFanoutLatency sends b.N `say`s at 100/s into a 1,000-member room
// over real sockets and reports the delivery latency (receiver clock minus
// the sender's ts field) at p50/p99/max over all deliveries. Readers share
// this process and its two cores with the server.
func BenchmarkFanoutLatency(b *testing.B) {
	const members = 1000
	s := startTest(b, func(c *Config) { c.HistorySize = 0 })
	var conns []*rawConn
	for i := 0; i < members; i++ {
		rc := upgradeRaw(b, s, "/chat")
		_ = rc.nc.SetDeadline(time.Time{})
		rc.write(clientFrame(true, ws.OpText, []byte(`{"op":"nick","name":"m`+strconv.Itoa(i)+`"}`)))
		rc.write(clientFrame(true, ws.OpText, []byte(`{"op":"join","room":"lat"}`)))
		conns = append(conns, rc)
	}
	waitFor(b, "members joined", func() bool { return s.hubStats().Members == members })
	lat := make([][]time.Duration, members)
	var frames, measured atomic.Int64
	var wg sync.WaitGroup
	for i, rc := range conns[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []byte(`"ts":`)
			for {
				h, p, err := rc.readFrame()
				if err != nil || h.OpCode == ws.OpClose {
					return
				}
				now := time.Now().UnixNano()
				frames.Add(1)
				k := bytes.Index(p, key)
				if k < 0 || !bytes.Contains(p, []byte(`"said"`)) {
					continue
				}
				v := p[k+len(key):]
				end := bytes.IndexAny(v, ",}")
				ts, err := strconv.ParseInt(string(v[:end]), 10, 64)
				if err == nil {
					lat[i] = append(lat[i], time.Duration(now-ts))
					measured.Add(1)
				}
			}
		}()
	}
	sender := conns[0]
	go func() { _, _ = io.Copy(io.Discard, sender.br) }()
	waitQuiet(b, &frames) // the joins' presence events have all arrived
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	for i := 0; i < b.N; i++ {
		<-tick.C
		sender.write(clientFrame(true, ws.OpText, []byte(`{"op":"say","room":"lat","text":"x","ts":`+strconv.FormatInt(time.Now().UnixNano(), 10)+`}`)))
	}
	tick.Stop()
	want := b.N * (members - 1)
	waitFor(b, "all deliveries", func() bool { return measured.Load() >= int64(want) })
	b.StopTimer()
	for _, rc := range conns {
		rc.nc.Close()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) < want {
		b.Fatalf("%d of %d deliveries measured", len(all), want)
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max-µs")
}

// waitQuiet waits until counter has not moved for 300 ms.
func waitQuiet(b *testing.B, counter *atomic.Int64) {
	last := int64(-1)
	for counter.Load() != last {
		last = counter.Load()
		time.Sleep(300 * time.Millisecond)
	}
}
