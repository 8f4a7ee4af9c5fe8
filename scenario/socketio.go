package scenario

// socketio.go runs `protocol: socketio` connections: the Engine.IO open
// packet and the namespace connect after the WebSocket upgrade, automatic
// pongs to the server's pings, inbound events (with binary attachments
// reassembled) handed to listeners and expects as `["event", args…]`
// payloads, the emit step with acknowledgements, and the namespace
// disconnect before a close. The VU code (vu.go) calls in at a few
// places: connect, link.handle, the step switch and the close paths.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/dialer"
	"github.com/wsbench/wsbench/internal/socketio"
	"github.com/wsbench/wsbench/report"
)

// Kinds of Socket.IO connect failures, counted as conn.failed.<kind> and
// in errors.socketio.
const (
	// sioKindUpgrade: the HTTP upgrade to the Socket.IO path was refused
	// (a 400 "Transport unknown", a 404 from a server without Socket.IO).
	sioKindUpgrade = "socketio_upgrade"
	// sioKindHandshake: the WebSocket opened but did not start with an
	// Engine.IO open packet, or the namespace connect got no answer.
	sioKindHandshake = "socketio_handshake"
	// sioKindNamespace: the server refused the namespace (CONNECT_ERROR).
	sioKindNamespace = "socketio_namespace"
)

// sioError is a failed Socket.IO connect with what the server said.
type sioError struct {
	kind string
	msg  string
	err  error
}

func (e *sioError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *sioError) Unwrap() error { return e.err }

// sioDial is a connect step's Socket.IO settings, shared by every VU.
type sioDial struct {
	ns      string    // "" for the main namespace
	auth    *Template // nil without auth
	timeout time.Duration
	m       *sioMetrics
	warned  atomic.Bool // the first connect failure has been logged at warn level
}

// sioMetrics are the Socket.IO metric handles of a run.
type sioMetrics struct {
	connect                  *report.Latency // open packet + namespace connect
	errors, pongs, serverBye *report.Counter
	ackMismatch, ackTimeout  *report.Counter
	badPacket                *report.Counter
}

func newSIOMetrics(reg *report.Tagged) *sioMetrics {
	return &sioMetrics{
		connect:     reg.Latency(metricSIOConnect),
		errors:      reg.Counter(errSIO),
		pongs:       reg.Counter(metricSIOPongs),
		serverBye:   reg.Counter(metricSIODisconnected),
		ackMismatch: reg.Counter(errSIOAckMismatch),
		ackTimeout:  reg.Counter(errSIOAckTimeout),
		badPacket:   reg.Counter(errSIOPacket),
	}
}

// sioConn is one Socket.IO connection's state. Like its link, it belongs
// to the goroutine that reads the connection (the VU's, or readAside
// while the VU floods, when no emit waits for an ack).
type sioConn struct {
	d    *sioDial
	open socketio.Open
	ns   []byte

	// Reader side: a binary event or ack waiting for its attachments.
	pending     []byte
	pendingLeft int
	pendingAck  bool
	pendingID   int64
	out         []byte // the Engine.IO pong, built once

	// VU side.
	nextID int64
	abuf   []byte // random attachment bytes

	// The ack an emit waits for (link.waitKind waitAck) and what came back.
	want    int64
	wantM   *Matcher
	wantV   *Vars
	got     bool // the awaited ack arrived; takeAck reports and clears it
	matched bool
}

// prepareSocketIO rewrites opts for a Socket.IO connect step (path with the
// Engine.IO query) and builds its settings.
func (s *scenarioRun) prepareSocketIO(opts *ConnectOptions) (*sioDial, error) {
	if opts.Protocol != ProtoSocketIO {
		return nil, nil
	}
	if opts.EngineIO != 0 && opts.EngineIO != 4 {
		return nil, fmt.Errorf("connect: Engine.IO %d is not supported (only 4)", opts.EngineIO)
	}
	opts.Path = socketIOPath(opts.Path)
	d := &sioDial{timeout: opts.HandshakeTimeout}
	if d.timeout <= 0 {
		d.timeout = dialer.DefaultHandshakeTimeout
	}
	if opts.Namespace != "/" {
		d.ns = opts.Namespace
	}
	if opts.Auth != nil {
		t, err := JSONTemplate(opts.Auth)
		if err != nil {
			return nil, fmt.Errorf("connect auth: %w", err)
		}
		d.auth = t
	}
	if s.sio == nil {
		s.sio = newSIOMetrics(s.m.tags)
	}
	d.m = s.sio
	return d, nil
}

