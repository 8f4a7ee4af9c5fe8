package inspect

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// wireEvent is bytes that crossed a connection one way, in order.
type wireEvent struct {
	fromClient bool
	b          []byte
}

// tcpConv synthesises the Ethernet/IPv4/TCP packets of one connection.
type tcpConv struct {
	t            testing.TB
	cIP, sIP     net.IP
	cPort, sPort uint16
	cSeq, sSeq   uint32 // next sequence number each way
	at           time.Time
	pkts         []capPkt
	fragMTU      int    // > 0: IP payloads over this many bytes are fragmented (a multiple of 8)
	ipID         uint16 // identification of the last fragmented datagram
}

type capPkt struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func newConv(t testing.TB, at time.Time, client, server string, cPort, sPort uint16) *tcpConv {
	ip := func(s string) net.IP {
		if v4 := net.ParseIP(s).To4(); v4 != nil {
			return v4
		}
		return net.ParseIP(s)
	}
	return &tcpConv{t: t, cIP: ip(client), sIP: ip(server), cPort: cPort, sPort: sPort, cSeq: 1000, sSeq: 5000000, at: at}
}

// packet builds one segment; seq is absolute. With fragMTU set, an IP
// payload (TCP header and data) longer than it goes out as IP fragments of
// fragMTU bytes, the last one first.
func (c *tcpConv) packet(fromClient bool, seq uint32, payload []byte, syn, fin bool) {
	c.at = c.at.Add(100 * time.Microsecond)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	src, dst := c.cIP, c.sIP
	tcp := &layers.TCP{SrcPort: layers.TCPPort(c.cPort), DstPort: layers.TCPPort(c.sPort), Seq: seq, Ack: c.sSeq, SYN: syn, FIN: fin, ACK: true, PSH: len(payload) > 0, Window: 65535}
	if !fromClient {
		eth.SrcMAC, eth.DstMAC = eth.DstMAC, eth.SrcMAC
		src, dst = c.sIP, c.cIP
		tcp.SrcPort, tcp.DstPort, tcp.Ack = layers.TCPPort(c.sPort), layers.TCPPort(c.cPort), c.cSeq
	}
	if syn && fromClient {
		tcp.ACK, tcp.Ack = false, 0
	}
	v6 := src.To4() == nil
	var ipl gopacket.NetworkLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ipl = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	} else {
		ipl = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	}
	if err := tcp.SetNetworkLayerForChecksum(ipl); err != nil {
		c.t.Fatal(err)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	seg := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(seg, opts, tcp, gopacket.Payload(payload)); err != nil {
		c.t.Fatal(err)
	}
	ipPayload := seg.Bytes()
	emit := func(ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, append([]gopacket.SerializableLayer{eth}, ls...)...); err != nil {
			c.t.Fatal(err)
		}
		data := bytes.Clone(buf.Bytes())
		c.pkts = append(c.pkts, capPkt{gopacket.CaptureInfo{Timestamp: c.at, CaptureLength: len(data), Length: len(data)}, data})
	}
	if c.fragMTU <= 0 || len(ipPayload) <= c.fragMTU {
		emit(ipl.(gopacket.SerializableLayer), gopacket.Payload(ipPayload))
		return
	}
	c.ipID++
	var frags [][]gopacket.SerializableLayer
	for off := 0; off < len(ipPayload); off += c.fragMTU {
		chunk := ipPayload[off:min(off+c.fragMTU, len(ipPayload))]
		more := off+c.fragMTU < len(ipPayload)
		if v6 {
			ip := *ipl.(*layers.IPv6)
			ip.NextHeader = layers.IPProtocolIPv6Fragment
			fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: uint16(off / 8), MoreFragments: more, Identification: uint32(c.ipID)}
			frags = append(frags, []gopacket.SerializableLayer{&ip, fh, gopacket.Payload(chunk)})
			continue
		}
		ip := *ipl.(*layers.IPv4)
		ip.Id, ip.FragOffset = c.ipID, uint16(off/8)
		if more {
			ip.Flags = layers.IPv4MoreFragments
		}
		frags = append(frags, []gopacket.SerializableLayer{&ip, gopacket.Payload(chunk)})
	}
	// The last fragment first: reassembly must not depend on order.
	frags = append(frags[len(frags)-1:], frags[:len(frags)-1]...)
	for _, f := range frags {
		emit(f...)
	}
}

func (c *tcpConv) open() {
	c.packet(true, c.cSeq, nil, true, false)
	c.cSeq++
	c.packet(false, c.sSeq, nil, true, false)
	c.sSeq++
	c.packet(true, c.cSeq, nil, false, false)
}

// segmentSizes cycles through varied segment sizes, so frames are split
// across segments and segments hold several frames.
var segmentSizes = []int{1, 7, 100, 1400, 3, 500, 60, 1200}

// send cuts b into segments. Options: swap the segments at index ooo and
// ooo+1 (out of order), send segment retrans twice, drop segment drop
// (a gap); -1 disables each.
func (c *tcpConv) send(fromClient bool, b []byte, ooo, retrans, drop int) {
	type seg struct {
		seq uint32
		b   []byte
	}
	seq := &c.sSeq
	if fromClient {
		seq = &c.cSeq
	}
	var segs []seg
	for i := 0; len(b) > 0; i++ {
		n := min(segmentSizes[(i+len(c.pkts))%len(segmentSizes)], len(b))
		segs = append(segs, seg{*seq, b[:n]})
		*seq += uint32(n)
		b = b[n:]
	}
	if ooo >= 0 && ooo+1 < len(segs) {
		segs[ooo], segs[ooo+1] = segs[ooo+1], segs[ooo]
	}
	for i, s := range segs {
		if i == drop {
			continue
		}
		c.packet(fromClient, s.seq, s.b, false, false)
		if i == retrans {
			c.packet(fromClient, s.seq, s.b, false, false)
		}
	}
	// The peer acknowledges.
	if fromClient {
		c.packet(false, c.sSeq, nil, false, false)
	} else {
		c.packet(true, c.cSeq, nil, false, false)
	}
}

func (c *tcpConv) close() {
	c.packet(true, c.cSeq, nil, false, true)
	c.cSeq++
	c.packet(false, c.sSeq, nil, false, true)
	c.sSeq++
	c.packet(true, c.cSeq, nil, false, false)
}

// writePcap writes packets (already in capture order) as a pcap file.
func writePcap(t testing.TB, pkts []capPkt) []byte {
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// writePcapng writes the same packets as a pcapng file.
func writePcapng(t testing.TB, pkts []capPkt) []byte {
	var out bytes.Buffer
	w, err := pcapgo.NewNgWriter(&out, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// conversation turns events into one connection's packets: handshake,
// data (with the given disorder on the event at index disorderAt), FIN.
func conversation(t testing.TB, c *tcpConv, events []wireEvent, disorderAt int, drop bool) {
	c.open()
	for i, e := range events {
		if i == disorderAt {
			d := -1
			if drop {
				d = 2
			}
			c.send(e.fromClient, e.b, 1, 3, d)
			continue
		}
		c.send(e.fromClient, e.b, -1, -1, -1)
	}
	c.close()
}
