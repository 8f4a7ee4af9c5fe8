package target

import (
	"bytes"
	"net/netip"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/wsproto"
	"github.com/wsbench/wsbench/target/sio"
)

// connState is where a connection is in its life.
type connState uint8

const (
	stHandshake connState = iota // waiting for the HTTP request
	stOpen                       // WebSocket open
	stClosing                    // we sent a close frame and wait for the reply
	stClosed                     // the socket is being closed; input is ignored
)

// input is the buffered inbound byte stream of one connection; gnet.Conn
// satisfies it directly, the TLS path with its own buffer.
type input interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	InboundBuffered() int
}

// sink is the owner-side output of one connection. Its methods are called
// only by the goroutine that owns the connection (its event loop, or the TLS
// connection's writer).
type sink interface {
	writev(bufs [][]byte) error
	buffered() int // bytes accepted by writev but not yet on the socket
}

// owner schedules a flush of a connection's queue on the goroutine that owns
// it; markDirty is safe from any goroutine.
type owner interface {
	markDirty(c *wsConn)
	// handled is told after each chat message handed to the hub, so an
	// event loop can flush mid-read when one read holds a long burst.
	handled()
}

// wsConn is the per-connection state. It is kept small because the server
// holds tens of thousands of idle connections: no buffers are held while a
// connection is idle (the fragment buffer exists only during a fragmented
// message, the queue slice is dropped once drained).
type wsConn struct {
	srv   *Server
	id    uint64
	own   owner
	out   sink
	gs    gnetSink // out for event-loop connections, kept inline
	route route
	hs    *ipHalfOpen // this connection's count in Server.half while in the handshake
	// sioSess is the Socket.IO session of a routeSIO WebSocket or a parked
	// routeSIOPoll request (socketio.go).
	sioSess *sio.Session

	// Owner-goroutine state.
	state         connState
	pinged        bool
	closeAfter    bool // close the socket after the next flush
	fragOp        ws.OpCode
	frag          []byte // fragmented message being reassembled
	openedAt      int64  // server clock, ns
	lastRead      int64
	closeDeadline int64
	loopIdx       int // index in the owning loop's connection list
	backlogged    bool
	skip          int64    // payload bytes of a refused frame still to discard
	pmd           *pmdConn // permessage-deflate (deflate.go); nil when not negotiated

	dirty atomic.Bool

	// Shared with Deliver callers, guarded by mu.
	mu          sync.Mutex
	q           []*frame
	qBytes      int
	qReported   int   // the part of qBytes counted in the outQueued gauge (syncQueuedLocked)
	outBuffered int   // sink.buffered() at the last flush
	overSince   int64 // when the queue went over the limit (0 = not over)
	dead        bool  // socket closed; queue no longer accepts frames
	// closeQueued: a close frame is in the queue, so nothing more may be
	// queued behind it (RFC 6455 §5.5.1: no data after a close frame).
	closeQueued bool
	kill        bool // over the hard cap: close as a slow consumer now
	reqClose    bool // a close was requested from another goroutine
	reqCode     uint16
	reqReason   string
	reqWait     bool
}

// push queues f (taking a reference) unless the connection is gone or the
// frame is droppable chatter and the queue is over its limit. It reports
// whether the owner must be told. Hub deliveries come here, and so do the
// connection's own replies to its peer (echoes, pongs): every frame whose
// count the peer controls is bounded by --outbound-limit and the
// slow-consumer policy.
func (c *wsConn) push(f *frame, droppable bool) bool {
	s := c.srv
	c.mu.Lock()
	if c.dead || c.kill || c.closeQueued {
		c.mu.Unlock()
		return false
	}
	total := c.qBytes + c.outBuffered
	if total >= s.cfg.OutboundLimit {
		if c.overSince == 0 {
			c.overSince = s.now()
		}
		if droppable {
			c.mu.Unlock()
			s.m.drops.Add(1)
			return false
		}
		if total >= 4*s.cfg.OutboundLimit {
			// Replies are never dropped, but memory must stay bounded.
			c.kill = true
			c.mu.Unlock()
			return true
		}
	}
	c.appendLocked(f)
	c.mu.Unlock()
	return true
}

