package inspect

// pcap.go renders the WebSocket conversations of a tcpdump capture:
// capture file (pcap_read.go) ──▶ link/IP/TCP decoding (gopacket layers)
// ──▶ TCP reassembly (gopacket reassembly: out-of-order segments reordered,
// retransmissions dropped, gaps reported) ──▶ per connection, the HTTP
// upgrade is recognised whatever the port ──▶ both directions after it go
// through a Session, so frames render exactly as in a trace or live dump.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"

	"github.com/wsbench/wsbench/internal/trace"
)

// ErrNoWebSocket is returned by Capture.Inspect when the capture holds no
// WebSocket connection.
var ErrNoWebSocket = errors.New("no WebSocket connection in the capture")

// CaptureStats count what Capture.Inspect saw.
type CaptureStats struct {
	RenderStats
	Packets    int // packets read from the file
	TCPStreams int // TCP connections seen
	WebSockets int // of which carried a WebSocket upgrade
}

// Bounds of the reassembly and of the upgrade recognition.
const (
	maxUpgradeHead = 64 << 10 // largest HTTP request or response head
	maxEarlyData   = 1 << 20  // client bytes after the request kept while the answer is awaited
	// gapWait is how long (in capture time) the reassembler waits for a
	// missing segment before declaring a gap.
	gapWait                = 2 * time.Second
	maxBufferedPagesPerCon = 4096  // out-of-order pages kept per connection (~7.5 MiB)
	maxBufferedPagesTotal  = 16384 // and in all (~30 MiB)
)

// Capture is a pcap or pcapng capture read from R. Its TCP connections are
// reassembled and the WebSocket ones rendered: the upgrade as text, then
// every frame both ways, with the same renderer and filters as a trace.
// Connections are numbered c1, c2… in the order of their first packet;
// every other TCP connection gets one note line and is skipped.
type Capture struct {
	R     io.Reader
	Stats CaptureStats // what Inspect saw, once it returns
}

// Inspect renders the capture. On a malformed file everything decoded
// before the damage is rendered, then the *CaptureError is returned. A
// capture without any WebSocket connection returns ErrNoWebSocket.
func (c *Capture) Inspect(_ context.Context, s *Session) error {
	cp := &capture{s: s, completed: map[connKey]bool{}, frag: newDefragmenter()}
	err := cp.run(c.R)
	cp.s.mu.Lock()
	if err != nil {
		cp.errorLocked(err)
	}
	cp.s.flushLocked()
	c.Stats = CaptureStats{RenderStats: cp.s.rd.stats, Packets: cp.packets, TCPStreams: int(cp.nextID), WebSockets: cp.websockets}
	if werr := cp.s.err; werr != nil && err == nil {
		err = werr
	}
	cp.s.mu.Unlock()
	if err == nil && cp.websockets == 0 {
		cp.s.Note(0, "no WebSocket connection in this capture (%d packet(s), %d TCP connection(s))", cp.packets, cp.nextID)
		err = ErrNoWebSocket
	}
	return err
}

type connKey struct{ a, b string }

func keyOf(src, dst string) connKey {
	if src > dst {
		src, dst = dst, src
	}
	return connKey{src, dst}
}

// capture is the state of one Capture.Inspect.
type capture struct {
	s          *Session
	packets    int
	nextID     uint64
	websockets int
	started    bool
	completed  map[connKey]bool // connections already over, to ignore their last ACKs
	nonTCP     int
	undecoded  int
	frag       *defragmenter
	fragErrs   int
	// deferred holds what the final flush produces, to replay it in
	// connection order (the reassembler flushes in map order).
	flushing bool
	deferred []deferredEvent
}

type deferredEvent struct {
	conn uint64
	run  func()
}

func (cp *capture) later(conn uint64, f func()) {
	if cp.flushing {
		cp.deferred = append(cp.deferred, deferredEvent{conn, f})
		return
	}
	f()
}

func (cp *capture) errorLocked(err error) { cp.s.rd.errorLine(err) }

type captureContext struct{ ci gopacket.CaptureInfo }

