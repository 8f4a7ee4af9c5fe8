package inspect

// pcap_frag.go puts IP fragments back together before TCP reassembly
// (pcap.go): IPv4 with gopacket's ip4defrag, IPv6 (the Fragment extension
// header) here, as gopacket has no IPv6 defragmenter. Both are bounded:
// datagrams still incomplete after fragTimeout of capture time, or past
// maxFragDatagrams at once, are given up and counted.

import (
	"fmt"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
)

const (
	fragTimeout      = 30 * time.Second // as Linux's ipfrag_time
	maxFragDatagrams = 1024             // IPv6 datagrams being reassembled at once
	maxFragSize      = 65535 + 8        // largest IPv6 payload (no jumbograms)
)

// fragKey names a fragmented datagram.
type fragKey struct {
	src, dst string
	id       uint32
}

type fragPiece struct {
	off  int
	data []byte
}

type v4held struct {
	n     int
	first time.Time
}

type v6datagram struct {
	pieces  []fragPiece
	total   int // payload length, known from the last fragment; -1 before
	next    layers.IPProtocol
	first   time.Time
	netFlow gopacket.Flow
}

// defragmenter reassembles the fragmented datagrams of a capture.
type defragmenter struct {
	v4      *ip4defrag.IPv4Defragmenter
	v4count map[fragKey]v4held // fragments held per IPv4 datagram
	v6      map[fragKey]*v6datagram
	// Counts for the final note.
	fragments   int // fragments seen
	datagrams   int // datagrams reassembled
	used        int // fragments that went into them
	lastDiscard time.Time
}

func newDefragmenter() *defragmenter {
	return &defragmenter{v4: ip4defrag.NewIPv4Defragmenter(), v4count: map[fragKey]v4held{}, v6: map[fragKey]*v6datagram{}}
}

// ipv4 takes an IPv4 fragment (its bytes are copied) and returns the whole
// datagram once its last missing fragment arrives, else nil.
func (d *defragmenter) ipv4(ip *layers.IPv4, at time.Time) (*layers.IPv4, error) {
	d.fragments++
	d.expire(at)
	// ip4defrag keeps the layer: give it one that owns its bytes.
	raw := make([]byte, 0, len(ip.Contents)+len(ip.Payload))
	raw = append(append(raw, ip.Contents...), ip.Payload...)
	own := &layers.IPv4{}
	if err := own.DecodeFromBytes(raw, gopacket.NilDecodeFeedback); err != nil {
		return nil, fmt.Errorf("IPv4 fragment: %w", err)
	}
	k := fragKey{own.SrcIP.String(), own.DstIP.String(), uint32(own.Id)}
	h := d.v4count[k]
	if h.n == 0 {
		h.first = at
	}
	h.n++
	d.v4count[k] = h
	whole, err := d.v4.DefragIPv4WithTimestamp(own, at)
	if err != nil {
		delete(d.v4count, k)
		return nil, fmt.Errorf("IPv4 fragments %s > %s id %d: %w", k.src, k.dst, k.id, err)
	}
	if whole == nil {
		return nil, nil
	}
	d.datagrams++
	d.used += d.v4count[k].n
	delete(d.v4count, k)
	return whole, nil
}

// ipv6 takes an IPv6 fragment and returns the reassembled payload (what
// follows the fragment header), its protocol and flow once complete.
func (d *defragmenter) ipv6(ip *layers.IPv6, fh *layers.IPv6Fragment, at time.Time) ([]byte, layers.IPProtocol, gopacket.Flow, error) {
	d.fragments++
	d.expire(at)
	k := fragKey{ip.SrcIP.String(), ip.DstIP.String(), fh.Identification}
	dg := d.v6[k]
	if dg == nil {
		if len(d.v6) >= maxFragDatagrams {
			return nil, 0, gopacket.Flow{}, fmt.Errorf("IPv6 fragment %s > %s id %d: over %d datagrams in reassembly at once: dropped", k.src, k.dst, k.id, maxFragDatagrams)
		}
		dg = &v6datagram{total: -1, first: at, netFlow: ip.NetworkFlow()}
		d.v6[k] = dg
	}
	off := int(fh.FragmentOffset) * 8
	end := off + len(fh.Payload)
	if end > maxFragSize || (dg.total >= 0 && end > dg.total) || (fh.MoreFragments && len(fh.Payload)%8 != 0) {
		delete(d.v6, k)
		return nil, 0, gopacket.Flow{}, fmt.Errorf("IPv6 fragment %s > %s id %d at offset %d: bad length %d", k.src, k.dst, k.id, off, len(fh.Payload))
	}
	if !fh.MoreFragments {
		dg.total = end
	}
	if off == 0 {
		dg.next = fh.NextHeader
	}
	dg.pieces = append(dg.pieces, fragPiece{off, slices.Clone(fh.Payload)})
	if dg.total < 0 {
		return nil, 0, gopacket.Flow{}, nil
	}
	// Complete when the pieces cover 0..total without a hole (the first
	// copy of overlapping bytes wins).
	slices.SortStableFunc(dg.pieces, func(a, b fragPiece) int { return a.off - b.off })
	out := make([]byte, 0, dg.total)
	for _, p := range dg.pieces {
		if p.off > len(out) {
			return nil, 0, gopacket.Flow{}, nil // a hole: wait
		}
		if e := p.off + len(p.data); e > len(out) {
			out = append(out, p.data[len(out)-p.off:]...)
		}
	}
	if len(out) < dg.total {
		return nil, 0, gopacket.Flow{}, nil
	}
	delete(d.v6, k)
	d.datagrams++
	d.used += len(dg.pieces)
	return out[:dg.total], dg.next, dg.netFlow, nil
}

// expire gives up datagrams whose first fragment is older than
// fragTimeout, at most once a second of capture time.
func (d *defragmenter) expire(at time.Time) {
	if at.Sub(d.lastDiscard) < time.Second {
		return
	}
	d.lastDiscard = at
	d.v4.DiscardOlderThan(at.Add(-fragTimeout))
	for k, h := range d.v4count {
		if at.Sub(h.first) > fragTimeout {
			delete(d.v4count, k)
		}
	}
	for k, dg := range d.v6 {
		if at.Sub(dg.first) > fragTimeout {
			delete(d.v6, k)
		}
	}
}

// incomplete is how many fragments did not make a whole datagram.
func (d *defragmenter) incomplete() int { return d.fragments - d.used }
