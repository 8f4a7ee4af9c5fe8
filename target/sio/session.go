package sio

import (
	"bytes"
	"sync"
	"time"

	"github.com/wsbench/wsbench/internal/jsonscan"
	"github.com/wsbench/wsbench/internal/socketio"
)

// Session is one Engine.IO session and its Socket.IO socket on "/".
type Session struct {
	m     *Manager
	sid   string
	hubID uint64
	ip    string // counted in Manager.perIP ("" = not counted)

	// in serialises the client's packets (a POST and the probe WebSocket
	// may arrive on different event loops) and guards buf.
	in  sync.Mutex
	buf []byte

	// hubMu orders the session's hub calls: close, which may run on the
	// sweeper or a dying transport's loop, never slips between a CONNECT's
	// Open and its nick, so the hub cannot keep a user of a closed session.
	// It guards connected. Held while calling the hub, never while the hub
	// may call back (the hub's deliveries take mu only).
	hubMu     sync.Mutex
	connected bool // namespace "/" connected: the hub knows hubID

	mu        sync.Mutex
	closed    bool
	ws        WS // the WebSocket transport; nil while polling
	probe     WS // a WebSocket the client is upgrading to
	upgrading bool
	queue     []byte // polling payload not yet taken by a GET
	poll      Poll   // the parked GET
	pollSince time.Time
	lastSeen  time.Time
	pingDue   time.Time // next ping
	pongDue   time.Time // a ping is unanswered; zero = none
}

// SID is the Engine.IO session ID.
func (s *Session) SID() string { return s.sid }

// The packets the server sends on its own.
var (
	pingPacket  = []byte{socketio.EnginePing}
	noopPacket  = []byte{socketio.EngineNoop}
	closePacket = []byte{socketio.EngineClose}
	probePong   = []byte("3probe")
)

// send queues one packet. f is the shared WebSocket frame of pkt for this
// delivery (nil until a WS transport needs it); the one to use next time is
// returned, and the caller releases it.
func (s *Session) send(pkt []byte, f Frame, droppable bool) Frame {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return f
	}
	if s.ws != nil {
		if f == nil {
			f = s.m.core.EncodeText(pkt)
		}
		s.ws.Push(f, droppable)
		s.mu.Unlock()
		return f
	}
	limit := s.m.cfg.OutboundLimit
	if len(s.queue) >= limit {
		if droppable {
			s.mu.Unlock()
			s.m.mu.Lock()
			s.m.drops++
			s.m.mu.Unlock()
			return f
		}
		if len(s.queue) >= 4*limit {
			s.mu.Unlock()
			go s.close("slow consumer", true)
			return f
		}
	}
	s.queue = socketio.AppendPayloadPacket(s.queue, pkt)
	p, body := s.takePollLocked()
	s.mu.Unlock()
	if p != nil {
		p.Answer(body)
	}
	return f
}

// sendOne queues a packet of this session only.
func (s *Session) sendOne(pkt []byte) {
	if f := s.send(pkt, nil, false); f != nil {
		f.Release()
	}
}

// reply builds a packet in a pooled buffer and queues it to this session.
func (s *Session) reply(build func(dst []byte) []byte) {
	bp := s.m.getBuf()
	*bp = build((*bp)[:0])
	s.sendOne(*bp)
	s.m.putBuf(bp)
}

// takePollLocked hands the queued payload to the parked GET, if both exist.
func (s *Session) takePollLocked() (Poll, []byte) {
	if s.poll == nil || len(s.queue) == 0 {
		return nil, nil
	}
	p, body := s.poll, s.queue
	s.poll, s.queue = nil, nil
	return p, body
}

// releasePollLocked answers the parked GET with a noop (the upgrade, a
// poll timeout), if there is one.
func (s *Session) releasePollLocked() (Poll, []byte) {
	if s.poll == nil {
		return nil, nil
	}
	p := s.poll
	s.poll = nil
	if len(s.queue) > 0 {
		body := s.queue
		s.queue = nil
		return p, body
	}
	return p, noopPacket
}

func (s *Session) get(p Poll) ([]byte, bool, *HTTPError) {
	s.mu.Lock()
	if s.poll != nil && !s.closed {
		// Two GETs at once: the client is broken (engine.io closes too).
		s.mu.Unlock()
		s.close("overlapping polls", true)
		return nil, false, errBadRequest
	}
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, false, errUnknownSID
	case s.ws != nil:
		return nil, false, errBadRequest
	}
	s.lastSeen = time.Now()
	if len(s.queue) > 0 {
		body := s.queue
		s.queue = nil
		return body, false, nil
	}
	if s.upgrading {
		return noopPacket, false, nil // let the client pause polling
	}
	s.poll, s.pollSince = p, time.Now()
	return nil, true, nil
}