func (c *captureContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

func (cp *capture) run(r io.Reader) error {
	cr, err := newCaptureReader(r)
	if err != nil {
		return err
	}
	pool := reassembly.NewStreamPool(cp)
	asm := reassembly.NewAssembler(pool)
	asm.MaxBufferedPagesPerConnection = maxBufferedPagesPerCon
	asm.MaxBufferedPagesTotal = maxBufferedPagesTotal
	var readErr error
	var lastFlush time.Time
	for {
		p, err := cr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		cp.packets++
		if !cp.started {
			cp.started = true
			cp.s.setStart(p.Time)
			cp.s.Note(0, "%s capture, link type %s, first packet at %s", cr.format, p.Link, p.Time.Format(time.RFC3339Nano))
		}
		cp.packet(asm, p)
		if p.Time.Sub(lastFlush) >= gapWait {
			if !lastFlush.IsZero() {
				cp.flush(func() { asm.FlushWithOptions(reassembly.FlushOptions{T: p.Time.Add(-gapWait)}) })
			}
			lastFlush = p.Time
		}
	}
	cp.flush(func() { asm.FlushAll() })
	if f := cp.frag; f.fragments > 0 {
		cp.s.Note(0, "%d IP fragment(s) reassembled into %d packet(s); %d fragment(s) left over (incomplete or malformed datagrams)", f.fragments, f.datagrams, f.incomplete())
	}
	if cp.nonTCP > 0 || cp.undecoded > 0 {
		cp.s.Note(0, "%d packet(s) not TCP over IP, %d not decodable: skipped", cp.nonTCP, cp.undecoded)
	}
	return readErr
}

// flush runs a reassembler flush, which visits connections in map order,
// and replays what it produced in connection order.
func (cp *capture) flush(f func()) {
	cp.flushing = true
	f()
	cp.flushing = false
	slices.SortStableFunc(cp.deferred, func(a, b deferredEvent) int {
		switch {
		case a.conn < b.conn:
			return -1
		case a.conn > b.conn:
			return 1
		}
		return 0
	})
	for _, d := range cp.deferred {
		d.run()
	}
	cp.deferred = cp.deferred[:0]
}

func (cp *capture) packet(asm *reassembly.Assembler, p capturePacket) {
	pkt := gopacket.NewPacket(p.Data, p.Link, gopacket.DecodeOptions{NoCopy: true})
	if pkt.ErrorLayer() != nil {
		cp.undecoded++
		return
	}
	nl := pkt.NetworkLayer()
	if nl == nil {
		cp.nonTCP++
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}
	if ip, ok := nl.(*layers.IPv4); ok && (ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0) {
		whole, err := cp.frag.ipv4(ip, p.Time)
		if err != nil {
			cp.fragError(err)
		}
		if whole != nil {
			cp.reassembled(asm, whole.NetworkFlow(), whole.Protocol, whole.Payload, ci)
		}
		return
	}
	if fh, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); ok {
		ip6, _ := nl.(*layers.IPv6)
		if ip6 == nil {
			cp.undecoded++
			return
		}
		payload, proto, flow, err := cp.frag.ipv6(ip6, fh, p.Time)
		if err != nil {
			cp.fragError(err)
		}
		if payload != nil {
			cp.reassembled(asm, flow, proto, payload, ci)
		}
		return
	}
	tcp, ok := pkt.TransportLayer().(*layers.TCP)
	if !ok {
		cp.nonTCP++
		return
	}
	asm.AssembleWithContext(nl.NetworkFlow(), tcp, &captureContext{ci})
}

// reassembled passes a datagram put back together from fragments on to
// TCP reassembly.
func (cp *capture) reassembled(asm *reassembly.Assembler, flow gopacket.Flow, proto layers.IPProtocol, payload []byte, ci gopacket.CaptureInfo) {
	if proto != layers.IPProtocolTCP {
		cp.nonTCP++
		return
	}
	tcp := &layers.TCP{}
	if err := tcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		cp.undecoded++
		return
	}
	asm.AssembleWithContext(flow, tcp, &captureContext{ci})
}

// maxFragNotes bounds the notes about broken fragments; the final count
// covers the rest.
const maxFragNotes = 5

func (cp *capture) fragError(err error) {
	cp.fragErrs++
	if cp.fragErrs <= maxFragNotes {
		cp.s.Note(0, "%v", err)
	}
}

// New is the reassembly.StreamFactory: a connection's first packet.
func (cp *capture) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	src := endpoint(netFlow.Src(), tcpFlow.Src())
	dst := endpoint(netFlow.Dst(), tcpFlow.Dst())
	k := keyOf(src, dst)
	if cp.completed[k] && !tcp.SYN {
		// The last ACKs of a connection already rendered: dropped.
		return nil
	}
	delete(cp.completed, k)
	cp.nextID++
	return &captureConn{cp: cp, id: cp.nextID, src: src, dst: dst, key: k, client: -1}
}

// endpoint formats an address and port as "10.0.0.1:80" or "[::1]:80".
func endpoint(ip, port gopacket.Endpoint) string {
	var p uint16
	if r := port.Raw(); len(r) == 2 {
		p = binary.BigEndian.Uint16(r)
	}
	addr, ok := netip.AddrFromSlice(ip.Raw())
	if !ok {
		return hex.EncodeToString(ip.Raw()) + ":" + strconv.Itoa(int(p))
	}
	return netip.AddrPortFrom(addr, p).String()
}

