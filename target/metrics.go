package target

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/wsbench/wsbench/internal/wsproto"
)

// metrics holds the server's counters. They are plain atomics written in the
// Prometheus text format by hand: a client library would work as well, but
// this keeps the hot path to one atomic add, costs no memory per connection,
// and adds no dependency for a dozen series.
type metrics struct {
	connsCurrent   atomic.Int64
	connsTotal     atomic.Int64
	upgradesOK     atomic.Int64
	msgsIn         atomic.Int64
	bytesIn        atomic.Int64
	msgsOut        atomic.Int64 // frames written to sockets
	bytesOut       atomic.Int64
	deliveries     atomic.Int64 // per-recipient frames queued by Deliver
	outQueued      atomic.Int64 // bytes in per-connection queues, not yet handed to sockets (next to deliveries: both change per recipient)
	drops          atomic.Int64 // Chatter dropped for a full queue
	slowDisconnect atomic.Int64
	httpRequests   atomic.Int64 // /healthz, /metrics, 404s
	deliveryDelay  delayHistogram
	pmd            pmdMetrics // permessage-deflate (deflate.go)

	mu             sync.Mutex
	upgradesFailed map[string]int64 // by reason
	closes         map[closeKey]int64
}

type closeKey struct {
	code uint16
	side string // "server" (we sent first) or "client"
}

func newMetrics() *metrics {
	return &metrics{upgradesFailed: map[string]int64{}, closes: map[closeKey]int64{}}
}

func (m *metrics) upgradeFailed(reason string) {
	m.mu.Lock()
	m.upgradesFailed[reason]++
	m.mu.Unlock()
}

// closeOther is the closeKey code of every close code without a meaning of
// its own (3000-4999 and anything a peer may choose): they share one series,
// code="other", so a client cannot grow /metrics by picking fresh codes.
const closeOther = 0

func (m *metrics) closed(code uint16, side string) {
	if code < wsproto.CloseNormal || code > wsproto.CloseTLSHandshake {
		code = closeOther
	}
	m.mu.Lock()
	m.closes[closeKey{code, side}]++
	m.mu.Unlock()
}

// HubStats are the gauges the chat hub reports into /metrics.
type HubStats struct {
	Rooms, Members, Users, History int64
	// History bounds (--history-room-bytes, --history-total-bytes,
	// --max-chat-message, --room-creates).
	RoomsHeld, HistoryBytes                                   int64
	TooLong, RoomCreatesLimited, RoomsEvicted, HistoryTrimmed uint64
}