// PollGone forgets the parked GET p whose connection closed unanswered.
func (s *Session) PollGone(p Poll) {
	s.mu.Lock()
	if s.poll == p {
		s.poll = nil
	}
	s.mu.Unlock()
}

// WSGone is told when the WebSocket ws of this session closed: the session
// ends with its transport; a probe that dies leaves it on polling.
func (s *Session) WSGone(ws WS) {
	s.mu.Lock()
	switch {
	case s.probe == ws:
		s.probe, s.upgrading = nil, false
		s.mu.Unlock()
	case s.ws == ws:
		s.mu.Unlock()
		s.close("transport close", false)
	default:
		s.mu.Unlock()
	}
}

// close ends the session: the hub forgets it, a parked GET gets the close
// packet and the WebSocket transports are closed (closeWS) or left to the
// caller, whose socket is gone already.
func (s *Session) close(reason string, closeWS bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ws, probe, p := s.ws, s.probe, s.poll
	s.poll, s.queue = nil, nil
	s.mu.Unlock()
	s.m.remove(s)
	s.hubMu.Lock()
	if s.connected {
		s.connected = false
		s.m.core.Closed(s.hubID)
	}
	s.hubMu.Unlock()
	if p != nil {
		p.Answer(closePacket)
	}
	if closeWS {
		if ws != nil {
			ws.Close(1000, reason)
		}
		if probe != nil {
			probe.Close(1000, reason)
		}
	}
}

// tick runs the session's timers (sweeper goroutine).
func (s *Session) tick(now time.Time) {
	m := s.m
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if !s.pongDue.IsZero() && now.After(s.pongDue) {
		s.mu.Unlock()
		m.mu.Lock()
		m.timeouts++
		m.mu.Unlock()
		s.close("ping timeout", true)
		return
	}
	if s.ws == nil && s.poll == nil && now.Sub(s.lastSeen) > m.cfg.PingInterval+m.cfg.PingTimeout {
		// A polling client that stopped asking (idle expiry): nobody
		// could read a ping.
		s.mu.Unlock()
		s.close("idle", true)
		return
	}
	var p Poll
	var body []byte
	if s.poll != nil && now.Sub(s.pollSince) > m.cfg.PollTimeout {
		p, body = s.releasePollLocked()
	}
	ping := s.pongDue.IsZero() && !now.Before(s.pingDue)
	if ping {
		s.pongDue = now.Add(m.cfg.PingTimeout)
	}
	s.mu.Unlock()
	if p != nil {
		p.Answer(body)
	}
	if ping {
		s.sendOne(pingPacket)
	}
}