// Connection states.
const (
	connSniffing  = iota // looking for the HTTP upgrade
	connWebSocket        // upgraded: frames are decoded
	connOther            // not WebSocket: bytes are counted
)

// mark is where a reassembled chunk starts in a half's sniffing buffer,
// and when it was captured.
type mark struct {
	off int
	at  time.Time
}

// captureHalf is one direction of a connection; index 0 is the direction
// of the connection's first packet.
type captureHalf struct {
	buf   []byte // bytes received while sniffing
	marks []mark // their chunks
	head  int    // length of the HTTP head in buf, 0 while incomplete
	scan  int    // buf is searched for the end of the head from here
	total uint64 // payload bytes reassembled
	fed   uint64 // stream bytes given to the Session, or lost in gaps
}

type captureConn struct {
	cp       *capture
	id       uint64
	src, dst string // of the first packet
	key      connKey
	state    int
	reason   string
	client   int // index of the half that sent the upgrade request, -1 unknown
	half     [2]captureHalf
	sawData  bool
	complete bool
	lastAt   time.Time // capture time of the last data, for gap notes
}

func halfIndex(d reassembly.TCPFlowDirection) int {
	if d == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}

// Accept takes every packet: checksums are not verified (captures taken on
// the sending host have them offloaded), and a connection whose SYN was not
// captured starts at its first packet.
func (c *captureConn) Accept(_ *layers.TCP, _ gopacket.CaptureInfo, _ reassembly.TCPFlowDirection, _ reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	*start = true
	return true
}

func (c *captureConn) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	dir, _, _, skip := sg.Info()
	avail, _ := sg.Lengths()
	h := halfIndex(dir)
	var at time.Time
	if avail > 0 {
		at = sg.CaptureInfo(0).Timestamp
	}
	if !c.cp.flushing {
		c.data(h, at, skip, sg.Fetch(avail))
		return
	}
	data := bytes.Clone(sg.Fetch(avail))
	c.cp.later(c.id, func() { c.data(h, at, skip, data) })
}

func (c *captureConn) ReassemblyComplete(_ reassembly.AssemblerContext) bool {
	c.cp.later(c.id, c.finish)
	return true
}

func (c *captureConn) dirOf(h int) trace.Dir {
	if h == c.client {
		return trace.ClientToServer
	}
	return trace.ServerToClient
}

func (c *captureConn) data(h int, at time.Time, skip int, p []byte) {
	hf := &c.half[h]
	if skip > 0 {
		if at.IsZero() {
			at = c.lastAt
		}
		c.gap(h, at, skip)
	}
	if len(p) == 0 {
		return
	}
	c.lastAt = at
	hf.total += uint64(len(p))
	c.sawData = true
	switch c.state {
	case connOther:
		return
	case connWebSocket:
		c.feed(h, at, p)
		return
	}
	hf.marks = append(hf.marks, mark{len(hf.buf), at})
	hf.buf = append(hf.buf, p...)
	c.sniff()
}

// gap handles skip missing bytes in direction h.
func (c *captureConn) gap(h int, at time.Time, skip int) {
	hf := &c.half[h]
	switch c.state {
	case connSniffing:
		c.other(fmt.Sprintf("%d byte(s) missing from the capture before the upgrade completed", skip))
	case connWebSocket:
		hf.fed += uint64(skip)
		c.cp.s.Gap(c.id, c.dirOf(h), at, uint64(skip), "missing from the capture")
	}
}

func (c *captureConn) feed(h int, at time.Time, p []byte) {
	hf := &c.half[h]
	hf.fed += uint64(len(p))
	c.cp.s.Data(c.id, c.dirOf(h), at, p)
}

func (c *captureConn) other(reason string) {
	c.state, c.reason = connOther, reason
	for i := range c.half {
		c.half[i].buf, c.half[i].marks = nil, nil
	}
}

// headEnd finds the end of the HTTP head in half h's buffer, searching
// only what is new; false while it is incomplete.
func (hf *captureHalf) headEnd() bool {
	if hf.head > 0 {
		return true
	}
	from := max(0, hf.scan-3)
	if i := bytes.Index(hf.buf[from:], []byte("\r\n\r\n")); i >= 0 {
		hf.head = from + i + 4
		return true
	}
	hf.scan = len(hf.buf)
	return false
}

