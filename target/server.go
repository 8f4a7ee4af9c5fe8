// Package target is wsbench's reference WebSocket server (`wsbench serve`),
// the far end of every load test: a gnet epoll event loop accepts
// connections, upgrades them with an in-place HTTP parse, decodes frames with
// gobwas/ws, and hands /chat messages to the chat hub (target/chat), whose
// deliveries come back through this package's outbox as shared, once-encoded
// frames queued per connection and flushed with one writev per loop turn.
// /echo, /healthz and /metrics are served here too, the chat page at /
// (target/web), and Socket.IO v4 at /socket.io/ (target/sio, hooked in by
// socketio.go: its users join the same hub). With --tls-cert the same
// connection code runs over crypto/tls, one goroutine per connection.
package target

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/wsbench/wsbench/target/chat"
	"github.com/wsbench/wsbench/target/sio"
	"github.com/wsbench/wsbench/target/web"
)

// Config holds every `wsbench serve` setting.
type Config struct {
	Addr             string        // listen address, default 127.0.0.1:8080; port 0 picks a free port
	HistorySize      int           // messages kept per room
	HistoryDB        string        // bbolt file for persistent history ("" = memory only)
	HistoryRoomBytes int           // history bytes kept per room (memory and --history-db)
	HistoryTotal     int64         // history bytes held in memory over all rooms
	MaxChatMessage   int           // largest /chat message in bytes, pass-through fields included (too_long past it)
	RoomCreates      int           // rooms one connection may create per minute
	PingInterval     time.Duration // ping connections silent this long (0 = never)
	IdleTimeout      time.Duration // close connections silent this long (0 = never)
	MaxMessage       int           // largest data message in bytes (close 1009 past it)
	MaxConns         int           // connections beyond this get 503
	HandshakesPerIP  int           // connections still in the handshake per source IP, more get 429; 0 = a quarter of MaxConns
	OutboundLimit    int           // per-connection outbound queue in bytes
	SendBuffer       int           // kernel send buffer per connection (SO_SNDBUF) in bytes; 0 = the kernel's autotuning
	SlowTimeout      time.Duration // over the outbound limit this long: close 1008
	RateLimit        float64       // chat messages/s per connection (0 = off)
	PresenceLimit    int           // rooms above this many members do not announce joins and leaves (0 = all do)
	TLSCert, TLSKey  string        // serve wss:// (crypto/tls path) when both are set
	Loops            int           // event loops (default: number of CPUs)
	HandshakeTimeout time.Duration // the TLS handshake and the HTTP upgrade must complete within it
	CloseTimeout     time.Duration // how long to wait for a peer's close reply
	// Cluster lists NATS server URLs (comma-separated): several servers
	// sharing them behave as one chat server. "" = a single node; nothing
	// cluster-related starts.
	Cluster        string
	ClusterName    string        // separates clusters on one NATS server (subject and bucket prefix)
	ClusterNodeTTL time.Duration // a dead node's nicknames are free again within this
	// SocketIO configures /socket.io/ (zero fields: target/sio's defaults).
	SocketIO sio.Config
	// Compression negotiates permessage-deflate (RFC 7692) on /chat and
	// /echo when a client offers it; see target/deflate.go.
	Compression         bool
	CompressionMinSize  int // outgoing messages shorter than this are sent uncompressed
	CompressionTakeover int // connections whose client may keep its LZ77 context (up to 32 KiB each); the rest get client_no_context_takeover
	// ClusterHistoryBytes bounds the cluster's JetStream history stream over
	// all rooms (0 = cluster.DefaultHistoryBytes).
	ClusterHistoryBytes int64
	// ClusterReplicas is how many NATS servers keep the cluster's
	// JetStream buckets and history stream (0 = 1).
	ClusterReplicas int
	// ReusePort sets SO_REUSEPORT on the listener so that several serve
	// processes share one address (the kernel spreads connections).
	ReusePort bool
}