// appendPrometheus renders every series in the Prometheus text exposition
// format (version 0.0.4).
func (m *metrics) appendPrometheus(dst []byte, hs HubStats, handshakesPending int64) []byte {
	gauge := func(name, help string, v int64) {
		dst = append(dst, "# HELP "+name+" "+help+"\n# TYPE "+name+" gauge\n"+name+" "...)
		dst = strconv.AppendInt(dst, v, 10)
		dst = append(dst, '\n')
	}
	counter := func(name, help string, v int64) {
		dst = append(dst, "# HELP "+name+" "+help+"\n# TYPE "+name+" counter\n"+name+" "...)
		dst = strconv.AppendInt(dst, v, 10)
		dst = append(dst, '\n')
	}
	gauge("wsbench_connections", "Open connections (TCP, including those still in the handshake).", m.connsCurrent.Load())
	counter("wsbench_connections_total", "Connections accepted.", m.connsTotal.Load())
	gauge("wsbench_handshakes_pending", "Connections accepted whose HTTP request is not answered yet (each source IP may hold --max-handshakes-per-ip).", handshakesPending)
	counter("wsbench_upgrades_total", "Successful WebSocket upgrades.", m.upgradesOK.Load())
	counter("wsbench_messages_in_total", "Data messages received from clients.", m.msgsIn.Load())
	counter("wsbench_bytes_in_total", "Bytes received from clients (all frames, payload only).", m.bytesIn.Load())
	counter("wsbench_frames_out_total", "Frames written to clients.", m.msgsOut.Load())
	counter("wsbench_bytes_out_total", "Bytes written to clients (frames including headers).", m.bytesOut.Load())
	counter("wsbench_deliveries_total", "Frames queued to a recipient by the hub.", m.deliveries.Load())
	counter("wsbench_drops_total", "Chatter frames dropped because a recipient's queue was full.", m.drops.Load())
	counter("wsbench_slow_consumer_disconnects_total", "Connections closed with 1008 for staying over the outbound limit.", m.slowDisconnect.Load())
	gauge("wsbench_outbound_queued_bytes", "Bytes queued to connections and not yet handed to their sockets (a broadcast frame counts once per recipient); each connection's share is bounded by --outbound-limit.", m.outQueued.Load())
	counter("wsbench_http_requests_total", "Plain HTTP requests answered (healthz, metrics, not found).", m.httpRequests.Load())
	gauge("wsbench_rooms", "Chat rooms with at least one member.", hs.Rooms)
	gauge("wsbench_room_members", "Room memberships.", hs.Members)
	gauge("wsbench_users", "Connections with a nickname.", hs.Users)
	gauge("wsbench_history_messages", "Messages held in room history.", hs.History)
	gauge("wsbench_history_bytes", "Memory held by room history in bytes (limit --history-total-bytes).", hs.HistoryBytes)
	gauge("wsbench_rooms_held", "Rooms held in memory: rooms with members plus empty rooms kept for their history.", hs.RoomsHeld)
	counter("wsbench_rooms_evicted_total", "Rooms without members dropped from memory to stay under --history-total-bytes.", int64(hs.RoomsEvicted))
	counter("wsbench_history_trimmed_total", "History messages of rooms with members dropped to stay under --history-total-bytes.", int64(hs.HistoryTrimmed))
	counter("wsbench_chat_too_long_total", "Chat messages refused with too_long (--max-chat-message, text limit).", int64(hs.TooLong))
	counter("wsbench_room_creates_limited_total", "Joins refused because the connection created --room-creates rooms within a minute.", int64(hs.RoomCreatesLimited))

	dst = m.pmd.appendPrometheus(dst)
	dst = m.deliveryDelay.appendPrometheus(dst, "wsbench_delivery_delay_seconds",
		"Time from the hub encoding a delivery (a room, shout or dm message) to its frame being written to the recipient's socket.")

	m.mu.Lock()
	reasons := make([]string, 0, len(m.upgradesFailed))
	for r := range m.upgradesFailed {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	dst = append(dst, "# HELP wsbench_upgrade_failures_total Rejected handshakes by reason.\n# TYPE wsbench_upgrade_failures_total counter\n"...)
	for _, r := range reasons {
		dst = append(dst, `wsbench_upgrade_failures_total{reason="`...)
		dst = append(dst, r...)
		dst = append(dst, `"} `...)
		dst = strconv.AppendInt(dst, m.upgradesFailed[r], 10)
		dst = append(dst, '\n')
	}
	keys := make([]closeKey, 0, len(m.closes))
	for k := range m.closes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b closeKey) int {
		if a.code != b.code {
			return int(a.code-1) - int(b.code-1) // closeOther (0) last
		}
		if a.side < b.side {
			return -1
		}
		if a.side > b.side {
			return 1
		}
		return 0
	})
	dst = append(dst, "# HELP wsbench_closes_total Close handshakes by code (1000-1015; every other code counts as other) and by the side that sent the first close frame.\n# TYPE wsbench_closes_total counter\n"...)
	for _, k := range keys {
		dst = append(dst, `wsbench_closes_total{code="`...)
		if k.code == closeOther {
			dst = append(dst, "other"...)
		} else {
			dst = strconv.AppendUint(dst, uint64(k.code), 10)
		}
		dst = append(dst, `",initiator="`...)
		dst = append(dst, k.side...)
		dst = append(dst, `"} `...)
		dst = strconv.AppendInt(dst, m.closes[k], 10)
		dst = append(dst, '\n')
	}
	m.mu.Unlock()
	return dst
}

// delayBounds are the upper bounds (ns) of delayHistogram's buckets: fine
// below 20 ms, where the reference server's fan-out goals lie.
var delayBounds = [...]int64{
	50e3, 100e3, 200e3, 500e3,
	1e6, 2e6, 3e6, 5e6, 7.5e6, 10e6, 15e6, 20e6, 30e6, 50e6, 75e6,
	100e6, 200e6, 500e6, 1e9, 2e9, 5e9,
}

// delayHistogram is a fixed-bucket histogram of durations with atomic
// counts: one bucket search and two atomic adds per sample, no memory per
// connection, and the Prometheus histogram type on /metrics.
type delayHistogram struct {
	counts [len(delayBounds) + 1]atomic.Int64 // last: above every bound (+Inf)
	sum    atomic.Int64                       // ns
}

func (h *delayHistogram) observe(d int64) {
	if d < 0 {
		d = 0
	}
	i := 0
	for i < len(delayBounds) && d > delayBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(d)
}

// appendPrometheus writes h as a Prometheus histogram in seconds.
func (h *delayHistogram) appendPrometheus(dst []byte, name, help string) []byte {
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
