package target

import (
	"net/netip"

	"github.com/gobwas/ws"
)

// endpoints.go holds the small endpoints: /chat and /echo once upgraded,
// /healthz and /metrics, and the 404 for every other path. The table of
// all routes is in handshake.go.

// chatOpened tells the hub a /chat connection joined.
func chatOpened(c *wsConn) { c.srv.hub.Open(c.id) }

// chatMessage hands a /chat message to the hub; the chat protocol is text.
func chatMessage(c *wsConn, op ws.OpCode, p []byte) {
	if op != ws.OpText {
		c.fail(errBinaryChat)
		return
	}
	c.srv.hub.Handle(c.id, p)
	c.own.handled()
}

// chatGone tells the hub a /chat connection left (one still in the
// handshake never joined).
func chatGone(c *wsConn) {
	if c.state != stHandshake {
		c.srv.hub.Closed(c.id)
	}
}

// echoMessage sends an /echo message back as it came.
func echoMessage(c *wsConn, op ws.OpCode, p []byte) {
	m := outMsg{s: c.srv, op: op, payload: p}
	c.push(m.frameFor(c), false) // a reply: never dropped, but bounded (cut with 1008 past 4x the limit)
	m.release()
}

// answerStatus answers /healthz and /metrics (GET or HEAD).
func answerStatus(c *wsConn, req *request, _ []byte, _ netip.Addr) {
	s := c.srv
	if req.hasUpgradeHdr {
		c.reject(&rejection{status: 404, reason: "no WebSocket endpoint at " + string(req.target)}, "not_found")
		return
	}
	if string(req.method) != "GET" && string(req.method) != "HEAD" {
		c.reject(&rejection{status: 405, reason: "use GET", extra: "Allow: GET, HEAD\r\n"}, "")
		return
	}
	s.m.httpRequests.Add(1)
	var body []byte
	ctype := "text/plain; charset=utf-8"
	status := 200
	if req.route == routeHealth {
		body = []byte("ok\n")
		if why := s.brokerHealth(); why != "" {
			status, body = 503, []byte(why+"\n")
		}
	} else {
		body = s.appendMetrics(nil)
		ctype = "text/plain; version=0.0.4; charset=utf-8"
	}
	if string(req.method) == "HEAD" {
		body = nil
	}
	c.writeRaw(appendResponse(nil, status, ctype, "", body))
}

// answerNotFound answers a path no endpoint serves.
func answerNotFound(c *wsConn, req *request, _ []byte, _ netip.Addr) {
	c.srv.m.httpRequests.Add(1)
	c.writeRaw(appendRejection(nil, &rejection{status: 404, reason: "not found: " + string(req.target) + " (try /, /chat, /echo, /socket.io/, /metrics, /healthz)"}))
}
