package scenario

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/report"
)

// BenchmarkListenerObserve runs the fan-out rooms' delivery listener
// (bench/fanout-1000.yaml: match {op: said, history: null}, latency from
// ts, sequence by from and seq) on one delivery, ten senders taking turns:
// the per-delivery cost of the listener apart from the read. 0 allocs/op.
func BenchmarkListenerObserve(b *testing.B) {
	reg, err := report.NewRegistry().Tagged((&Scenario{Name: "s"}).Tags())
	if err != nil {
		b.Fatal(err)
	}
	m := newMetrics(reg)
	l := &Listener{Name: "delivery", Match: Matcher{JSON: map[string]any{"op": "said", "history": nil}},
		LatencyField: "ts", SenderField: "from", SeqField: "seq"}
	if err := l.Match.Compile(); err != nil {
		b.Fatal(err)
	}
	cl := &clistener{Listener: l, count: reg.Counter(report.PrefixListener + l.Name), lat: reg.Latency(l.Name), unit: 1}
	compilePlan(cl)
	st := listenerState{l: cl, vars: NewVars(1, "s", 1, nil)}
	var msgs [10][]byte
	var seqAt [10]int // offset of each message's last seq digit
	ts := strconv.FormatInt(time.Now().UnixNano(), 10)
	for k := range msgs {
		msgs[k] = []byte(`{"op":"said","room":"hall","from":"speaker-` + strconv.Itoa(k) + `","text":"news","ts":` + ts + `,"seq":1000000000,"id":1234}`)
		seqAt[k] = bytes.Index(msgs[k], []byte(`,"id"`)) - 1
	}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(msgs)
		p := msgs[k]
		for j := seqAt[k]; ; j-- { // seq++ in place, in decimal
			if p[j] != '9' {
				p[j]++
				break
			}
			p[j] = '0'
		}
		st.observe(ws.OpText, p, now, m)
		i++
	}
	if m.lost.Value() != 0 || m.duplicate.Value() != 0 || m.reordered.Value() != 0 || cl.count.Value() != int64(i) {
		b.Fatalf("lost %d dup %d reordered %d, %d matched of %d", m.lost.Value(), m.duplicate.Value(), m.reordered.Value(), cl.count.Value(), i)
	}
}