// sniff looks for the upgrade request and its 101 answer.
func (c *captureConn) sniff() {
	if c.client < 0 {
		// HTTP clients speak first: the first bytes decide.
		for i := range c.half {
			hf := &c.half[i]
			if len(hf.buf) == 0 {
				continue
			}
			first := hf.buf
			if len(first) < 4 {
				if !strings.HasPrefix("GET ", string(first)) {
					c.other("does not start with an HTTP GET request")
				}
				return
			}
			if string(first[:4]) != "GET " {
				c.other(fmt.Sprintf("does not start with an HTTP GET request (first bytes %s)", hexBytes(first[:min(8, len(first))])))
				return
			}
			c.client = i
			break
		}
		if c.client < 0 {
			return
		}
	}
	cl, sv := &c.half[c.client], &c.half[1-c.client]
	if !cl.headEnd() {
		if len(cl.buf) > maxUpgradeHead {
			c.other(fmt.Sprintf("HTTP request head over %d bytes", maxUpgradeHead))
		}
		return
	}
	req := cl.buf[:cl.head]
	if !headerHas(req, "upgrade", "websocket") {
		c.other(fmt.Sprintf("HTTP request without Upgrade: websocket (%s)", firstLine(req)))
		return
	}
	if !sv.headEnd() {
		switch {
		case len(sv.buf) > maxUpgradeHead:
			c.other(fmt.Sprintf("HTTP response head over %d bytes", maxUpgradeHead))
		case len(cl.buf)-cl.head > maxEarlyData:
			c.other(fmt.Sprintf("no answer to the upgrade request after %d more bytes from the client", len(cl.buf)-cl.head))
		}
		return
	}
	rsp := sv.buf[:sv.head]
	if status := firstLine(rsp); !strings.HasPrefix(status, "HTTP/1.1 101") && !strings.HasPrefix(status, "HTTP/1.0 101") {
		c.other(fmt.Sprintf("upgrade request answered %q", status))
		return
	}
	c.state = connWebSocket
	c.cp.websockets++
	c.cp.s.Note(c.id, "c%d %s WebSocket upgrade", c.id, c.endpoints())
	c.cp.s.Handshake(c.id, cl.marks[0].at, req, rsp)
	c.replay(c.client)
	c.replay(1 - c.client)
}

// endpoints names the connection client first.
func (c *captureConn) endpoints() string {
	if c.client == 1 {
		return c.dst + " > " + c.src
	}
	return c.src + " > " + c.dst
}

// replay feeds what followed the HTTP head of half h, chunk by chunk
// with the time of each.
func (c *captureConn) replay(h int) {
	hf := &c.half[h]
	buf, marks, head := hf.buf, hf.marks, hf.head
	hf.buf, hf.marks = nil, nil
	for i, m := range marks {
		end := len(buf)
		if i+1 < len(marks) {
			end = marks[i+1].off
		}
		if start := max(m.off, head); start < end {
			c.feed(h, m.at, buf[start:end])
		}
	}
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	q := fmt.Sprintf("%q", line)
	return q[1 : len(q)-1]
}

// headerHas reports whether the HTTP head has header name (lower case)
// with a comma-separated token equal to token, case-insensitively.
func headerHas(head []byte, name, token string) bool {
	lines := strings.Split(string(head), "\r\n")
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), name) {
			continue
		}
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// finish ends a connection: its last notes.
func (c *captureConn) finish() {
	if c.complete {
		return
	}
	c.complete = true
	c.cp.completed[c.key] = true
	out, in := c.half[0].total, c.half[1].total
	switch c.state {
	case connWebSocket:
		for h := range c.half {
			d := c.dirOf(h)
			n, resync := c.cp.s.pendingFrame(c.id, d)
			switch {
			case n > 0 && resync:
				c.cp.s.Note(c.id, "c%d %s stream ends before a frame boundary was found after the gap: %d byte(s) up to stream byte %d not decoded", c.id, d, n, c.half[h].fed)
			case n > 0:
				c.cp.s.Note(c.id, "c%d %s stream ends inside a frame: %d byte(s) of an incomplete frame at stream byte %d not shown", c.id, d, n, c.half[h].fed-uint64(n))
			}
		}
	case connSniffing:
		reason := "no payload"
		if c.sawData {
			reason = "ended before an HTTP upgrade completed"
		}
		c.cp.s.Note(c.id, "c%d %s > %s not WebSocket (%s): %d byte(s) out, %d back; skipped", c.id, c.src, c.dst, reason, out, in)
	case connOther:
		c.cp.s.Note(c.id, "c%d %s > %s not WebSocket (%s): %d byte(s) out, %d back; skipped", c.id, c.src, c.dst, c.reason, out, in)
	}
}

// pendingFrame is how many bytes the Session holds undecoded for conn in
// direction d: of an incomplete frame, or after a gap while no frame
// boundary was found (resync).
func (s *Session) pendingFrame(conn uint64, d trace.Dir) (n int, resync bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp := s.streams[streamKey{conn, d}]; sp != nil && !sp.broken {
		return len(sp.buf), sp.resync
	}
	return 0, false
}
