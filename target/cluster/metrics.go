package cluster

import (
	"strconv"
	"sync/atomic"

	"github.com/wsbench/wsbench/target/internal/promhist"
)

// stats are the node's broker figures for /metrics.
type stats struct {
	published   atomic.Int64 // messages this node published (rooms, shouts, dms, presence)
	received    atomic.Int64 // messages other nodes published that this node handled
	reconnects  atomic.Int64
	disconnects atomic.Int64
	storeErrors atomic.Int64       // history appends JetStream refused or never confirmed
	rtt         atomic.Int64       // ns, last broker round trip (PING/PONG), measured with each heartbeat
	ackDelay    promhist.Histogram // publish → JetStream PubAck
	brokerDelay promhist.Histogram // publish on another node → received here
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
	dst = s.ackDelay.AppendPrometheus(dst, "wsbench_broker_store_ack_seconds",
		"Time from publishing a say to the history stream to JetStream's confirmation (the say's ack waits for it).")
	dst = s.brokerDelay.AppendPrometheus(dst, "wsbench_delivery_delay_broker_seconds",
		"The broker's share of a cross-node delivery: from the publishing node's send to this node's receipt (clocks of two machines if the nodes are on two). The node's share is wsbench_delivery_delay_seconds.")
	return dst
}
