// Package chat is the chat hub of the reference server (`wsbench serve`,
// endpoint /chat): it turns each complete client text message into protocol
// actions on nicknames, rooms and history, and hands the resulting frames to
// the server core through an Outbox.
//
// Data flow: event loop (target) → Hub.Handle(conn, message) → parse →
// op handler (nick, join, say, …) → history (Ring, optional history.Store)
// → Outbox.Deliver(recipients, payload, class) → event loops write.
// The protocol is specified in docs/protocol.md.
package chat

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbench/wsbench/target/history"
)

// Config tunes a Hub. Zero values pick the defaults.
type Config struct {
	HistorySize     int           // messages kept per room; default 50, < 0 keeps none
	Store           history.Store // nil = memory only
	MaxRoomsPerConn int           // default 16
	MaxNameLen      int           // default 32
	MaxRoomLen      int           // default 64
	MaxTextLen      int           // bytes of the raw JSON `text` value; default 16 KiB
	// MaxMessageLen bounds a whole client message, pass-through fields
	// included (they are copied into every delivery and into history);
	// default 16 KiB. Longer messages get too_long and are not processed.
	MaxMessageLen int
	// HistoryRoomBytes bounds the memory one room's history pins (and, with
	// a Store, the bytes it keeps per room); default 1 MiB.
	HistoryRoomBytes int
	// HistoryTotalBytes bounds the memory of all rooms' history together;
	// default 64 MiB. Over it, rooms without members are dropped from memory
	// (oldest idle first; with a Store they reload on the next join), then
	// the oldest messages of the room being written.
	HistoryTotalBytes int64
	// RoomCreates is how many rooms one connection may create (join while
	// not held in memory) per minute; default 60.
	RoomCreates int
	RateLimit   float64 // messages/s per connection (burst = 2×), 0 = off
	// PresenceLimit is the largest room whose joins and leaves are announced
	// to the other members (0 = every room). Announcing every join costs
	// O(members) deliveries, so filling a room of N costs O(N²): 190 million
	// presence messages for 19,500 members.
	PresenceLimit int
	Now           func() time.Time
	Logger        *slog.Logger
	// Broker links this hub to the other nodes of a cluster; nil (the
	// default) is a single node, and the hub then never calls it.
	Broker Broker
}

// Defaults for Config's zero values.
const (
	DefaultHistorySize     = 50
	DefaultMaxRoomsPerConn = 16
	DefaultMaxNameLen      = 32
	DefaultMaxRoomLen      = 64
	DefaultMaxTextLen      = 16 << 10
	DefaultMaxMessageLen   = 16 << 10
	DefaultHistoryRoom     = 1 << 20
	DefaultHistoryTotal    = 64 << 20
	DefaultRoomCreates     = 60
)

// roomCreateWindow is the window RoomCreates counts in, in seconds.
const roomCreateWindow = 60

// maxRoomCreates is the largest RoomCreates (the per-connection count is a
// uint16 to keep the connection state small).
const maxRoomCreates = 1<<16 - 1

// Abuse: a connection sending more than abuseFactor × RateLimit messages in
// each of abuseStrikes consecutive seconds is closed with 1008.
const (
	abuseFactor  = 10
	abuseStrikes = 3
)

// Stats is a snapshot of the hub's gauges and counters.
type Stats struct {
	Conns   int64 // connections opened and not closed
	Users   int64 // connections with a nickname
	Rooms   int64 // rooms with at least one member
	Held    int64 // rooms held in memory: Rooms plus empty rooms kept for their history
	Members int64 // room memberships, summed over rooms
	History int64 // messages held in the in-memory rings
	// HistoryBytes is the memory the rings' messages pin (buffer capacity).
	HistoryBytes int64

	MessagesIn  uint64 // client messages handled
	Broadcasts  uint64 // say/shout/presence payloads fanned out
	Deliveries  uint64 // frames handed to Outbox.Deliver (one per recipient)
	Acks        uint64
	Errors      uint64 // error messages sent
	RateLimited uint64 // messages refused by the rate limiter
	AbuseCloses uint64 // connections closed for rate-limit abuse
	StoreErrors uint64 // appends the history store failed to persist
	TooLong     uint64 // messages refused as longer than MaxMessageLen or MaxTextLen
	// RoomCreatesLimited counts joins refused because the connection had
	// created RoomCreates rooms in the last minute.
	RoomCreatesLimited uint64
	// RoomsEvicted counts rooms without members dropped from memory to keep
	// history under HistoryTotalBytes; HistoryTrimmed counts messages
	// dropped from a room with members for the same reason.
	RoomsEvicted, HistoryTrimmed uint64
}