// pushOwn queues a frame the server sends once per event it controls (the
// 101 or an HTTP answer, its own pings, close frames); it bypasses the
// limit. Anything a peer can make the server send in bulk goes through push.
func (c *wsConn) pushOwn(f *frame) {
	c.mu.Lock()
	if !c.dead && !c.closeQueued {
		c.appendLocked(f)
	}
	c.mu.Unlock()
}

func (c *wsConn) appendLocked(f *frame) {
	f.retain()
	c.q = append(c.q, f)
	c.qBytes += len(f.b)
	// The outQueued gauge follows at the owner's next flush
	// (syncQueuedLocked): no shared atomic per recipient on the fan-out path.
}

// syncQueuedLocked brings the outQueued gauge up to date with this
// connection's queue: one atomic per flush, not one per queued frame.
func (c *wsConn) syncQueuedLocked() {
	if d := c.qBytes - c.qReported; d != 0 {
		c.srv.m.outQueued.Add(int64(d))
		c.qReported = c.qBytes
	}
}

// dropQueueLocked releases every queued frame.
func (c *wsConn) dropQueueLocked() {
	for i, f := range c.q {
		f.release()
		c.q[i] = nil
	}
	c.q, c.qBytes = nil, 0
	c.syncQueuedLocked()
}

// replaceQueueWithClose drops every frame still queued and queues the close
// frame f as the last frame the connection sends: later pushes are refused.
// Only what the transport already holds goes out before it.
func (c *wsConn) replaceQueueWithClose(f *frame) {
	c.mu.Lock()
	c.dropQueueLocked()
	c.overSince, c.kill = 0, false
	if !c.dead {
		c.appendLocked(f)
		c.closeQueued = true
	}
	c.syncQueuedLocked() // rare: the gauge shows the cut at once
	c.mu.Unlock()
}

// enqueueFinalClose queues the close frame f as the last frame the
// connection will ever write: from here on push and pushOwn refuse every
// frame (a late ack, a delivery, a pong), so nothing can follow the close
// frame on the wire. It reports whether f was queued (false: the
// connection is gone or already has its close frame queued).
func (c *wsConn) enqueueFinalClose(f *frame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.closeQueued {
		return false
	}
	c.appendLocked(f)
	c.closeQueued = true
	c.syncQueuedLocked()
	return true
}

// requestClose asks the owner to start a close handshake; safe from any
// goroutine.
func (c *wsConn) requestClose(code uint16, reason string, wait bool) {
	c.mu.Lock()
	if !c.dead && !c.reqClose {
		c.reqClose, c.reqCode, c.reqReason, c.reqWait = true, code, reason, wait
	}
	c.mu.Unlock()
	c.own.markDirty(c)
}

// flushHighWater is how much unsent data the transport may hold before the
// queue stops handing it more; the rest stays queued as shared references.
const flushHighWater = 32 << 10

// maxBatch bounds one writev (IOV_MAX is 1024 on Linux).
const maxBatch = 512

// flush runs on the owner goroutine: it handles a pending close request,
// writes as much of the queue as the transport takes in one writev, and
// reports whether the socket must now be closed. scratch is owner-local
// storage reused across calls.
func (c *wsConn) flush(sc *scratch) (closeNow bool) {
	s := c.srv
	buffered := c.out.buffered()
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	// The transport may have drained since the last flush (pushes judge
	// by that flush's figure): a peer back under the limit is not slow.
	c.outBuffered = buffered
	if c.qBytes+buffered < s.cfg.OutboundLimit {
		c.overSince = 0
	}
	kill := c.kill
	over := c.overSince
	req, code, reason, wait := c.reqClose, c.reqCode, c.reqReason, c.reqWait
	c.reqClose = false
	c.mu.Unlock()

	now := s.now()
	if kill || (over != 0 && now-over > int64(s.cfg.SlowTimeout)) {
		c.closeSlow()
	} else if req {
		c.startClose(ws.StatusCode(code), reason, wait)
	}

	buffered = c.out.buffered()
	if buffered < flushHighWater {
		c.mu.Lock()
		n := copy(sc.frames[:maxBatch], c.q)
		taken := 0
		for i := 0; i < n; i++ {
			taken += len(c.q[i].b)
		}
		c.qBytes -= taken
		c.syncQueuedLocked()
		rest := copy(c.q, c.q[n:])
		clear(c.q[rest:])
		c.q = c.q[:rest]
		if rest == 0 && cap(c.q) > 16 {
			c.q = nil // release the slice of a connection that had a burst
		}
		c.mu.Unlock()
		if n > 0 {
			bufs := sc.bufs[:0]
			bytes := 0
			for _, f := range sc.frames[:n] {
				bufs = append(bufs, f.b)
				bytes += len(f.b)
			}
			err := c.out.writev(bufs)
			var written int64
			if err == nil {
				written = s.now()
			}
			for i, f := range sc.frames[:n] {
				if f.born != 0 && err == nil {
					s.m.deliveryDelay.Observe(written - f.born)
				}
				f.release()
				sc.frames[i] = nil
			}
			clear(bufs)
			if err != nil {
				return true
			}
			s.m.msgsOut.Add(int64(n))
			s.m.bytesOut.Add(int64(bytes))
		}
		buffered = c.out.buffered()
	}
	c.mu.Lock()
	c.outBuffered = buffered
	if c.qBytes+buffered < s.cfg.OutboundLimit {
		c.overSince = 0
	}
	pending := len(c.q) > 0
	c.mu.Unlock()
	if pending && !c.closeAfter {
		sc.backlog = true
	}
	return c.closeAfter
}

