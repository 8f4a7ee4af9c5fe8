package dialer

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// maxSources bounds how many addresses one spec may expand to.
const maxSources = 1 << 16

// SourcePool is a set of local addresses that new connections bind to, round
// robin, so that a run is not capped by one source address's ephemeral
// ports. It is safe for concurrent use.
type SourcePool struct {
	addrs []netip.Addr
	tcp   []*net.TCPAddr // prebuilt so that dialing does not allocate them
	next  atomic.Uint64
}

// ParseSources parses a source-address spec: a single address
// ("127.0.0.1"), an inclusive range ("127.0.0.1-127.0.0.32"), a CIDR prefix
// ("127.0.0.0/27", every address in it), or a comma-separated list of these.
// IPv6 works the same way. At most 65,536 addresses.
func ParseSources(spec string) (*SourcePool, error) {
	p := &SourcePool{}
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("dialer: source spec is empty")
	}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if err := p.add(part); err != nil {
			return nil, fmt.Errorf("dialer: source %q: %w", part, err)
		}
	}
	p.tcp = make([]*net.TCPAddr, len(p.addrs))
	for i, a := range p.addrs {
		p.tcp[i] = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0))
	}
	return p, nil
}

func (p *SourcePool) add(part string) error {
	var first, last netip.Addr
	switch {
	case strings.Contains(part, "/"):
		pfx, err := netip.ParsePrefix(part)
		if err != nil {
			return err
		}
		pfx = pfx.Masked()
		if pfx.Addr().BitLen()-pfx.Bits() > 16 {
			return fmt.Errorf("prefix holds more than %d addresses", maxSources)
		}
		first = pfx.Addr()
		last = first
		for n := first.Next(); n.IsValid() && pfx.Contains(n); n = n.Next() {
			last = n
		}
	case strings.Contains(part, "-"):
		lo, hi, _ := strings.Cut(part, "-")
		var err error
		if first, err = netip.ParseAddr(strings.TrimSpace(lo)); err != nil {
			return err
		}
		if last, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
			return err
		}
		if first.BitLen() != last.BitLen() {
			return fmt.Errorf("range mixes IPv4 and IPv6")
		}
		if last.Less(first) {
			return fmt.Errorf("range end %s is before its start %s", last, first)
		}
	default:
		a, err := netip.ParseAddr(part)
		if err != nil {
			return err
		}
		first, last = a, a
	}
	for a := first; ; a = a.Next() {
		if len(p.addrs) >= maxSources {
			return fmt.Errorf("more than %d addresses", maxSources)
		}
		p.addrs = append(p.addrs, a.Unmap())
		if a == last {
			return nil
		}
	}
}

// Len is the number of addresses in the pool.
func (p *SourcePool) Len() int { return len(p.addrs) }

// Addrs returns a copy of the pool's addresses in order.
func (p *SourcePool) Addrs() []netip.Addr { return append([]netip.Addr(nil), p.addrs...) }

// Next returns the next address, round robin.
func (p *SourcePool) Next() netip.Addr {
	return p.addrs[(p.next.Add(1)-1)%uint64(len(p.addrs))]
}

// local is the net.Dialer LocalAddr for the next connection; nil (an untyped
// nil interface) lets the kernel choose.
func (p *SourcePool) local() net.Addr {
	if p == nil || len(p.tcp) == 0 {
		return nil
	}
	return p.tcp[(p.next.Add(1)-1)%uint64(len(p.tcp))]
}
