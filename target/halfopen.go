package target

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// halfOpen counts connections still in the handshake (accepted, HTTP
// request not yet answered) per source IP. Such a connection costs its
// client nothing but holds one of --max-conns until the handshake timeout,
// so one address may hold at most limit of them: 100 silent sockets from
// one host cannot lock everyone else out.
type halfOpen struct {
	limit int
	total atomic.Int64 // wsbench_handshakes_pending

	mu      sync.Mutex
	byIP    map[netip.Addr]*ipHalfOpen
	sweepAt int // sweep idle entries when the map reaches this size
}

// minSweep is the map size below which idle entries are kept: a client
// address that comes back (a load generator, a proxy) then reuses its entry
// instead of costing an allocation and a map insert and delete per
// handshake.
const minSweep = 1024

// ipHalfOpen is one address's count; a connection in the handshake holds a
// pointer to it (8 bytes per connection, nil once the handshake is over).
type ipHalfOpen struct {
	ip netip.Addr
	n  int
}

func newHalfOpen(limit int) *halfOpen {
	return &halfOpen{limit: limit, byIP: map[netip.Addr]*ipHalfOpen{}, sweepAt: minSweep}
}

// acquire counts one more connection in the handshake from addr's IP, or
// reports false when that IP already has limit of them. Addresses that are
// not TCP (none today) share one count.
func (h *halfOpen) acquire(addr net.Addr) (*ipHalfOpen, bool) {
	var ip netip.Addr
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
		ip = ip.Unmap()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.byIP[ip]
	if e == nil {
		if len(h.byIP) >= h.sweepAt {
			h.sweep()
		}
		e = &ipHalfOpen{ip: ip}
		h.byIP[ip] = e
	}
	if e.n >= h.limit {
		return nil, false
	}
	e.n++
	h.total.Add(1)
	return e, true
}

// release ends one connection's handshake. An address left with none
// keeps its entry until the next sweep.
func (h *halfOpen) release(e *ipHalfOpen) {
	h.mu.Lock()
	e.n--
	h.mu.Unlock()
	h.total.Add(-1)
}

// sweep deletes the entries of addresses with no connection in the
// handshake (no connection points at them) and sets the next sweep at twice
// what is left, so the map holds at most about twice the addresses with
// handshakes in flight, or minSweep, and sweeping costs O(1) per insert
// amortised. Called with mu held.
func (h *halfOpen) sweep() {
	for ip, e := range h.byIP {
		if e.n == 0 {
			delete(h.byIP, ip)
		}
	}
	h.sweepAt = max(minSweep, 2*len(h.byIP))
}