// closeSlow cuts a peer that stayed over the outbound limit for too long
// (or went past the hard cap): its pending frames are dropped and the 1008
// close frame is the only thing left to send. The socket then stays open,
// its input discarded, until the peer answers the close or the close
// timeout passes: closing it at once would make the kernel throw away the
// close frame still waiting behind the peer's full receive window, and the
// peer would never learn why it was cut.
func (c *wsConn) closeSlow() {
	s := c.srv
	switch c.state {
	case stClosed:
		return
	case stOpen:
		s.m.slowDisconnect.Add(1)
		f := s.frames.encodeClose(ws.StatusPolicyViolation, "slow consumer")
		c.replaceQueueWithClose(f)
		f.release()
		s.m.closed(uint16(ws.StatusPolicyViolation), "server")
		c.state = stClosing
		c.closeDeadline = s.now() + int64(s.cfg.CloseTimeout)
	default:
		// Our close frame is already out or there is none to send.
		c.mu.Lock()
		c.dropQueueLocked()
		c.overSince, c.kill = 0, false
		c.mu.Unlock()
		s.m.slowDisconnect.Add(1)
		c.state, c.closeAfter = stClosed, true
	}
}

// startClose sends a close frame. With wait the connection stays up until
// the peer's close frame or the close timeout; without, the socket closes
// after the frame is flushed.
func (c *wsConn) startClose(code ws.StatusCode, reason string, wait bool) {
	switch c.state {
	case stHandshake:
		c.state, c.closeAfter = stClosed, true
		return
	case stClosing:
		if !wait {
			c.state, c.closeAfter = stClosed, true
		}
		return
	case stClosed:
		return
	}
	f := c.srv.frames.encodeClose(code, reason)
	c.enqueueFinalClose(f)
	f.release()
	c.srv.m.closed(uint16(code), "server")
	if wait {
		c.state = stClosing
		c.closeDeadline = c.srv.now() + int64(c.srv.cfg.CloseTimeout)
	} else {
		c.state, c.closeAfter = stClosed, true
	}
}

func (c *wsConn) fail(fe *frameError) {
	c.startClose(fe.code, fe.reason, false)
}

