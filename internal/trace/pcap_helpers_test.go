package trace

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
}

type capPkt struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func newConv(t testing.TB, at time.Time, client, server string, cPort, sPort uint16) *tcpConv {
	return &tcpConv{t: t, cIP: net.ParseIP(client).To4(), sIP: net.ParseIP(server).To4(), cPort: cPort, sPort: sPort, cSeq: 1000, sSeq: 5000000, at: at}
}

// packet builds one segment; seq is absolute.
func (c *tcpConv) packet(fromClient bool, seq uint32, payload []byte, syn, fin bool) {
	c.at = c.at.Add(100 * time.Microsecond)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: c.cIP, DstIP: c.sIP}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(c.cPort), DstPort: layers.TCPPort(c.sPort), Seq: seq, Ack: c.sSeq, SYN: syn, FIN: fin, ACK: true, PSH: len(payload) > 0, Window: 65535}
	if !fromClient {
		eth.SrcMAC, eth.DstMAC = eth.DstMAC, eth.SrcMAC
		ip.SrcIP, ip.DstIP = c.sIP, c.cIP
		tcp.SrcPort, tcp.DstPort, tcp.Ack = layers.TCPPort(c.sPort), layers.TCPPort(c.cPort), c.cSeq
	}
	if syn && fromClient {
		tcp.ACK, tcp.Ack = false, 0
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		c.t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		c.t.Fatal(err)
	}
	data := bytes.Clone(buf.Bytes())
	c.pkts = append(c.pkts, capPkt{gopacket.CaptureInfo{Timestamp: c.at, CaptureLength: len(data), Length: len(data)}, data})
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