type counters struct {
	conns, users, rooms, held, members, history, historyBytes          atomic.Int64
	in, broadcasts, deliveries, acks, errors, limited, abuse, storeErr atomic.Uint64
	tooLong, createLimited, evicted, trimmed                           atomic.Uint64
}

// Hub holds the chat state. All methods are safe for concurrent use; calls
// for one connection should come from one event loop (they are serialised by
// a per-connection lock anyway).
type Hub struct {
	cfg   Config
	out   Outbox
	log   *slog.Logger
	stats counters

	shards [connShards]connShard

	// Lock order: conn.mu → room.mu → roomsMu, and conn.mu → nickMu.
	// roomsMu is never held while taking a room lock.
	nickMu sync.RWMutex
	nicks  map[string]*conn
	// claims are nicknames being claimed from the Broker, held so that no
	// other local connection claims them meanwhile (nil without a Broker).
	claims     map[string]*conn
	named      []ConnID // every connection with a nickname (shout recipients)
	namedConns []*conn  // parallel to named

	roomsMu sync.RWMutex
	rooms   map[string]*room
	// idle lists the rooms held only for their history (no members), in the
	// order they became idle: the first to be evicted. Guarded by roomsMu.
	idle *list.List

	scratch sync.Pool // *scratch

	shutdown atomic.Bool
}

const connShards = 64

type connShard struct {
	mu sync.RWMutex
	m  map[ConnID]*conn
}

// conn is the per-connection state: 104 bytes (112 with malloc rounding)
// plus a shard map entry, and a rooms slice once it joins.
type conn struct {
	mu       sync.Mutex
	one      [1]ConnID // reply recipient list without allocating
	name     string
	namedIdx int
	rooms    []*room
	closed   bool
	// rooms created in the window starting at createWin (Unix seconds);
	// both fit in closed's padding, so the struct does not grow.
	creates   uint16
	createWin uint32

	// rate limiting (token bucket) and abuse detection
	tokens   float64
	last     int64
	winStart int64
	winCount uint32
	strikes  uint8
}

// room is one chat room. mu orders everything that happens in the room:
// membership changes, fan-out and history appends.
type room struct {
	mu      sync.Mutex
	name    string
	members []ConnID
	index   map[ConnID]int
	ring    *history.Ring
	loaded  bool // history loaded from the store
	// dedupe (cluster mode) is set by a load from the store: the broker
	// messages that follow may repeat its newest messages (the node heard
	// the room before it read the store), and RemoteRoom skips those.
	dedupe bool
	dead   bool // removed from the hub's map; look it up again
	// idleAt is the room's element in Hub.idle while it has no members
	// (guarded by roomsMu, like the list).
	idleAt *list.Element
	// pending counts appends not yet committed by the store: a room is not
	// evicted while its reload would miss them.
	pending atomic.Int32
	doneFn  func(error) // store callback for appends without an id
}

// scratch is per-call working memory, pooled so steady-state calls do not
// allocate.
type scratch struct {
	req request
	buf []byte
	ids []ConnID
}

// NewHub returns a hub sending through out.
func NewHub(cfg Config, out Outbox) (*Hub, error) {
	if out == nil {
		return nil, errors.New("chat hub: nil Outbox")
	}
	if cfg.HistorySize == 0 {
		cfg.HistorySize = DefaultHistorySize
	}
	if cfg.HistorySize < 0 {
		cfg.HistorySize = 0
	}
	if cfg.MaxRoomsPerConn <= 0 {
		cfg.MaxRoomsPerConn = DefaultMaxRoomsPerConn
	}
	if cfg.MaxNameLen <= 0 {
		cfg.MaxNameLen = DefaultMaxNameLen
	}
	if cfg.MaxRoomLen <= 0 {
		cfg.MaxRoomLen = DefaultMaxRoomLen
	}
	if cfg.MaxTextLen <= 0 {
		cfg.MaxTextLen = DefaultMaxTextLen
	}
	if cfg.MaxMessageLen <= 0 {
		cfg.MaxMessageLen = DefaultMaxMessageLen
	}
	if cfg.HistoryRoomBytes <= 0 {
		cfg.HistoryRoomBytes = DefaultHistoryRoom
	}
	if cfg.HistoryTotalBytes <= 0 {
		cfg.HistoryTotalBytes = DefaultHistoryTotal
	}
	if cfg.RoomCreates <= 0 {
		cfg.RoomCreates = DefaultRoomCreates
	}
	cfg.RoomCreates = min(cfg.RoomCreates, maxRoomCreates)
	if cfg.RateLimit < 0 {
		return nil, fmt.Errorf("chat hub: negative rate limit %v", cfg.RateLimit)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		cfg:   cfg,
		out:   out,
		log:   cfg.Logger,
		nicks: make(map[string]*conn),
		rooms: make(map[string]*room),
		idle:  list.New(),
	}
	if cfg.Broker != nil {
		h.claims = make(map[string]*conn)
	}
	for i := range h.shards {
		h.shards[i].m = make(map[ConnID]*conn)
	}
	h.scratch.New = func() any { return &scratch{buf: make([]byte, 0, 512)} }
	return h, nil
}