// process consumes every complete request or frame buffered in in. It never
// consumes a partial frame, so a frame split across reads is handled when
// its last byte arrives.
func (c *wsConn) process(in input) {
	s := c.srv
	c.lastRead = s.now()
	c.pinged = false
	for {
		avail := in.InboundBuffered()
		if avail == 0 {
			return
		}
		if c.state == stClosed {
			in.Discard(avail)
			return
		}
		if c.skip > 0 {
			n := int(min(c.skip, int64(avail)))
			in.Discard(n)
			c.skip -= int64(n)
			continue
		}
		switch c.state {
		case stHandshake:
			if c.route == routeSIOPoll {
				in.Discard(avail) // a parked poll reads nothing more
				return
			}
			b, _ := in.Peek(min(avail, maxRequestSize+4))
			end := findRequestEnd(b)
			if end < 0 {
				if avail > maxRequestSize {
					c.reject(&rejection{status: 431, reason: "request head over 8 KiB"}, "too_large")
				}
				return
			}
			if end > maxRequestSize {
				c.reject(&rejection{status: 431, reason: "request head over 8 KiB"}, "too_large")
				return
			}
			n := 0
			if bytes.HasPrefix(b, []byte("POST ")) {
				// Only Socket.IO polling reads a request body.
				if n = c.requestBody(b[:end]); n < 0 {
					return
				}
				if avail < end+n {
					return
				}
				b, _ = in.Peek(end + n)
			}
			c.handleRequest(b[:end], b[end:end+n])
			in.Discard(end + n)
		default:
			b, _ := in.Peek(min(avail, wsproto.MaxHeaderSize))
			h, hn, ok := wsproto.ParseHeader(b)
			if !ok {
				return
			}
			if (c.state == stClosing || s.draining.Load()) && !h.OpCode.IsControl() && !wsproto.LengthMSBSet(h) {
				// After our close frame, data is discarded unread
				// (RFC 6455 §1.4); only the peer's close matters. While
				// the server shuts down it reads no more messages either:
				// what it already took is flushed and acked first.
				in.Discard(hn)
				c.skip = h.Length
				continue
			}
			ch := h
			if c.pmd != nil {
				var fe *frameError
				if ch, fe = c.pmd.checkRSV(h); fe != nil {
					in.Discard(avail)
					c.fail(fe)
					return
				}
			}
			if fe := checkHeader(ch, c.fragOp != 0, int64(len(c.frag)), int64(s.cfg.MaxMessage)); fe != nil {
				if fe == errTooBig && c.state == stOpen {
					// The framing is intact: skip the payload unread and
					// wait for the peer's close reply, so a client still
					// writing the big message sees our close, not a reset.
					in.Discard(hn)
					c.skip = h.Length
					c.fragOp, c.frag = 0, nil
					c.startClose(fe.code, fe.reason, true)
					continue
				}
				in.Discard(avail)
				c.fail(fe)
				return
			}
			total := hn + int(h.Length)
			if avail < total {
				return
			}
			b, _ = in.Peek(total)
			payload := b[hn:total]
			ws.Cipher(payload, h.Mask, 0)
			s.m.bytesIn.Add(int64(len(payload)))
			c.handleFrame(h, payload)
			in.Discard(total)
		}
	}
}

func (c *wsConn) handleFrame(h ws.Header, p []byte) {
	switch h.OpCode {
	case ws.OpPing:
		if c.state == stOpen {
			f := c.srv.frames.encode(ws.OpPong, p)
			c.push(f, false) // a ping flood from a peer that never reads is bounded like echoes
			f.release()
		}
		return
	case ws.OpPong:
		return
	case ws.OpClose:
		code, fe := checkClosePayload(p)
		if fe != nil {
			c.fail(fe)
			return
		}
		if c.state == stClosing {
			c.state, c.closeAfter = stClosed, true
			return
		}
		c.srv.m.closed(uint16(code), "client")
		f := c.srv.frames.encodeClose(code, "")
		c.enqueueFinalClose(f)
		f.release()
		c.state, c.closeAfter = stClosed, true
		return
	}
	if c.state != stOpen {
		return // data after our close frame is discarded (RFC 6455 §1.4)
	}
	op := h.OpCode
	if op == ws.OpContinuation {
		op = c.fragOp
	} else if c.pmd != nil {
		c.pmd.inMsg = h.Rsv&rsv1 != 0
	}
	if !h.Fin || c.fragOp != 0 {
		if c.fragOp == 0 {
			c.fragOp = op
		}
		c.frag = append(c.frag, p...)
		if !h.Fin {
			return
		}
		p = c.frag
	}
	c.message(op, p)
	c.fragOp = 0
	if cap(c.frag) > 4<<10 {
		c.frag = nil
	} else {
		c.frag = c.frag[:0]
	}
}

