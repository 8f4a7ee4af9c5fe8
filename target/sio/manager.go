package sio

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync"
	"time"

	"github.com/wsbench/wsbench/internal/socketio"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// Config holds the endpoint's settings (`wsbench serve --sio-…`).
type Config struct {
	PingInterval  time.Duration // the server pings every session this often
	PingTimeout   time.Duration // a session that does not answer a ping within it is closed
	MaxPayload    int           // largest polling request body in bytes (HTTP 413 past it); sent as maxPayload
	PollTimeout   time.Duration // a parked long-poll GET is answered with a noop after this
	SessionsPerIP int           // sessions opened by polling per client address (HTTP 429 past it)
	OutboundLimit int           // bytes queued for a polling session: chatter dropped past it, closed at 4x
}

// DefaultConfig returns the defaults, those of the Node Socket.IO v4
// server where it has them (pingInterval 25 s, pingTimeout 20 s,
// maxHttpBufferSize 1e6).
func DefaultConfig() Config {
	return Config{
		PingInterval:  25 * time.Second,
		PingTimeout:   20 * time.Second,
		MaxPayload:    1_000_000,
		PollTimeout:   30 * time.Second,
		SessionsPerIP: 256,
		// OutboundLimit 0: the server core passes its --outbound-limit.
	}
}

// IDBit marks the hub connection IDs of Socket.IO sessions, so the server
// core tells them from its WebSocket connections' IDs (which never set it).
const IDBit uint64 = 1 << 63

// IsSession reports whether a hub connection ID is a Socket.IO session's.
func IsSession(id uint64) bool { return id&IDBit != 0 }

// Hub is what a session needs of the chat hub.
type Hub interface {
	Open(id uint64)
	Handle(id uint64, msg []byte)
	Closed(id uint64)
}

// Frame is one encoded WebSocket frame shared by several queues.
type Frame interface{ Release() }

// Core is the server core under the endpoint: the hub, and the WebSocket
// frame encoder whose frames every WS transport of one delivery shares.
type Core interface {
	Hub
	EncodeText(packet []byte) Frame
}

// WS is a WebSocket transport of a session (the core's connection).
// Both methods are safe from any goroutine and never block.
type WS interface {
	// Push queues f (taking its own reference). Chatter (droppable) may
	// be dropped for a slow reader; the core bounds every queue.
	Push(f Frame, droppable bool)
	Close(code uint16, reason string)
}

// Poll is a parked long-poll GET.
type Poll interface {
	// Answer sends body as the 200 response and closes the request's
	// connection. Safe from any goroutine, called at most once.
	Answer(body []byte)
}

// HTTPError is a refused Engine.IO request, answered as the Node server
// does: a status and {"code":N,"message":"…"}.
type HTTPError struct {
	Status  int
	Code    int
	Message string
}

func (e *HTTPError) Error() string { return e.Message }

// Body is the JSON body of the refusal.
func (e *HTTPError) Body() []byte {
	b := append([]byte(`{"code":`), strconv.Itoa(e.Code)...)
	b = append(b, `,"message":`...)
	b = wsproto.AppendJSONString(b, e.Message)
	return append(b, '}')
}

// The Engine.IO error codes (engine.io's Server.errors).
var (
	errUnknownTransport = &HTTPError{400, 0, "Transport unknown"}
	errUnknownSID       = &HTTPError{400, 1, "Session ID unknown"}
	errBadMethod        = &HTTPError{400, 2, "Bad handshake method"}
	errBadRequest       = &HTTPError{400, 3, "Bad request"}
	errProtocol         = &HTTPError{400, 5, "Unsupported protocol version"}
	errTooLarge         = &HTTPError{413, 3, "payload over maxPayload"}
	errPerIP            = &HTTPError{429, 4, "too many Socket.IO sessions from this address (--sio-sessions-per-ip)"}
	errShutdown         = &HTTPError{503, 4, "server shutting down"}
)

// Stats are the endpoint's counters for /metrics.
type Stats struct {
	Sessions     int   // open sessions
	Polling      int   // of which on the polling transport
	Parked       int   // of which with a long-poll GET waiting
	Upgrades     int64 // polling → WebSocket upgrades completed
	Pongs        int64 // pings answered
	PingTimeouts int64
	Drops        int64 // chatter dropped for slow polling sessions
}

// Manager holds every session.
type Manager struct {
	cfg  Config
	core Core

	mu       sync.RWMutex
	bySID    map[string]*Session
	byHub    map[uint64]*Session
	perIP    map[string]int
	nextID   uint64
	shutdown bool
	upgrades int64
	pongs    int64
	timeouts int64
	drops    int64

	stop chan struct{}
	done chan struct{}

	bufs sync.Pool // *[]byte: packets being encoded (copied out before reuse)
}