// DefaultConfig returns the defaults of `wsbench serve`.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:8080",
		HistorySize:      50,
		HistoryRoomBytes: chat.DefaultHistoryRoom,
		HistoryTotal:     chat.DefaultHistoryTotal,
		MaxChatMessage:   chat.DefaultMaxMessageLen,
		RoomCreates:      chat.DefaultRoomCreates,
		PingInterval:     30 * time.Second,
		IdleTimeout:      90 * time.Second,
		MaxMessage:       1 << 20,
		MaxConns:         DefaultMaxConns(),
		OutboundLimit:    256 << 10,
		SendBuffer:       64 << 10,
		PresenceLimit:    1000,
		SlowTimeout:      5 * time.Second,
		Loops:            runtime.NumCPU(),
		HandshakeTimeout: 5 * time.Second,
		CloseTimeout:     3 * time.Second,
		SocketIO:         sio.DefaultConfig(),
		Compression:      true,
		// Below ~64 bytes deflate's block header and Huffman tables cost
		// more than the message saves.
		CompressionMinSize: 64,
	}
}

// DefaultMaxConns is just under the process's open-file limit, leaving room
// for the listener, the history store and logs.
func DefaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	if rl.Cur <= 128 {
		return int(rl.Cur) / 2
	}
	return int(rl.Cur) - 64
}

// chatHub is what the server needs of the chat hub.
type chatHub interface {
	Open(id uint64)
	Handle(id uint64, msg []byte)
	Closed(id uint64)
	Stats() HubStats
	Shutdown(ctx context.Context) error
}

// Server is a running reference server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	frames   framePool
	pmdPools pmdPools // permessage-deflate (deflate.go)
	table    connTable
	hub      chatHub
	half     *halfOpen
	start    time.Time

	sweepEvery   time.Duration
	shuttingDown atomic.Bool // refuse new connections and upgrades
	draining     atomic.Bool // shutting down: read no more data messages

	addr    net.Addr
	eng     gnet.Engine
	runDone chan error

	loopsMu sync.Mutex
	loops   []*loopState

	tls *tlsServer
	web *web.Site    // the chat page at /
	sio *sio.Manager // Socket.IO sessions at /socket.io/

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start starts a server and returns once it is listening.
func Start(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	def := DefaultConfig()
	if cfg.Addr == "" {
		cfg.Addr = def.Addr
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = def.MaxMessage
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = def.MaxConns
	}
	if cfg.HandshakesPerIP <= 0 {
		// A quarter: one address can never hold the server in the
		// handshake, while a load generator's burst of dials from one
		// host (thousands at once) is not refused.
		cfg.HandshakesPerIP = max(1, cfg.MaxConns/4)
	}
	if cfg.OutboundLimit <= 0 {
		cfg.OutboundLimit = def.OutboundLimit
	}
	if cfg.SlowTimeout <= 0 {
		cfg.SlowTimeout = def.SlowTimeout
	}
	if cfg.Loops <= 0 {
		cfg.Loops = def.Loops
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = def.HandshakeTimeout
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = def.CloseTimeout
	}
	if cfg.HistorySize < 0 {
		return nil, fmt.Errorf("start server: history size %d is negative", cfg.HistorySize)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("start server: --tls-cert and --tls-key go together")
	}
	s := &Server{cfg: cfg, log: logger, m: newMetrics(), start: time.Now(), runDone: make(chan error, 1)}
	s.half = newHalfOpen(cfg.HandshakesPerIP)
	site, err := web.New()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s.web = site
	s.sweepEvery = sweepInterval(cfg)
	hub, err := newHub(cfg, s, logger)
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s.hub = hub
	if cfg.SocketIO.OutboundLimit <= 0 {
		cfg.SocketIO.OutboundLimit = cfg.OutboundLimit // a polling session's queue, bounded like a connection's
	}
	s.sio = sio.New(cfg.SocketIO, sioCore{s})

	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			_ = hub.Shutdown(context.Background())
			s.sio.Shutdown()
			return nil, fmt.Errorf("start server: load TLS key pair %s, %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		ts, err := startTLS(s, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			_ = hub.Shutdown(context.Background())
			s.sio.Shutdown()
			return nil, fmt.Errorf("start server: %w", err)
		}
		s.tls = ts
		s.addr = ts.ln.Addr()
		logger.Info("serving", "addr", s.addr.String(), "tls", true)
		return s, nil
	}

	booted := make(chan error, 1)
	h := &handler{srv: s, booted: booted}
	go func() {
		err := gnet.Run(h, "tcp://"+cfg.Addr,
			gnet.WithNumEventLoop(cfg.Loops),
			gnet.WithTicker(true),
			gnet.WithReuseAddr(true),
			gnet.WithReusePort(cfg.ReusePort),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{logger}),
			gnet.WithSocketSendBuffer(cfg.SendBuffer), // accepted sockets inherit it; 0 leaves autotuning on
		)
		select {
		case booted <- fmt.Errorf("listen on %s: %w", cfg.Addr, errOr(err)):
		default:
		}
		s.runDone <- err
	}()
	if err := <-booted; err != nil {
		_ = hub.Shutdown(context.Background())
		s.sio.Shutdown()
		return nil, fmt.Errorf("start server: %w", err)
	}
	logger.Info("serving", "addr", s.addr.String(), "loops", cfg.Loops)
	return s, nil
}