// HandlePacket handles one Engine.IO packet from the client: from the
// WebSocket from, or from a polling POST (from nil). A packet that breaks
// the protocol closes the session.
func (s *Session) HandlePacket(from WS, pkt []byte) {
	s.in.Lock()
	defer s.in.Unlock()
	typ, data, err := socketio.SplitEngine(pkt)
	if err != nil {
		s.close("parse error", true)
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.lastSeen = now
	isProbe := from != nil && from == s.probe
	s.mu.Unlock()
	switch typ {
	case socketio.EngineClose:
		s.close("client close", true)
	case socketio.EnginePing:
		if isProbe && string(data) == "probe" {
			f := s.m.core.EncodeText(probePong)
			from.Push(f, false)
			f.Release()
			s.mu.Lock()
			s.upgrading = true
			p, body := s.releasePollLocked()
			s.mu.Unlock()
			if p != nil {
				p.Answer(body)
			}
		}
	case socketio.EnginePong:
		s.mu.Lock()
		answered := !s.pongDue.IsZero()
		if answered {
			s.pongDue = time.Time{}
			s.pingDue = now.Add(s.m.cfg.PingInterval)
		}
		s.mu.Unlock()
		if answered {
			s.m.mu.Lock()
			s.m.pongs++
			s.m.mu.Unlock()
		}
	case socketio.EngineUpgrade:
		if isProbe {
			s.upgrade(from)
		}
	case socketio.EngineMessage:
		s.message(data)
	case socketio.EngineNoop:
	}
}

// upgrade makes the probed WebSocket the session's transport: what polling
// had queued goes out on it, and a parked GET is released.
func (s *Session) upgrade(ws WS) {
	s.mu.Lock()
	if !s.upgrading {
		s.mu.Unlock()
		s.close("upgrade without probe", true)
		return
	}
	s.ws, s.probe, s.upgrading = ws, nil, false
	queued := s.queue
	s.queue = nil
	p := s.poll
	s.poll = nil
	if s.ip != "" {
		// No longer a polling session: the per-address bound is for
		// sessions that hold no socket.
		s.m.mu.Lock()
		if s.m.perIP[s.ip]--; s.m.perIP[s.ip] <= 0 {
			delete(s.m.perIP, s.ip)
		}
		s.ip = ""
		s.m.upgrades++
		s.m.mu.Unlock()
	} else {
		s.m.mu.Lock()
		s.m.upgrades++
		s.m.mu.Unlock()
	}
	for len(queued) > 0 {
		pkt, rest, ok, _ := socketio.NextPacket(queued)
		if !ok || pkt == nil {
			break
		}
		f := s.m.core.EncodeText(pkt)
		ws.Push(f, false)
		f.Release()
		queued = rest
	}
	s.mu.Unlock()
	if p != nil {
		p.Answer(noopPacket)
	}
}

// message handles a Socket.IO packet (the data of an Engine.IO message).
func (s *Session) message(data []byte) {
	pk, err := socketio.Decode(data)
	if err != nil {
		s.close("parse error", true)
		return
	}
	main := socketio.IsMain(pk.Namespace)
	if pk.Type == socketio.Connect && !main {
		b := append([]byte{socketio.EngineMessage, '0' + byte(socketio.ConnectError)}, pk.Namespace...)
		b = append(b, `,{"message":"Invalid namespace"}`...)
		s.sendOne(b)
		return
	}
	if !main {
		return // packets of namespaces never connected are ignored
	}
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	switch pk.Type {
	case socketio.Connect:
		if !s.connected {
			s.connect(pk.Data)
		}
	case socketio.Disconnect:
		if s.connected {
			s.connected = false
			s.m.core.Closed(s.hubID)
		}
	case socketio.Event:
		if s.connected {
			s.event(pk)
		}
	case socketio.BinaryEvent:
		if s.connected {
			s.sendOne(appendErrorReply(nil, pk.ID, &eventError{"binary_unsupported", "binary events are not part of the chat protocol"}))
		}
	}
	// Acks from the client answer nothing: the server never asks for one.
}

// connect joins namespace "/": the hub learns the session, the client its
// socket ID, and the session asks for a nickname: auth.name when the
// client sent one, its socket ID otherwise (`welcome` or `error` follows
// as an event). hubMu is held.
func (s *Session) connect(auth []byte) {
	s.connected = true
	id := newSID()
	s.m.core.Open(s.hubID)
	b := append([]byte{socketio.EngineMessage, '0' + byte(socketio.Connect)}, `{"sid":"`...)
	b = append(b, id...)
	s.sendOne(append(b, `"}`...))
	s.buf = append(s.buf[:0], `{"name":`...)
	if name, ok := socketio.Member(auth, "name"); ok && len(name) > 0 && name[0] == '"' {
		s.buf = append(s.buf, name...)
	} else {
		s.buf = append(s.buf, '"')
		s.buf = append(s.buf, id...)
		s.buf = append(s.buf, '"')
	}
	s.buf = append(s.buf, `,"op":"nick"}`...)
	s.m.core.Handle(s.hubID, s.buf)
}

// event hands a client event to the hub, or answers echo itself; hubMu
// is held.
func (s *Session) event(pk socketio.Packet) {
	raw, esc, _ := socketio.EventName(pk.Data)
	name := string(raw)
	if esc {
		u, _ := socketio.Unquote(append(append([]byte{'"'}, raw...), '"'))
		name = string(u)
	}
	if name == "echo" {
		// As the Node example server: ack(...args), or the event back.
		if pk.ID != socketio.NoID {
			s.reply(func(dst []byte) []byte { return appendRestArgs(appendAck(dst, pk.ID, nil), pk.Data) })
		} else {
			s.reply(func(dst []byte) []byte {
				return append(append(dst, socketio.EngineMessage, '0'+byte(socketio.Event)), pk.Data...)
			})
		}
		return
	}
	var e *eventError
	s.buf, e = appendChatRequest(s.buf[:0], name, pk.Data, pk.ID)
	if e != nil {
		s.sendOne(appendErrorReply(nil, pk.ID, e))
		return
	}
	s.m.core.Handle(s.hubID, s.buf)
	if cap(s.buf) > 64<<10 {
		s.buf = nil
	}
}

// appendRestArgs appends an event payload without its name:
// ["e",a,b] → [a,b].
func appendRestArgs(dst, data []byte) []byte {
	data = bytes.TrimRight(data, " \t\r\n")
	i := jsonscan.SkipWS(data, 0)
	i = jsonscan.SkipWS(data, i+1)
	end, ok := jsonscan.SkipValue(data, i)
	dst = append(dst, '[')
	if ok {
		end = jsonscan.SkipWS(data, end)
		if end < len(data) && data[end] == ',' {
			dst = append(dst, bytes.TrimSpace(data[end+1:len(data)-1])...)
		}
	}
	return append(dst, ']')
}