// New starts a manager and its sweeper (pings, poll timeouts, expiry).
func New(cfg Config, core Core) *Manager {
	def := DefaultConfig()
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = def.PingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = def.PingTimeout
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = def.MaxPayload
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = def.PollTimeout
	}
	if cfg.SessionsPerIP <= 0 {
		cfg.SessionsPerIP = def.SessionsPerIP
	}
	if cfg.OutboundLimit <= 0 {
		cfg.OutboundLimit = 256 << 10
	}
	m := &Manager{
		cfg: cfg, core: core,
		bySID: map[string]*Session{}, byHub: map[uint64]*Session{}, perIP: map[string]int{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go m.sweeper()
	return m
}

// Config returns the settings in force (defaults filled in).
func (m *Manager) Config() Config { return m.cfg }

// Shutdown stops the sweeper and closes every session: parked polls get
// the close packet; WebSocket transports are left to the core, which closes
// them with 1001. It is safe to call more than once.
func (m *Manager) Shutdown() {
	m.mu.Lock()
	if m.shutdown {
		m.mu.Unlock()
		return
	}
	m.shutdown = true
	list := make([]*Session, 0, len(m.byHub))
	for _, s := range m.byHub {
		list = append(list, s)
	}
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	for _, s := range list {
		s.close("server shutting down", false)
	}
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	m.mu.RLock()
	st := Stats{Sessions: len(m.byHub), Upgrades: m.upgrades, Pongs: m.pongs, PingTimeouts: m.timeouts, Drops: m.drops}
	list := make([]*Session, 0, len(m.byHub))
	for _, s := range m.byHub {
		list = append(list, s)
	}
	m.mu.RUnlock()
	for _, s := range list {
		s.mu.Lock()
		if s.ws == nil && !s.closed {
			st.Polling++
			if s.poll != nil {
				st.Parked++
			}
		}
		s.mu.Unlock()
	}
	return st
}

// newSID returns 20 random characters of base64url: an Engine.IO session
// ID or a Socket.IO socket ID (which is also a valid chat nickname).
func newSID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Open starts a session for a client at ip: on the WebSocket ws, or on
// polling when ws is nil (those count against --sio-sessions-per-ip). It
// returns the session and its Engine.IO open packet, which the caller
// sends first (as the poll's body, or as the WebSocket's first frame).
func (m *Manager) Open(ip string, ws WS) (*Session, []byte, *HTTPError) {
	now := time.Now()
	s := &Session{m: m, sid: newSID(), ws: ws, lastSeen: now, pingDue: now.Add(m.cfg.PingInterval)}
	m.mu.Lock()
	if m.shutdown {
		m.mu.Unlock()
		return nil, nil, errShutdown
	}
	if ws == nil {
		if m.perIP[ip] >= m.cfg.SessionsPerIP {
			m.mu.Unlock()
			return nil, nil, errPerIP
		}
		m.perIP[ip]++
		s.ip = ip
	}
	m.nextID++
	s.hubID = IDBit | m.nextID
	m.bySID[s.sid] = s
	m.byHub[s.hubID] = s
	m.mu.Unlock()
	o := socketio.Open{SID: s.sid, PingInterval: m.cfg.PingInterval, PingTimeout: m.cfg.PingTimeout, MaxPayload: int64(m.cfg.MaxPayload)}
	if ws == nil {
		o.Upgrades = []string{"websocket"}
	}
	return s, socketio.AppendOpen(nil, o), nil
}

func (m *Manager) remove(s *Session) {
	m.mu.Lock()
	if m.bySID[s.sid] == s {
		delete(m.bySID, s.sid)
		delete(m.byHub, s.hubID)
		if s.ip != "" {
			if m.perIP[s.ip]--; m.perIP[s.ip] <= 0 {
				delete(m.perIP, s.ip)
			}
		}
	}
	m.mu.Unlock()
}

func (m *Manager) lookup(sid string) *Session {
	m.mu.RLock()
	s := m.bySID[sid]
	m.mu.RUnlock()
	return s
}

// Get serves a polling GET of session sid: it returns the payload to
// answer with at once, or parks p (parked true) until there is one.
func (m *Manager) Get(sid string, p Poll) (s *Session, body []byte, parked bool, err *HTTPError) {
	s = m.lookup(sid)
	if s == nil {
		return nil, nil, false, errUnknownSID
	}
	body, parked, err = s.get(p)
	return s, body, parked, err
}

// Post serves a polling POST of session sid: body is a payload of
// Engine.IO packets, handled in order.
func (m *Manager) Post(sid string, body []byte) *HTTPError {
	s := m.lookup(sid)
	if s == nil {
		return errUnknownSID
	}
	if len(body) > m.cfg.MaxPayload {
		return tooLarge(s)
	}
	s.mu.Lock()
	upgraded := s.ws != nil
	s.lastSeen = time.Now()
	s.mu.Unlock()
	if upgraded {
		return errBadRequest
	}
	for len(body) > 0 {
		pkt, rest, ok, err := socketio.NextPacket(body)
		if !ok {
			break
		}
		if err != nil {
			s.close("parse error", true)
			return errBadRequest
		}
		s.HandlePacket(nil, pkt)
		body = rest
	}
	return nil
}

// Probe attaches ws to the polling session sid as the WebSocket it is
// upgrading to (the request had transport=websocket&sid=…).
func (m *Manager) Probe(sid string, ws WS) (*Session, *HTTPError) {
	s := m.lookup(sid)
	if s == nil {
		return nil, errUnknownSID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ws != nil || s.probe != nil {
		return nil, errBadRequest
	}
	s.probe = ws
	return s, nil
}

// CheckQuery validates the Engine.IO query of a request: EIO must be 4 and
// transport polling or websocket.
func CheckQuery(eio, transport string) *HTTPError {
	if eio != "4" {
		return errProtocol
	}
	if transport != "polling" && transport != "websocket" {
		return errUnknownTransport
	}
	return nil
}

// BadMethod is the answer to a polling request that is neither GET nor
// POST, or a handshake that is not a GET.
func BadMethod() *HTTPError { return errBadMethod }

// TooLarge is the answer to a polling POST whose Content-Length is over
// MaxPayload, refused before its body is read: the session sid names (if
// any) is closed, as Post closes it for a body over the limit.
func (m *Manager) TooLarge(sid string) *HTTPError { return tooLarge(m.lookup(sid)) }

// tooLarge closes s (if any) for a polling body over MaxPayload and
// returns the answer: Post's rule and TooLarge's.
func tooLarge(s *Session) *HTTPError {
	if s != nil {
		s.close("payload too large", true)
	}
	return errTooLarge
}

// Deliver queues the hub's payload to every session among to (IDs
// without IDBit are skipped: they are the core's). The Socket.IO packet is
// encoded once, and so is the WebSocket frame all WS transports share.
func (m *Manager) Deliver(to []uint64, payload []byte, droppable bool) {
	var pkt []byte
	var f Frame
	bp := m.getBuf()
	defer m.putBuf(bp)
	for _, id := range to {
		if !IsSession(id) {
			continue
		}
		m.mu.RLock()
		s := m.byHub[id]
		m.mu.RUnlock()
		if s == nil {
			continue
		}
		if pkt == nil {
			var ok bool
			if pkt, ok = appendEventPacket((*bp)[:0], payload); !ok {
				return
			}
			*bp = pkt
		}
		f = s.send(pkt, f, droppable)
	}
	if f != nil {
		f.Release()
	}
}

// getBuf and putBuf recycle packet buffers: a packet is copied into a
// frame or a polling queue before send returns, so its buffer is free
// again. 0 allocs per delivery in steady state.
func (m *Manager) getBuf() *[]byte {
	if v := m.bufs.Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 0, 512)
	return &b
}

func (m *Manager) putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		m.bufs.Put(bp)
	}
}

// Kick closes the session of hub ID id (the hub's rate-limit abuse
// verdict). It returns at once: the hub may be calling from inside Handle.
func (m *Manager) Kick(id uint64, reason string) {
	m.mu.RLock()
	s := m.byHub[id]
	m.mu.RUnlock()
	if s != nil {
		go s.close(reason, true)
	}
}

func (m *Manager) sweepEvery() time.Duration {
	d := min(time.Second, m.cfg.PingInterval/4, m.cfg.PingTimeout/4, m.cfg.PollTimeout/4)
	return max(d, 10*time.Millisecond)
}

// sweeper is the one goroutine behind every session's timers.
func (m *Manager) sweeper() {
	defer close(m.done)
	t := time.NewTicker(m.sweepEvery())
	defer t.Stop()
	var list []*Session
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.mu.RLock()
			for _, s := range m.byHub {
				list = append(list, s)
			}
			m.mu.RUnlock()
			for i, s := range list {
				s.tick(now)
				list[i] = nil
			}
			list = list[:0]
		}
	}
}