func errOr(err error) error {
	if err == nil {
		return errors.New("engine stopped before it booted")
	}
	return err
}

func sweepInterval(cfg Config) time.Duration {
	d := time.Second
	for _, x := range []time.Duration{cfg.PingInterval / 4, cfg.IdleTimeout / 4, cfg.SlowTimeout / 4, cfg.HandshakeTimeout / 4, cfg.CloseTimeout / 4} {
		if x > 0 && x < d {
			d = x
		}
	}
	return max(d, 10*time.Millisecond)
}

// Addr is the address the server listens on (with the real port when
// started on port 0).
func (s *Server) Addr() net.Addr { return s.addr }

// URL returns the ws:// (or wss://) URL of path on this server.
func (s *Server) URL(path string) string {
	scheme := "ws://"
	if s.tls != nil {
		scheme = "wss://"
	}
	return scheme + s.addr.String() + path
}

// Metrics renders /metrics (Prometheus text format).
func (s *Server) Metrics() string {
	return string(s.appendMetrics(nil))
}

func (s *Server) appendMetrics(dst []byte) []byte {
	dst = s.m.appendPrometheus(dst, s.hubStats(), s.half.total.Load())
	dst = appendSIOMetrics(dst, s.sio.Stats())
	if a, ok := s.hub.(hubAdapter); ok && a.node != nil {
		dst = a.node.AppendMetrics(dst)
	}
	return dst
}

// brokerHealth is "" unless the server is a cluster node cut off from its
// broker: then it says so (/healthz answers 503 with it).
func (s *Server) brokerHealth() string {
	if a, ok := s.hub.(hubAdapter); ok && a.node != nil {
		return a.node.Health()
	}
	return ""
}

func (s *Server) hubStats() HubStats { return s.hub.Stats() }

// now is the server clock in ns since start (monotonic).
func (s *Server) now() int64 { return int64(time.Since(s.start)) }

// Shutdown stops the server in the order that loses no acknowledged work
// and writes nothing after a close frame:
//
//  1. stop accepting (new connections and upgrades get 503);
//  2. stop reading: data frames are no longer handed to the hub, and every
//     message already read has been handled (a barrier on each owner);
//  3. flush the history store: pending appends are committed and their
//     acks queued to their connections (bounded by ctx);
//  4. queue close 1001 behind those acks on every connection; a close frame
//     is the last frame a connection queues (enqueueFinalClose), so a late
//     ack is dropped rather than written after it;
//  5. wait for the clients' close replies, up to the close timeout;
//  6. stop the event loops.
//
// The error reports a history flush that failed or did not finish within
// ctx (the caller's exit code 3); the connections are closed either way. It
// is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

// stopTimeout bounds stopping the event loops once every connection is gone.
const stopTimeout = 5 * time.Second

func (s *Server) shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	s.log.Info("shutting down", "connections", s.m.connsCurrent.Load())
	if s.tls != nil {
		s.tls.stopAccepting()
	}
	s.draining.Store(true)
	s.readBarrier()

	var errs []error
	if err := s.hub.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush chat history: %w", err))
	}
	s.sio.Shutdown() // parked polls get the close packet; WebSockets close below

	wait, cancel := context.WithTimeout(context.Background(), s.cfg.CloseTimeout)
	defer cancel()
	if s.tls != nil {
		s.tls.shutdown(wait)
		return errors.Join(errs...)
	}
	loops := s.loopStates()
	for _, l := range loops {
		_ = l.gl.Execute(wait, runFunc(l.closeAll))
	}
	tick := time.NewTicker(5 * time.Millisecond)