func (h *Hub) shard(id ConnID) *connShard {
	return &h.shards[uint64(id)*0x9E3779B97F4A7C15>>58]
}

// Open registers a new connection. Handle registers unknown connections too,
// so Open is optional but keeps the first message's path short.
func (h *Hub) Open(id ConnID) { h.conn(id) }

func (h *Hub) conn(id ConnID) *conn {
	s := h.shard(id)
	s.mu.RLock()
	c := s.m[id]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c = s.m[id]; c == nil {
		c = &conn{one: [1]ConnID{id}, namedIdx: -1, tokens: 2 * h.cfg.RateLimit}
		s.m[id] = c
		h.stats.conns.Add(1)
	}
	return c
}

// Closed forgets a connection: it leaves every room (presence to the other
// members) and frees its nickname.
func (h *Hub) Closed(id ConnID) {
	s := h.shard(id)
	s.mu.Lock()
	c := s.m[id]
	delete(s.m, id)
	s.mu.Unlock()
	if c == nil {
		return
	}
	h.stats.conns.Add(-1)
	sc := h.getScratch()
	defer h.putScratch(sc)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, r := range c.rooms {
		h.removeMember(sc, c, r, false)
	}
	clear(c.rooms)
	c.rooms = c.rooms[:0]
	if c.name != "" {
		h.nickMu.Lock()
		h.dropNick(c)
		h.nickMu.Unlock()
	}
}

func (h *Hub) getScratch() *scratch { return h.scratch.Get().(*scratch) }

func (h *Hub) putScratch(sc *scratch) {
	if cap(sc.buf) > 64<<10 || cap(sc.req.unesc) > 64<<10 || cap(sc.req.members) > 1024 || cap(sc.ids) > 32<<10 {
		return // do not pin a rare huge buffer in the pool
	}
	sc.buf = sc.buf[:0]
	sc.ids = sc.ids[:0]
	h.scratch.Put(sc)
}

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() Stats {
	s := &h.stats
	return Stats{
		Conns: s.conns.Load(), Users: s.users.Load(), Rooms: s.rooms.Load(), Held: s.held.Load(),
		Members: s.members.Load(), History: s.history.Load(), HistoryBytes: s.historyBytes.Load(),
		MessagesIn: s.in.Load(), Broadcasts: s.broadcasts.Load(), Deliveries: s.deliveries.Load(),
		Acks: s.acks.Load(), Errors: s.errors.Load(), RateLimited: s.limited.Load(),
		AbuseCloses: s.abuse.Load(), StoreErrors: s.storeErr.Load(),
		TooLong: s.tooLong.Load(), RoomCreatesLimited: s.createLimited.Load(),
		RoomsEvicted: s.evicted.Load(), HistoryTrimmed: s.trimmed.Load(),
	}
}

// Shutdown flushes and closes the history store (pending appends are
// committed and acked). It returns ctx's error if that takes too long, or
// at once if ctx is already done; the flush then goes on in the background.
func (h *Hub) Shutdown(ctx context.Context) error {
	if h.shutdown.Swap(true) || h.cfg.Store == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- h.cfg.Store.Close() }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("chat hub shutdown: history flush: %w", err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("chat hub shutdown: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("chat hub shutdown: history flush: %w", ctx.Err())
	}
}

// deliver hands payload to the outbox and counts it.
func (h *Hub) deliver(to []ConnID, payload []byte, class Class) {
	if len(to) == 0 {
		return
	}
	h.stats.deliveries.Add(uint64(len(to)))
	h.out.Deliver(to, payload, class)
}