// open runs the Socket.IO handshake on a fresh connection: it waits for
// the Engine.IO open packet, connects the namespace (with auth) and waits
// for the answer. On failure it closes c.
func (d *sioDial) open(ctx context.Context, c *dialer.Conn, v *Vars) (_ *sioConn, err error) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d.timeout))
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		if err != nil {
			_ = c.Close()
			return
		}
		_ = c.SetReadDeadline(time.Time{})
	}()
	msg, err := c.ReadMessage()
	if err != nil {
		return nil, &sioError{kind: sioKindHandshake, msg: "waiting for the Engine.IO open packet", err: err}
	}
	typ, data, perr := socketio.SplitEngine(msg.Payload)
	if msg.Op != ws.OpText || perr != nil || typ != socketio.EngineOpen {
		return nil, &sioError{kind: sioKindHandshake, msg: fmt.Sprintf("not a Socket.IO server: the first message %.80q is not an Engine.IO open packet", msg.Payload)}
	}
	sc := &sioConn{d: d, ns: []byte(d.ns), want: socketio.NoID, out: []byte{socketio.EnginePong}}
	if sc.open, err = socketio.ParseOpen(data); err != nil {
		return nil, &sioError{kind: sioKindHandshake, msg: "bad Engine.IO open packet", err: err}
	}
	var auth []byte
	if d.auth != nil {
		auth = d.auth.Append(nil, v)
	}
	if err := c.WriteText(socketio.AppendConnect(nil, d.ns, auth)); err != nil {
		return nil, &sioError{kind: sioKindHandshake, msg: "sending the namespace connect", err: err}
	}
	for {
		msg, err := c.ReadMessage()
		if err != nil {
			return nil, &sioError{kind: sioKindHandshake, msg: "waiting for the answer to the namespace connect of " + d.nsName(), err: err}
		}
		typ, data, perr := socketio.SplitEngine(msg.Payload)
		if msg.Op != ws.OpText || perr != nil {
			continue
		}
		switch typ {
		case socketio.EnginePing:
			if err := c.WriteText(sc.out); err != nil {
				return nil, &sioError{kind: sioKindHandshake, msg: "answering a ping", err: err}
			}
			d.m.pongs.Inc()
			continue
		case socketio.EngineClose:
			return nil, &sioError{kind: sioKindHandshake, msg: "the server closed the Engine.IO session during the namespace connect"}
		case socketio.EngineMessage:
		default:
			continue
		}
		pk, perr := socketio.Decode(data)
		if perr != nil || !sameNS(pk.Namespace, sc.ns) {
			continue
		}
		switch pk.Type {
		case socketio.Connect:
			d.m.connect.Record(time.Since(start))
			return sc, nil
		case socketio.ConnectError:
			r := socketio.ParseConnectError(pk.Data)
			what := string(r.Message)
			if what == "" {
				what = fmt.Sprintf("%.120s", pk.Data)
			}
			if r.Data != nil {
				what += fmt.Sprintf(" (data %.120s)", r.Data)
			}
			return nil, &sioError{kind: sioKindNamespace, msg: "namespace " + d.nsName() + " refused: " + what}
		}
	}
}

func (d *sioDial) nsName() string {
	if d.ns == "" {
		return "/"
	}
	return d.ns
}

func sameNS(a, b []byte) bool {
	if socketio.IsMain(a) {
		return socketio.IsMain(b)
	}
	return string(a) == string(b)
}

// sioFailed counts and logs a failed Socket.IO connect. It reports false
// for failures it does not own (the dial itself, TCP or TLS).
func (v *vu) sioFailed(d *cdial, err error) bool {
	if d.sio == nil {
		return false
	}
	var se *sioError
	if !errors.As(err, &se) {
		var he *dialer.HandshakeError
		if !errors.As(err, &he) {
			return false
		}
		se = &sioError{kind: sioKindUpgrade, msg: "not a Socket.IO endpoint", err: err}
	}
	m := v.m
	m.countDialFailure(se.kind, se)
	d.sio.m.errors.Inc()
	if d.sio.warned.CompareAndSwap(false, true) {
		v.s.r.log.Warn("socket.io connect failed (first of its kind; later ones are counted)", "scenario", v.s.sc.Name, "vu", v.vars.VU, "kind", se.kind, "err", se)
	} else {
		v.s.r.log.Debug("socket.io connect failed", "scenario", v.s.sc.Name, "vu", v.vars.VU, "kind", se.kind, "err", se)
	}
	return true
}

