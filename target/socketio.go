package target

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/target/sio"
)

// socketio.go connects the Socket.IO endpoint (target/sio) to the server
// core: requests for /socket.io/ are parsed by the core like every other;
// a polling GET with nothing to read parks its connection on the event
// loop (no goroutine, no timer of its own) until target/sio answers it;
// a WebSocket transport is an ordinary event-loop connection whose text
// frames are Engine.IO packets.

// sioPath is where Socket.IO clients connect by default.
const sioPath = "/socket.io/"

// sioCore is the server core as target/sio sees it.
type sioCore struct{ s *Server }

func (k sioCore) Open(id uint64)               { k.s.hub.Open(id) }
func (k sioCore) Handle(id uint64, msg []byte) { k.s.hub.Handle(id, msg) }
func (k sioCore) Closed(id uint64)             { k.s.hub.Closed(id) }

func (k sioCore) EncodeText(pkt []byte) sio.Frame {
	f := k.s.frames.encode(ws.OpText, pkt)
	f.born = k.s.now()
	return f
}

// Release lets target/sio drop its reference to a shared frame.
func (f *frame) Release() { f.release() }

// sioWS is a connection as the WebSocket transport of a session.
type sioWS wsConn

func (w *sioWS) Push(f sio.Frame, droppable bool) {
	c := (*wsConn)(w)
	if c.push(f.(*frame), droppable) {
		c.srv.m.deliveries.Add(1)
		c.own.markDirty(c)
	}
}

func (w *sioWS) Close(code uint16, reason string) { (*wsConn)(w).requestClose(code, reason, true) }

// sioPoll is a connection holding a parked long-poll GET.
type sioPoll wsConn

func (p *sioPoll) Answer(body []byte) {
	c := (*wsConn)(p)
	c.srv.m.httpRequests.Add(1)
	f := c.srv.frames.get(len(body) + 128)
	f.b = appendResponse(f.b, 200, "text/plain; charset=UTF-8", "", body)
	c.pushOwn(f)
	f.release()
	c.requestClose(1000, "", false) // in the handshake state: close once written
}

// sioQuery holds the Engine.IO query parameters of a request.
type sioQuery struct{ eio, transport, sid string }

func parseSIOQuery(target []byte) sioQuery {
	var q sioQuery
	_, query, _ := bytes.Cut(target, []byte("?"))
	for len(query) > 0 {
		var kv []byte
		kv, query, _ = bytes.Cut(query, []byte("&"))
		k, v, _ := bytes.Cut(kv, []byte("="))
		switch string(k) {
		case "EIO":
			q.eio = string(v)
		case "transport":
			q.transport = string(v)
		case "sid":
			q.sid = string(v)
		}
	}
	return q
}

