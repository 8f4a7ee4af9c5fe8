package cluster

import (
	"strconv"
	"sync/atomic"
	"time"
)

// stats are the node's broker figures for /metrics.
type stats struct {
	published   atomic.Int64 // messages this node published (rooms, shouts, dms, presence)
	received    atomic.Int64 // messages other nodes published that this node handled
	reconnects  atomic.Int64
	disconnects atomic.Int64
	storeErrors atomic.Int64 // history appends JetStream refused or never confirmed
	rtt         atomic.Int64 // ns, last broker round trip (PING/PONG), measured with each heartbeat
	ackDelay    histogram    // publish → JetStream PubAck
	brokerDelay histogram    // publish on another node → received here
}

// delayBounds are the upper bounds (ns) of the histograms' buckets, those
// of wsbench_delivery_delay_seconds so that the broker's share and the
// node's share line up.
var delayBounds = [...]int64{
	50e3, 100e3, 200e3, 500e3,
	1e6, 2e6, 3e6, 5e6, 7.5e6, 10e6, 15e6, 20e6, 30e6, 50e6, 75e6,
	100e6, 200e6, 500e6, 1e9, 2e9, 5e9,
}

// histogram is a fixed-bucket histogram of durations with atomic counts.
type histogram struct {
	counts [len(delayBounds) + 1]atomic.Int64
	sum    atomic.Int64 // ns
}

func (h *histogram) observe(d time.Duration) {
	v := max(int64(d), 0)
	i := 0
	for i < len(delayBounds) && v > delayBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

func (h *histogram) appendPrometheus(dst []byte, name, help string) []byte {
	dst = append(dst, "# HELP "+name+" "+help+"\n# TYPE "+name+" histogram\n"...)
	var cum int64
	for i := range h.counts {
		cum += h.counts[i].Load()
		dst = append(dst, name+`_bucket{le="`...)
		if i < len(delayBounds) {
			dst = strconv.AppendFloat(dst, float64(delayBounds[i])/1e9, 'g', -1, 64)
		} else {
			dst = append(dst, "+Inf"...)
		}
		dst = append(dst, `"} `...)
		dst = strconv.AppendInt(dst, cum, 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, name+"_sum "...)
	dst = strconv.AppendFloat(dst, float64(h.sum.Load())/1e9, 'g', -1, 64)
	dst = append(dst, "\n"+name+"_count "...)
	dst = strconv.AppendInt(dst, cum, 10)
	return append(dst, '\n')
}

// Connected reports whether the node's NATS connection is up.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Health is "" while the broker link is up, else what is wrong (for /healthz).
func (n *Node) Health() string {
	if n.nc.IsConnected() {
		return ""
	}
	return "broker " + n.nc.Status().String() + " (" + n.cfg.URLs + "): serving local traffic only"
}

// AppendMetrics writes the node's broker figures in the Prometheus text
// format.
func (n *Node) AppendMetrics(dst []byte) []byte {
	series := func(kind, name, help string, v int64) {
		dst = append(dst, "# HELP "+name+" "+help+"\n# TYPE "+name+" "+kind+"\n"+name+" "...)
		dst = strconv.AppendInt(dst, v, 10)
		dst = append(dst, '\n')
	}
	up := int64(0)
	if n.nc.IsConnected() {
		up = 1
	}
	s := &n.stats
	series("gauge", "wsbench_broker_up", "1 while the node's NATS connection is up (--cluster), 0 during a broker outage.", up)
	series("counter", "wsbench_broker_published_total", "Messages this node published to the broker (room messages, shouts, dms, presence counts).", s.published.Load())
	series("counter", "wsbench_broker_received_total", "Messages from other nodes this node received through the broker.", s.received.Load())
	series("counter", "wsbench_broker_reconnects_total", "Times the node reconnected to NATS after losing it.", s.reconnects.Load())
	series("counter", "wsbench_broker_disconnects_total", "Times the node lost its NATS connection.", s.disconnects.Load())
	series("counter", "wsbench_broker_store_errors_total", "History appends JetStream refused or did not confirm in time (their say got an error, not an ack).", s.storeErrors.Load())
	dst = append(dst, "# HELP wsbench_broker_rtt_seconds Last NATS round trip (PING to PONG), measured with each heartbeat.\n# TYPE wsbench_broker_rtt_seconds gauge\nwsbench_broker_rtt_seconds "...)
	dst = strconv.AppendFloat(dst, float64(s.rtt.Load())/1e9, 'g', -1, 64)
	dst = append(dst, '\n')
	dst = s.ackDelay.appendPrometheus(dst, "wsbench_broker_store_ack_seconds",
		"Time from publishing a say to the history stream to JetStream's confirmation (the say's ack waits for it).")
	dst = s.brokerDelay.appendPrometheus(dst, "wsbench_delivery_delay_broker_seconds",
		"The broker's share of a cross-node delivery: from the publishing node's send to this node's receipt (clocks of two machines if the nodes are on two). The node's share is wsbench_delivery_delay_seconds.")
	return dst
}