waitLoop:
	for s.m.connsCurrent.Load() > 0 {
		select {
		case <-wait.Done():
			break waitLoop
		case <-tick.C:
		}
	}
	tick.Stop()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), stopTimeout)
	defer stopCancel()
	go func() { _ = s.eng.Stop(stopCtx) }()
	select {
	case err := <-s.runDone:
		if err != nil {
			errs = append(errs, fmt.Errorf("stop event loops: %w", err))
		}
	case <-stopCtx.Done():
		errs = append(errs, fmt.Errorf("stop event loops: %w", stopCtx.Err()))
	}
	return errors.Join(errs...)
}

func (s *Server) loopStates() []*loopState {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	return append([]*loopState(nil), s.loops...)
}

// readBarrier returns once every connection owner has finished the input it
// was processing when draining was set: after it, no message reaches the
// hub. Each event loop runs a no-op task (tasks run between reads); each TLS
// connection's owner lock is taken once.
func (s *Server) readBarrier() {
	if s.tls != nil {
		s.tls.readBarrier()
		return
	}
	var wg sync.WaitGroup
	for _, l := range s.loopStates() {
		wg.Add(1)
		err := l.gl.Execute(context.Background(), runFunc(func(context.Context) error {
			wg.Done()
			return nil
		}))
		if err != nil {
			wg.Done() // the loop is stopping: it runs nothing more
		}
	}
	wg.Wait()
}

// deliver queues payload as one text frame to every listed connection: the
// frame is encoded once and shared. 0 allocs per call in steady state apart
// from gnet's one task per woken loop; nothing grows with len(to).
func (s *Server) deliver(to []uint64, payload []byte, droppable bool) {
	if len(to) == 0 {
		return
	}
	sessions := 0
	for _, id := range to {
		if sio.IsSession(id) {
			sessions++
		}
	}
	if sessions > 0 {
		s.sio.Deliver(to, payload, droppable)
		if sessions == len(to) {
			return
		}
	}
	m := outMsg{s: s, op: ws.OpText, payload: payload, born: s.now()}
	s.table.mu.RLock()
	for _, id := range to {
		c := s.table.getLocked(id)
		if c == nil {
			continue
		}
		if c.push(m.frameFor(c), droppable) {
			s.m.deliveries.Add(1)
			c.own.markDirty(c)
		}
	}
	s.table.mu.RUnlock()
	m.release()
}

// closeConn starts a close handshake with code on connection id.
func (s *Server) closeConn(id uint64, code uint16, reason string) {
	if sio.IsSession(id) {
		s.sio.Kick(id, reason)
		return
	}
	s.table.mu.RLock()
	c := s.table.getLocked(id)
	s.table.mu.RUnlock()
	if c != nil {
		c.requestClose(code, reason, true)
	}
}

// connTable maps connection IDs to connections. An ID is a slot number and
// a generation, so a stale ID never reaches a newer connection in its slot.
type connTable struct {
	mu    sync.RWMutex
	slots []*wsConn
	gens  []uint32
	free  []uint32
}

func (t *connTable) add(c *wsConn) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var slot uint32
	if n := len(t.free); n > 0 {
		slot = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		slot = uint32(len(t.slots))
		t.slots = append(t.slots, nil)
		t.gens = append(t.gens, 1)
	}
	t.slots[slot] = c
	c.id = uint64(t.gens[slot])<<32 | uint64(slot)
	return c.id
}

func (t *connTable) remove(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	slot := uint32(id)
	if int(slot) < len(t.slots) && uint64(t.gens[slot]) == id>>32 {
		t.slots[slot] = nil
		t.gens[slot]++
		t.free = append(t.free, slot)
	}
}

func (t *connTable) getLocked(id uint64) *wsConn {
	slot := uint32(id)
	if int(slot) >= len(t.slots) || uint64(t.gens[slot]) != id>>32 {
		return nil
	}
	return t.slots[slot]
}