// answerSIO answers a request for /socket.io/: a polling GET or POST, or a
// WebSocket upgrade (a new session, or the probe of a polling session).
func (c *wsConn) answerSIO(req *request, body []byte, ip netip.Addr) {
	s := c.srv
	q := parseSIOQuery(req.target)
	if e := sio.CheckQuery(q.eio, q.transport); e != nil {
		c.sioRefuse(e, "socketio")
		return
	}
	if s.shuttingDown.Load() {
		c.reject(&rejection{status: 503, reason: "server shutting down"}, "shutdown")
		return
	}
	if q.transport == "websocket" {
		if r := checkUpgrade(req); r != nil {
			c.reject(r, rejectReason(r))
			return
		}
		var sess *sio.Session
		var open []byte
		var e *sio.HTTPError
		if q.sid == "" {
			sess, open, e = s.sio.Open(ip.String(), (*sioWS)(c))
		} else {
			sess, e = s.sio.Probe(q.sid, (*sioWS)(c))
		}
		if e != nil {
			c.sioRefuse(e, "socketio")
			return
		}
		var buf [160]byte
		resp := appendAccept(buf[:0], req.key)
		f := s.frames.get(len(resp))
		f.b = append(f.b, resp...)
		c.pushOwn(f)
		f.release()
		c.route, c.sioSess, c.state = routeSIO, sess, stOpen
		s.m.upgradesOK.Add(1)
		if open != nil {
			f := s.frames.encode(ws.OpText, open)
			c.pushOwn(f)
			f.release()
		}
		return
	}
	if req.hasUpgradeHdr {
		c.sioRefuse(sio.BadMethod(), "socketio")
		return
	}
	s.m.httpRequests.Add(1)
	switch {
	case q.sid == "" && string(req.method) == "GET":
		_, open, e := s.sio.Open(ip.String(), nil)
		if e != nil {
			c.sioRefuse(e, "")
			return
		}
		c.writeRaw(appendResponse(nil, 200, "text/plain; charset=UTF-8", "", open))
	case q.sid == "":
		c.sioRefuse(sio.BadMethod(), "")
	case string(req.method) == "GET":
		c.route = routeSIOPoll
		sess, b, parked, e := s.sio.Get(q.sid, (*sioPoll)(c))
		switch {
		case e != nil:
			c.route = routeSIO
			c.sioRefuse(e, "")
		case !parked:
			c.route = routeSIO
			c.writeRaw(appendResponse(nil, 200, "text/plain; charset=UTF-8", "", b))
		default:
			// Parked: the connection waits in the handshake state, its
			// input ignored, until the session answers it (sioPoll.Answer).
			c.sioSess = sess
		}
	case string(req.method) == "POST":
		if e := s.sio.Post(q.sid, body); e != nil {
			c.sioRefuse(e, "")
			return
		}
		c.writeRaw(appendResponse(nil, 200, "text/html", "", []byte("ok")))
	default:
		c.sioRefuse(sio.BadMethod(), "")
	}
}

// sioRefuse answers with an Engine.IO error; reason counts a refused
// upgrade in wsbench_upgrade_failures_total.
func (c *wsConn) sioRefuse(e *sio.HTTPError, reason string) {
	if reason != "" {
		c.srv.m.upgradeFailed(reason)
	}
	c.writeRaw(appendResponse(nil, e.Status, "application/json", "", e.Body()))
}

// sioMessage handles a data message on a Socket.IO WebSocket transport.
func (c *wsConn) sioMessage(op ws.OpCode, p []byte) {
	if op != ws.OpText {
		return // binary attachments: target/sio refuses binary events already
	}
	c.srv.m.msgsIn.Add(1)
	c.sioSess.HandlePacket((*sioWS)(c), p)
	c.own.handled()
}

// sioGone tells the session that this connection (its WebSocket, or its
// parked poll) is gone.
func (c *wsConn) sioGone() {
	switch {
	case c.sioSess == nil:
	case c.route == routeSIOPoll:
		c.sioSess.PollGone((*sioPoll)(c))
	case c.route == routeSIO && c.state != stHandshake:
		c.sioSess.WSGone((*sioWS)(c))
	}
	c.sioSess = nil
}

// appendSIOMetrics renders the Socket.IO endpoint's series for /metrics.
func appendSIOMetrics(dst []byte, st sio.Stats) []byte {
	for _, m := range []struct {
		name, kind, help string
		v                int64
	}{
		{"wsbench_socketio_sessions", "gauge", "Open Socket.IO (Engine.IO) sessions on /socket.io/.", int64(st.Sessions)},
		{"wsbench_socketio_polling_sessions", "gauge", "Socket.IO sessions on the long-polling transport (each client address may open --sio-sessions-per-ip).", int64(st.Polling)},
		{"wsbench_socketio_upgrades_total", "counter", "Socket.IO sessions upgraded from long-polling to WebSocket.", st.Upgrades},
		{"wsbench_socketio_pongs_total", "counter", "Engine.IO pings answered by Socket.IO clients.", st.Pongs},
		{"wsbench_socketio_ping_timeouts_total", "counter", "Socket.IO sessions closed for not answering a ping within --sio-ping-timeout.", st.PingTimeouts},
		{"wsbench_socketio_drops_total", "counter", "Chatter packets dropped because a long-polling session's queue was over --outbound-limit.", st.Drops},
	} {
		dst = append(dst, "# HELP "+m.name+" "+m.help+"\n# TYPE "+m.name+" "+m.kind+"\n"+m.name+" "...)
		dst = strconv.AppendInt(dst, m.v, 10)
		dst = append(dst, '\n')
	}
	return dst
}