// inbound turns one WebSocket message of a Socket.IO connection into what
// the VU's matchers see: an event payload (`["event", args…]`), as a text
// message, or a binary one when the event carried attachments. Engine.IO
// pings are answered, acks handed to a waiting emit; ok is false for
// everything that is not an event of the connection's namespace. Frames
// not handed on count in bytes.recv here (events are counted by the
// caller), acks also in msgs.recv.
func (sc *sioConn) inbound(l *link, msg dialer.Message, now time.Time) (dialer.Message, bool) {
	out, ok := sc.decode(l, msg, now)
	if !ok {
		l.m.bytesRecv.Add(int64(len(msg.Payload)))
	}
	return out, ok
}

func (sc *sioConn) decode(l *link, msg dialer.Message, now time.Time) (dialer.Message, bool) {
	if msg.Op == ws.OpBinary {
		return sc.attachment(l, msg, now)
	}
	if msg.Op != ws.OpText {
		return msg, false
	}
	typ, data, err := socketio.SplitEngine(msg.Payload)
	if err != nil {
		sc.d.m.badPacket.Inc()
		return msg, false
	}
	switch typ {
	case socketio.EnginePing:
		if l.c.WriteText(sc.out) == nil {
			sc.d.m.pongs.Inc()
		}
		return msg, false
	case socketio.EngineClose:
		sc.serverBye(l)
		return msg, false
	case socketio.EngineMessage:
	default:
		return msg, false
	}
	pk, err := socketio.Decode(data)
	if err != nil {
		sc.d.m.badPacket.Inc()
		return msg, false
	}
	if !sameNS(pk.Namespace, sc.ns) {
		return msg, false
	}
	switch pk.Type {
	case socketio.Event:
		return dialer.Message{Op: ws.OpText, Payload: pk.Data}, true
	case socketio.Ack:
		sc.ack(l, pk.ID, pk.Data, now)
	case socketio.BinaryEvent, socketio.BinaryAck:
		if pk.Attachments == 0 {
			if pk.Type == socketio.BinaryAck {
				sc.ack(l, pk.ID, pk.Data, now)
				return msg, false
			}
			return dialer.Message{Op: ws.OpBinary, Payload: pk.Data}, true
		}
		sc.pending = append(sc.pending[:0], pk.Data...)
		sc.pendingLeft, sc.pendingAck, sc.pendingID = pk.Attachments, pk.Type == socketio.BinaryAck, pk.ID
	case socketio.Disconnect:
		sc.serverBye(l)
	}
	return msg, false
}

// attachment consumes one binary frame of a pending binary event or ack.
func (sc *sioConn) attachment(l *link, msg dialer.Message, now time.Time) (dialer.Message, bool) {
	if sc.pendingLeft == 0 {
		sc.d.m.badPacket.Inc() // a binary frame no packet announced
		return msg, false
	}
	sc.pendingLeft--
	if sc.pendingLeft > 0 {
		return msg, false
	}
	if sc.pendingAck {
		sc.ack(l, sc.pendingID, sc.pending, now)
		return msg, false
	}
	return dialer.Message{Op: ws.OpBinary, Payload: sc.pending}, true
}

// ack hands an acknowledgement to the emit waiting for it.
func (sc *sioConn) ack(l *link, id int64, data []byte, now time.Time) {
	l.m.msgsRecv.Inc()
	if l.waitKind != waitAck || id != sc.want {
		return
	}
	l.gotAt, l.waitKind = now, waitNone
	sc.got, sc.want, sc.matched = true, socketio.NoID, true
	if m := sc.wantM; m != nil {
		arg, _ := socketio.Arg(data, 0)
		sc.matched = m.Match(ws.OpText, arg, sc.wantV)
	}
}

// takeAck reports whether the awaited ack arrived with the frame just
// handled, and clears it.
func (sc *sioConn) takeAck() bool {
	got := sc.got
	sc.got = false
	return got
}

// serverBye handles the server ending the session (Socket.IO DISCONNECT of
// the namespace, or Engine.IO CLOSE): the socket is closed so the link ends
// as closed by the peer.
func (sc *sioConn) serverBye(l *link) {
	sc.d.m.serverBye.Inc()
	_ = l.c.Close()
}

// goodbye sends the namespace DISCONNECT before a close handshake, as a
// Socket.IO client does on socket.disconnect().
func (l *link) goodbye() {
	if l.sio != nil {
		_ = l.c.WriteText(socketio.AppendDisconnect(nil, l.sio.d.ns))
	}
}