// message handles one complete data message.
func (c *wsConn) message(op ws.OpCode, p []byte) {
	s := c.srv
	if c.pmd != nil && c.pmd.inMsg {
		c.inflatedMessage(op, p) // comes back here with the inflated message
		return
	}
	if op == ws.OpText && !utf8.Valid(p) {
		c.fail(errInvalidUTF8)
		return
	}
	s.m.msgsIn.Add(1)
	if h := endpoints[c.route].message; h != nil {
		h(c, op, p)
	}
}

// requestBody returns the length of the body of the POST request head b
// when its route reads one (Socket.IO polling), 0 when it does not, and -1
// when the request was refused (no length, or one over the limit).
func (c *wsConn) requestBody(b []byte) int {
	req, rej := parseRequest(b)
	if rej != nil || req.route != routeSIO {
		return 0
	}
	switch {
	case req.chunked || req.contentLength < 0:
		c.endHandshake()
		c.reject(&rejection{status: 411, reason: "Socket.IO polling needs a Content-Length"}, "")
		return -1
	case req.contentLength > int64(c.srv.sio.Config().MaxPayload):
		c.endHandshake()
		c.sioRefuse(c.srv.sio.TooLarge(parseSIOQuery(req.target).sid), "")
		return -1
	}
	return int(req.contentLength)
}

// handleRequest answers the HTTP request head b; body is the request's
// body when its route reads one.
func (c *wsConn) handleRequest(b, body []byte) {
	s := c.srv
	var ip netip.Addr
	if c.hs != nil {
		ip = c.hs.ip
	}
	c.endHandshake() // answered now, whatever the answer
	req, rej := parseRequest(b)
	if rej != nil {
		c.reject(rej, "malformed")
		return
	}
	if answer := endpoints[req.route].answer; answer != nil {
		answer(c, &req, body, ip)
		return
	}
	if r := checkUpgrade(&req); r != nil {
		c.reject(r, rejectReason(r))
		return
	}
	if s.shuttingDown.Load() {
		c.reject(&rejection{status: 503, reason: "server shutting down"}, "shutdown")
		return
	}
	pmd, ext := s.negotiateDeflate(req.extensions[:req.nExtension])
	var buf [256]byte
	resp := withExtension(appendAccept(buf[:0], req.key), ext)
	f := s.frames.get(len(resp))
	f.b = append(f.b, resp...)
	c.pushOwn(f)
	f.release()
	c.route = req.route
	c.pmd = pmd
	c.state = stOpen
	s.m.upgradesOK.Add(1)
	if opened := endpoints[c.route].opened; opened != nil {
		opened(c)
	}
}

func rejectReason(r *rejection) string {
	switch r.status {
	case 405:
		return "method"
	case 426:
		return "version"
	}
	switch r.reason {
	case "missing Sec-WebSocket-Key", "bad Sec-WebSocket-Key (want 16 bytes in base64)":
		return "key"
	case "missing upgrade token in Connection header":
		return "connection"
	}
	return "upgrade"
}

// reject answers with an HTTP error and closes.
func (c *wsConn) reject(r *rejection, reason string) {
	if reason != "" {
		c.srv.m.upgradeFailed(reason)
	}
	c.writeRaw(appendRejection(nil, r))
}

// writeRaw queues an HTTP response and closes after it.
func (c *wsConn) writeRaw(b []byte) {
	f := c.srv.frames.get(len(b))
	f.b = append(f.b, b...)
	c.pushOwn(f)
	f.release()
	c.state, c.closeAfter = stClosed, true
}

// endHandshake takes the connection out of its address's count of
// connections in the handshake; owner only, idempotent.
func (c *wsConn) endHandshake() {
	if c.hs != nil {
		c.srv.half.release(c.hs)
		c.hs = nil
	}
}

// closed marks the connection gone and drops its queue; called once by the
// owner after the socket is closed.
func (c *wsConn) closed() {
	c.mu.Lock()
	c.dead = true
	c.dropQueueLocked()
	c.mu.Unlock()
	c.frag = nil
}

// scratch is per-owner reusable storage for flushes.
type scratch struct {
	frames  [maxBatch]*frame
	bufs    [][]byte
	backlog bool
}

func newScratch() *scratch { return &scratch{bufs: make([][]byte, 0, maxBatch)} }

func (c *wsConn) inBacklog() bool   { return c.backlogged }
func (c *wsConn) setBacklog(b bool) { c.backlogged = b }