// handler is the gnet event handler.
type handler struct {
	gnet.BuiltinEventEngine
	srv    *Server
	booted chan error
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.srv
	s.eng = eng
	fd, err := eng.Dup()
	if err != nil {
		h.booted <- fmt.Errorf("read listener address: %w", err)
		return gnet.Shutdown
	}
	sa, err := unix.Getsockname(fd)
	_ = unix.Close(fd)
	if err != nil {
		h.booted <- fmt.Errorf("read listener address: %w", err)
		return gnet.Shutdown
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	default:
		s.addr, _ = net.ResolveTCPAddr("tcp", s.cfg.Addr)
	}
	h.booted <- nil
	return gnet.None
}

func (h *handler) loopFor(gl gnet.EventLoop) *loopState {
	s := h.srv
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	for _, l := range s.loops {
		if l.gl == gl {
			return l
		}
	}
	l := newLoopState(s, gl)
	s.loops = append(s.loops, l)
	return l
}

var serviceUnavailable = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n")

var tooManyHandshakes = appendRejection(nil, &rejection{status: 429, reason: "too many connections in the handshake from this address (--max-handshakes-per-ip)"})

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.srv
	if s.shuttingDown.Load() || s.m.connsCurrent.Load() >= int64(s.cfg.MaxConns) {
		s.m.upgradeFailed("max_conns")
		return serviceUnavailable, gnet.Close
	}
	hs, ok := s.half.acquire(gc.RemoteAddr())
	if !ok {
		s.m.upgradeFailed("handshakes_per_ip")
		return tooManyHandshakes, gnet.Close
	}
	l := h.loopFor(gc.EventLoop())
	now := s.now()
	c := &wsConn{srv: s, own: l, openedAt: now, lastRead: now, hs: hs}
	c.gs.gc = gc
	c.out = &c.gs
	s.table.add(c)
	gc.SetContext(c)
	l.add(c)
	s.m.connsCurrent.Add(1)
	s.m.connsTotal.Add(1)
	return nil, gnet.None
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*wsConn)
	if c == nil {
		return gnet.Close
	}
	l := c.own.(*loopState)
	c.process(gc)
	l.current = c
	l.sc.backlog = false
	closeNow := c.flush(l.sc)
	if !closeNow && l.sc.backlog && !c.inBacklog() {
		c.setBacklog(true)
		l.backlog = append(l.backlog, c)
	}
	// Other connections' deliveries are flushed by the loop's flush task,
	// which gnet runs after the whole batch of ready sockets: a burst of
	// messages from several senders then reaches each recipient in one
	// writev instead of one write per message.
	l.current = nil
	if closeNow || l.currentClose {
		l.currentClose = false
		return gnet.Close
	}
	return gnet.None
}

func (h *handler) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, _ := gc.Context().(*wsConn)
	if c == nil {
		return gnet.None
	}
	s := h.srv
	l := c.own.(*loopState)
	l.remove(c)
	s.connGone(c)
	return gnet.None
}

// connGone releases a connection after its socket closed.
func (s *Server) connGone(c *wsConn) {
	if c.state == stOpen {
		s.m.closed(1006, "client") // no close handshake
	}
	s.table.remove(c.id)
	c.endHandshake()
	c.closed()
	s.pmdGone(c)
	if gone := endpoints[c.route].gone; gone != nil {
		gone(c)
	}
	s.m.connsCurrent.Add(-1)
}

// tickEvery is how often each loop retries backlogged connections; the
// heartbeat sweep runs every sweepInterval.
const tickEvery = 20 * time.Millisecond

func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.srv
	s.loopsMu.Lock()
	for _, l := range s.loops {
		_ = l.gl.Execute(context.Background(), l.tickTask)
	}
	s.loopsMu.Unlock()
	return tickEvery, gnet.None
}

// gnetLogger routes gnet's logs into slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) {
	g.l.Debug("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Infof(format string, args ...any) {
	g.l.Debug("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, "stale connection") {
		// An event for a socket closed earlier in the same poll batch: it
		// happens at every burst of closes and is harmless.
		g.l.Debug("gnet: " + msg)
		return
	}
	g.l.Warn("gnet: " + msg)
}
func (g gnetLogger) Errorf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.l.Error("gnet: fatal: " + fmt.Sprintf(format, args...))
}
