package chat

import (
	"time"
)

// Handle processes one complete client text message from connection id. It
// never blocks on I/O (a persistent history store queues appends) and never
// panics on any input. Steady-state calls allocate nothing, except acks of
// persisted messages, which wait for the store's commit, and `rooms`, which
// lists every room.
func (h *Hub) Handle(id ConnID, msg []byte) {
	h.stats.in.Add(1)
	c := h.conn(id)
	sc := h.getScratch()
	abusive := h.handle(sc, c, id, msg)
	h.putScratch(sc)
	if abusive {
		h.stats.abuse.Add(1)
		h.log.Warn("closing connection for rate-limit abuse", "conn", uint64(id))
		h.out.Close(id, 1008, "rate limit")
	}
}

func (h *Hub) handle(sc *scratch, c *conn, id ConnID, msg []byte) (abusive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	now := h.cfg.Now().UnixNano()
	allowed := true
	if h.cfg.RateLimit > 0 {
		allowed, abusive = h.rate(c, now)
	}
	r := &sc.req
	if !r.parse(msg) {
		h.fail(sc, c, nil, CodeBadJSON, "message is not a valid JSON object")
		return abusive
	}
	reqID := r.raw(kID)
	if reqID != nil && reqID[0] != '"' && reqID[0] != '-' && (reqID[0] < '0' || reqID[0] > '9') {
		h.fail(sc, c, nil, CodeBadJSON, "id must be a number or a string")
		return abusive
	}
	if !allowed {
		h.stats.limited.Add(1)
		h.fail(sc, c, reqID, CodeRateLimited, "rate limit exceeded")
		return abusive
	}
	if len(msg) > h.cfg.MaxMessageLen {
		// Pass-through fields are copied into every delivery and into
		// history, so the limit covers the whole message, not just text.
		h.stats.tooLong.Add(1)
		h.fail(sc, c, reqID, CodeTooLong, "message of "+itoa(len(msg))+" bytes is longer than the limit of "+itoa(h.cfg.MaxMessageLen)+" bytes")
		return abusive
	}
	op, ok := r.str(kOp)
	if !ok {
		if r.has(kOp) {
			h.fail(sc, c, reqID, CodeBadJSON, "op must be a string")
		} else {
			h.fail(sc, c, reqID, CodeMissingField, "missing field op")
		}
		return abusive
	}
	switch string(op) {
	case "echo":
		h.deliver(c.one[:], msg, Reply)
		h.ack(sc, c, reqID)
		return abusive
	case "nick":
		h.opNick(sc, c, reqID)
		return abusive
	case "rooms":
		h.opRooms(sc, c, reqID)
		return abusive
	case "join", "leave", "say", "shout", "dm":
	default:
		h.fail(sc, c, reqID, CodeUnknownOp, "unknown op "+quoteOp(op))
		return abusive
	}
	if c.name == "" {
		h.fail(sc, c, reqID, CodeNoNick, "choose a nickname first (op nick)")
		return abusive
	}
	switch string(op) {
	case "join":
		h.opJoin(sc, c, reqID, now)
	case "leave":
		h.opLeave(sc, c, reqID)
	case "say":
		h.opSay(sc, c, reqID, now)
	case "shout":
		h.opShout(sc, c, reqID, now)
	case "dm":
		h.opDM(sc, c, reqID, now)
	}
	return abusive
}

// quoteOp renders a client-chosen op for an error message, bounded.
func quoteOp(op []byte) string {
	if len(op) > 32 {
		op = op[:32]
	}
	return `"` + string(op) + `"`
}

// rate runs the token bucket (rate RateLimit, burst 2×) and the abuse
// detector. It returns whether this message may be processed and whether the
// connection should be closed.
func (h *Hub) rate(c *conn, now int64) (allowed, abusive bool) {
	lim := h.cfg.RateLimit
	if c.last != 0 {
		c.tokens += float64(now-c.last) / float64(time.Second) * lim
		if c.tokens > 2*lim {
			c.tokens = 2 * lim
		}
	}
	c.last = now
	if c.tokens >= 1 {
		c.tokens--
		allowed = true
	}
	if now-c.winStart >= int64(time.Second) {
		over := float64(c.winCount) > abuseFactor*lim
		if !over || now-c.winStart >= 2*int64(time.Second) {
			c.strikes = 0 // the last window was calm, or there was a quiet one
		}
		c.winStart, c.winCount = now, 0
	}
	c.winCount++
	if float64(c.winCount) > abuseFactor*lim && float64(c.winCount-1) <= abuseFactor*lim {
		c.strikes++
		if c.strikes >= abuseStrikes {
			c.strikes = 0
			abusive = true
		}
	}
	return allowed, abusive
}

// ack sends `ack {id}` when the request had an id.
func (h *Hub) ack(sc *scratch, c *conn, id []byte) {
	if id == nil {
		return
	}
	h.stats.acks.Add(1)
	start := len(sc.buf)
	sc.buf = appendAck(sc.buf, id)
	h.deliver(c.one[:], sc.buf[start:], Reply)
}

// fail sends `error {id, code, message}`.
func (h *Hub) fail(sc *scratch, c *conn, id []byte, code, message string) {
	h.stats.errors.Add(1)
	start := len(sc.buf)
	sc.buf = appendError(sc.buf, id, code, message)
	h.deliver(c.one[:], sc.buf[start:], Reply)
}

// validName checks length and charset: [A-Za-z0-9_.-], plus '#' for rooms.
func validName(s []byte, maxLen int, room bool) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for _, b := range s {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '_', b == '.', b == '-':
		case b == '#' && room:
		default:
			return false
		}
	}
	return true
}

// nameField fetches and validates the name-like field k; on failure it has
// sent the error.
func (h *Hub) nameField(sc *scratch, c *conn, id []byte, k fieldKey, field string, maxLen int, room bool) ([]byte, bool) {
	v, ok := sc.req.str(k)
	if !ok {
		if sc.req.has(k) {
			h.fail(sc, c, id, CodeBadName, field+" must be a string")
		} else {
			h.fail(sc, c, id, CodeMissingField, "missing field "+field)
		}
		return nil, false
	}
	if !validName(v, maxLen, room) {
		h.fail(sc, c, id, CodeBadName, badNameMessage(field, maxLen, room))
		return nil, false
	}
	return v, true
}

func badNameMessage(field string, maxLen int, room bool) string {
	set := "A-Z a-z 0-9 _ . -"
	if room {
		set += " #"
	}
	return field + " must be 1.." + itoa(maxLen) + " characters of " + set
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// textField fetches the raw JSON string of `text`; on failure it has sent the
// error.
func (h *Hub) textField(sc *scratch, c *conn, id []byte) ([]byte, bool) {
	t := sc.req.raw(kText)
	if t == nil {
		h.fail(sc, c, id, CodeMissingField, "missing field text")
		return nil, false
	}
	if t[0] != '"' {
		h.fail(sc, c, id, CodeMissingField, "text must be a string")
		return nil, false
	}
	if len(t)-2 > h.cfg.MaxTextLen {
		h.stats.tooLong.Add(1)
		h.fail(sc, c, id, CodeTooLong, "text longer than "+itoa(h.cfg.MaxTextLen)+" bytes")
		return nil, false
	}
	return t, true
}
