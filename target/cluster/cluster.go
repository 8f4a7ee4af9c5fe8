// Package cluster joins several `wsbench serve` processes into one chat
// server through NATS (`wsbench serve --cluster nats://…`). It implements
// chat.Broker: the hub calls it to publish room messages and shouts, to find
// a user on another node and to claim nicknames cluster-wide, and it calls
// the hub back (Receiver) with what other nodes publish. The hub itself
// knows nothing of NATS.
//
// Subjects (docs/protocol.md, "Cluster mode"), with <c> the cluster name
// and names escaped by Token:
//
//	wsbench.<c>.live.<room>  a room's `said` frames; a node subscribes while it has members in the room
//	wsbench.<c>.room.<room>  with history on, where a node publishes them: the history stream stores
//	                         them and republishes each, once stored, to live.<room>
//	wsbench.<c>.shout        `shouted` frames; every node subscribes
//	wsbench.<c>.user.<nick>  `dm` frames as requests; the node where <nick> is connected subscribes and replies
//
// Nicknames live in the JetStream key-value bucket wsbench_<c>_nicks (key:
// escaped name, value: owner node ID), created only if absent. Each node
// keeps a heartbeat key in wsbench_<c>_nodes, a bucket whose entries expire
// NodeTTL after their last write: a name whose owner node has no live
// heartbeat is free, so a dead node's names are claimable again at most
// NodeTTL after its last heartbeat.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/wsbench/wsbench/target/chat"
)

// Config configures a Node. Zero values pick the defaults.
type Config struct {
	URLs string // comma-separated NATS server URLs (nats://host:port,…)
	// Name separates clusters sharing one NATS server: it prefixes every
	// subject and bucket. Default "wsbench"; letters, digits, _ and -.
	Name string
	// NodeTTL bounds how long a dead node's nicknames stay taken: its
	// heartbeat (written every NodeTTL/3) expires NodeTTL after the last
	// write. Default 15s.
	NodeTTL time.Duration
	// Timeout bounds each broker round trip (a dm, a nickname claim, a
	// history store confirmation). Default 2s.
	Timeout time.Duration
	// History is how many messages per room the history stream keeps (and
	// a joiner gets); 0 keeps none and creates no stream. HistoryBytes
	// bounds the stream over all rooms (oldest dropped first); default
	// DefaultHistoryBytes.
	History      int
	HistoryBytes int64
	// Replicas is how many NATS servers keep each of the cluster's
	// JetStream assets (the nickname and node buckets, the history
	// stream): 1 (the default) on one server; 3 or 5 on a NATS cluster of
	// at least that many servers, so that losing one loses neither the
	// history nor the nicknames. At most MaxReplicas.
	Replicas int
	// ReconnectWait is the pause between attempts to reach NATS again
	// after losing it; default 1s.
	ReconnectWait time.Duration
	Logger        *slog.Logger
}

// Defaults for Config's zero values.
const (
	DefaultName    = "wsbench"
	DefaultNodeTTL = 15 * time.Second
	DefaultTimeout = 2 * time.Second
	// DefaultHistoryBytes bounds the history stream over all rooms.
	DefaultHistoryBytes  = 1 << 30
	DefaultReconnectWait = time.Second
	// MaxReplicas is JetStream's own bound on a stream's replicas.
	MaxReplicas = 5
)

// inboxSize is how many broker messages may wait for the dispatcher; past it
// NATS drops them (a slow consumer: delivery across nodes is at most once).
const inboxSize = 1 << 16

// Receiver is what a Node delivers to: the chat hub.
type Receiver interface {
	RemoteRoom(room string, frame []byte)
	RemoteShout(frame []byte)
	RemoteDM(to string, frame []byte) bool
}

// Node is one server's link to the cluster.
type Node struct {
	cfg    Config
	log    *slog.Logger
	id     string
	prefix string // "wsbench.<c>."
	nc     *nats.Conn
	nicks  jetstream.KeyValue
	nodes  jetstream.KeyValue
	hist   *History // nil without history
	stats  stats

	recv Receiver
	in   chan *nats.Msg

	mu     sync.Mutex
	closed bool
	rooms  map[string]*nats.Subscription
	users  map[string]owned

	// presence (presence.go), guarded by pmu
	pmu    sync.Mutex
	local  map[string]int                    // room -> members on this node
	dirty  map[string]struct{}               // rooms whose count changed since the last flush
	remote map[string]map[string]remoteCount // node -> room -> count heard

	stop chan struct{}
	wg   sync.WaitGroup
}

// owned is a nickname this node holds: its key's revision (a release
// deletes the key only if it is still that revision) and its dm
// subscription.
type owned struct {
	rev uint64
	sub *nats.Subscription
}

var _ chat.Broker = (*Node)(nil)

// Dial connects to NATS, opens (or creates) the cluster's buckets and
// writes this node's first heartbeat. Call Attach before serving.
func Dial(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if err := CheckName(cfg.Name); err != nil {
		return nil, err
	}
	if cfg.NodeTTL == 0 {
		cfg.NodeTTL = DefaultNodeTTL
	}
	if cfg.NodeTTL < time.Second {
		return nil, fmt.Errorf("cluster node TTL %v: want at least 1s", cfg.NodeTTL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.History < 0 {
		cfg.History = 0
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 1 || cfg.Replicas > MaxReplicas {
		return nil, fmt.Errorf("cluster: %d replicas: want 1..%d", cfg.Replicas, MaxReplicas)
	}
	if cfg.HistoryBytes <= 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = DefaultReconnectWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if strings.TrimSpace(cfg.URLs) == "" {
		return nil, errors.New("cluster: no NATS URL")
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger, id: nuid.Next(), prefix: "wsbench." + cfg.Name + ".",
		in: make(chan *nats.Msg, inboxSize), rooms: make(map[string]*nats.Subscription),
		users: make(map[string]owned), stop: make(chan struct{}),
		local: make(map[string]int), dirty: make(map[string]struct{}), remote: make(map[string]map[string]remoteCount),
	}
	nc, err := nats.Connect(cfg.URLs,
		nats.Name("wsbench serve "+n.id),
		nats.NoEcho(), // a node never hears its own publishes: it delivered them locally already
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		// No buffering while disconnected: a publish during an outage
		// fails at once (delivery across nodes is at most once) instead
		// of arriving late, and a say is never acked as stored.
		nats.ReconnectBufSize(-1),
		nats.Timeout(cfg.Timeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				return // our own Close
			}
			n.stats.disconnects.Add(1)
			n.log.Warn("cluster: lost the NATS connection; serving local traffic only", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.stats.reconnects.Add(1)
			n.log.Info("cluster: NATS connection back", "url", nc.ConnectedUrlRedacted())
			n.reconnected()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", cfg.URLs, err)
	}
	n.nc = nc
	fail := func(err error) (*Node, error) {
		nc.Close()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(fmt.Errorf("cluster: JetStream: %w", err))
	}
	// On a NATS cluster just started, JetStream elects a leader for the
	// cluster and then for each replicated bucket and stream, a few
	// seconds each: the start waits up to startWait for them.
	kctx, cancel := context.WithTimeout(ctx, max(startWait, 4*cfg.Timeout))
	defer cancel()
	err = retrySettling(kctx, cfg.Timeout, false, func(ctx context.Context) (err error) {
		n.nicks, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: "wsbench_" + cfg.Name + "_nicks", Description: "wsbench serve nicknames: name -> owner node", History: 1,
			Replicas: cfg.Replicas,
		})
		return err
	})
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeReplicasNotSupported {
			return fail(fmt.Errorf("cluster: nickname bucket: %d replicas need a NATS cluster of at least %d servers with JetStream: %w", cfg.Replicas, cfg.Replicas, err))
		}
		return fail(fmt.Errorf("cluster: nickname bucket (is JetStream enabled on the NATS server?): %w", err))
	}
	err = retrySettling(kctx, cfg.Timeout, false, func(ctx context.Context) (err error) {
		n.nodes, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: "wsbench_" + cfg.Name + "_nodes", Description: "wsbench serve node heartbeats", History: 1, TTL: cfg.NodeTTL,
			Replicas: cfg.Replicas,
		})
		return err
	})
	if err != nil {
		return fail(fmt.Errorf("cluster: node bucket: %w", err))
	}
	// On a NATS cluster a bucket just created may live on another server
	// than this node's, which learns of it a moment later: until then a
	// write finds no responder, and is retried.
	if err := retrySettling(kctx, cfg.Timeout, true, n.heartbeat); err != nil {
		return fail(err)
	}
	if err := reachStream(kctx, js, "$KV."+n.nicks.Bucket()+"."+probeToken, cfg.Timeout); err != nil {
		return fail(fmt.Errorf("cluster: nickname bucket: %w", err))
	}
	if cfg.History > 0 {
		if err := n.openHistory(kctx, js); err != nil {
			return fail(err)
		}
		if err := reachStream(kctx, js, n.prefix+"room."+probeToken, cfg.Timeout); err != nil {
			return fail(fmt.Errorf("cluster: history stream: %w", err))
		}
	}
	return n, nil
}

// retrySettling calls f until it returns anything but an error of a NATS
// cluster still settling, pausing 5 ms, then twice as long each time up to
// 200 ms, while ctx lasts: "JetStream system temporarily unavailable" (no
// meta leader yet), "no suitable peers for placement" (the leader has not
// heard from enough servers yet; when there are too few, the error stays
// and is returned at the end) and, with noResponders, "no responders"
// (a stream's or a consumer's interest not yet known to this node's NATS
// server; for JetStream API requests it means JetStream is off, and is
// not retried). With attempt > 0 each call gets a context of its own
// bounded by attempt, and one that ran out is tried again too (a request
// lost while the cluster elects a leader must not use up all of ctx).
func retrySettling(ctx context.Context, attempt time.Duration, noResponders bool, f func(context.Context) error) error {
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if attempt > 0 {
			actx, cancel = context.WithTimeout(ctx, attempt)
		}
		err := f(actx)
		cancel()
		var apiErr *jetstream.APIError
		settling := errors.As(err, &apiErr) && (apiErr.ErrorCode == jsErrCodeClusterNotAvailable || apiErr.ErrorCode == jsErrCodeNoPeers) ||
			noResponders && (errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)) ||
			attempt > 0 && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))
		if !settling {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// startWait bounds how long Dial waits for a NATS cluster to settle.
const startWait = 30 * time.Second

// JetStream errors nats.go names no constant for.
const (
	jsErrCodeNoPeers             jetstream.ErrorCode = 10005 // no suitable peers for placement
	jsErrCodeClusterNotAvailable jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
)

// jsErrCodeReplicasNotSupported is JetStream's error for a stream of more
// than one replica on a server outside a cluster (nats.go names no
// constant for it).
const jsErrCodeReplicasNotSupported jetstream.ErrorCode = 10074

// probeToken is the last subject token of reachStream's publishes: the
// escaped form of a NUL byte, which no name may contain.
const probeToken = "=00"

// reachStream returns once the stream capturing subject answers this
// node's NATS server: it publishes there with an expected last sequence no
// subject can have, so the stream refuses it (nothing is stored or
// republished), and the refusal is the answer.
func reachStream(ctx context.Context, js jetstream.JetStream, subject string, timeout time.Duration) error {
	return retrySettling(ctx, timeout, true, func(ctx context.Context) error {
		_, err := js.Publish(ctx, subject, nil, jetstream.WithExpectLastSequencePerSubject(math.MaxUint64))
		var apiErr *jetstream.APIError
		switch {
		case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
			return nil // refused, as it had to be
		case err == nil:
			return errors.New("the stream stored a probe it had to refuse")
		default:
			return err
		}
	})
}

// ID is this node's ID (the value of the nickname keys it owns).
func (n *Node) ID() string { return n.id }

// Attach starts delivering to r: it subscribes to shouts and starts the
// dispatcher and the heartbeat. Call it once, before the hub serves.
func (n *Node) Attach(r Receiver) error {
	n.recv = r
	for _, subject := range []string{"shout", "members.*", "members-hello"} {
		if _, err := n.nc.ChanSubscribe(n.prefix+subject, n.in); err != nil {
			return fmt.Errorf("cluster: subscribe to %s: %w", n.prefix+subject, err)
		}
	}
	n.wg.Add(3)
	go n.dispatch()
	go n.beat()
	go n.tick()
	n.hello()
	return nil
}

// Close leaves the cluster: it deletes this node's heartbeat (its names are
// free at once) and drains the NATS connection.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	close(n.stop)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	var err error
	if n.nc.IsConnected() { // else the heartbeat expires by itself
		n.bye()
		err = n.nodes.Delete(ctx, n.id)
	}
	n.nc.Close()
	n.wg.Wait()
	if err != nil {
		return fmt.Errorf("cluster: delete node heartbeat: %w", err)
	}
	return nil
}

// Abort drops the NATS connection without any goodbye, as a killed process
// would (tests use it to simulate node loss).
func (n *Node) Abort() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	close(n.stop)
	n.nc.Close()
	n.wg.Wait()
}

func (n *Node) heartbeat(ctx context.Context) error {
	if _, err := n.nodes.Put(ctx, n.id, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return fmt.Errorf("cluster: node heartbeat: %w", err)
	}
	if rtt, err := n.nc.RTT(); err == nil {
		n.stats.rtt.Store(int64(rtt))
	}
	return nil
}

// reconnected runs when NATS is back after an outage: heartbeat at once
// (the node's names stay its own if it was away less than NodeTTL) and
// exchange room counts again. NATS resubscribes by itself.
func (n *Node) reconnected() {
	n.mu.Lock()
	closed := n.closed
	if !closed {
		n.wg.Add(1)
	}
	n.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		defer cancel()
		if err := n.heartbeat(ctx); err != nil {
			n.log.Warn("cluster heartbeat after reconnect failed", "err", err)
		}
		n.hello()
		n.flushMembers(true)
	}()
}

// tick publishes changed room counts every membersFlush, all of them every
// NodeTTL/3, forgets counts not refreshed, and fails history appends
// JetStream did not confirm in time.
func (n *Node) tick() {
	defer n.wg.Done()
	t := time.NewTicker(membersFlush)
	defer t.Stop()
	refresh := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			all := now.Sub(refresh) >= n.cfg.NodeTTL/3
			if all {
				refresh = now
			}
			if n.nc.IsConnected() {
				n.flushMembers(all)
			}
			n.sweepMembers(now)
			if n.hist != nil {
				n.hist.expire(now)
			}
		}
	}
}

func (n *Node) beat() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.NodeTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
			if err := n.heartbeat(ctx); err != nil {
				n.log.Warn("cluster heartbeat failed", "err", err)
			}
			cancel()
		}
	}
}

// dispatch hands every message from the other nodes to the hub, in the
// order NATS delivered them.
func (n *Node) dispatch() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case m := <-n.in:
			n.handle(m)
		}
	}
}

func (n *Node) handle(m *nats.Msg) {
	rest, ok := strings.CutPrefix(m.Subject, n.prefix)
	if !ok {
		return
	}
	if strings.HasPrefix(rest, "live.") && m.Header.Get(nodeHeader) == n.id {
		return // our own, republished by the history stream
	}
	n.stats.received.Add(1)
	if sent := m.Header.Get(sentHeader); sent != "" {
		if ns, err := strconv.ParseInt(sent, 10, 64); err == nil {
			n.stats.brokerDelay.Observe(time.Now().UnixNano() - ns)
		}
	}
	if n.handleMembers(rest, m) {
		return
	}
	switch {
	case rest == "shout":
		n.recv.RemoteShout(m.Data)
	case strings.HasPrefix(rest, "live."):
		if room, ok := Untoken(rest[len("live."):]); ok {
			n.recv.RemoteRoom(room, m.Data)
		}
	case strings.HasPrefix(rest, "user."):
		var reply []byte
		if to, ok := Untoken(rest[len("user."):]); !ok || !n.recv.RemoteDM(to, m.Data) {
			reply = []byte("unknown")
		}
		if m.Reply != "" {
			_ = m.Respond(reply)
		}
	}
}

// RoomActive implements chat.Broker: subscribe to the room's subject.
func (n *Node) RoomActive(room string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.rooms[room] != nil {
		return
	}
	sub, err := n.nc.ChanSubscribe(n.liveSubject(room), n.in)
	if err != nil {
		n.log.Error("cluster: subscribe to room", "room", room, "err", err)
		return
	}
	n.rooms[room] = sub
}

// liveSubject is the subject a node hears a room's messages on.
func (n *Node) liveSubject(room string) string { return n.prefix + "live." + Token(room) }

// RoomIdle implements chat.Broker: unsubscribe from the room's subject.
func (n *Node) RoomIdle(room string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if sub := n.rooms[room]; sub != nil {
		delete(n.rooms, room)
		_ = sub.Unsubscribe()
	}
}

// sentHeader carries the publishing node's clock (Unix ns) on room
// messages and shouts: the receiver's wsbench_delivery_delay_broker_seconds.
// nodeHeader carries the publishing node's ID on room messages: with
// history on, the stream republishes them to every subscriber, the
// publishing node included (NoEcho does not cover the stream's own
// publishes), and a node skips its own.
const (
	sentHeader = "Wsbench-Sent"
	nodeHeader = "Wsbench-Node"
)

// roomMsg is a room message for the broker, to subject (the frame is not
// copied: NATS writes it out before PublishMsg returns).
func (n *Node) roomMsg(subject string, frame []byte, now time.Time) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set(sentHeader, strconv.FormatInt(now.UnixNano(), 10))
	m.Header.Set(nodeHeader, n.id)
	m.Data = frame
	return m
}

// PublishRoom implements chat.Broker. With history on, the hub's
// History.Append publishes the message instead (to the stream, which passes
// it on once stored), so this does nothing.
func (n *Node) PublishRoom(room string, frame []byte) {
	if n.hist != nil {
		return
	}
	if err := n.nc.PublishMsg(n.roomMsg(n.liveSubject(room), frame, time.Now())); err != nil {
		n.log.Debug("cluster: publish room message", "room", room, "err", err)
		return
	}
	n.stats.published.Add(1)
}

// PublishShout implements chat.Broker.
func (n *Node) PublishShout(frame []byte) {
	m := nats.NewMsg(n.prefix + "shout")
	m.Header.Set(sentHeader, strconv.FormatInt(time.Now().UnixNano(), 10))
	m.Data = frame
	if err := n.nc.PublishMsg(m); err != nil {
		n.log.Debug("cluster: publish shout", "err", err)
		return
	}
	n.stats.published.Add(1)
}

// SendDM implements chat.Broker: a request to the user's subject, answered
// by the node where the user is connected.
func (n *Node) SendDM(to string, frame []byte, done func(error)) {
	frame = append([]byte(nil), frame...)
	n.spawn(done, func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		defer cancel()
		m, err := n.nc.RequestWithContext(ctx, n.prefix+"user."+Token(to), frame)
		if err == nil || errors.Is(err, nats.ErrNoResponders) {
			n.stats.published.Add(1)
		}
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			err = chat.ErrUnknownUser
		case err != nil:
			err = fmt.Errorf("dm through NATS: %w", err)
		case len(m.Data) > 0:
			err = chat.ErrUnknownUser // the user left that node meanwhile
		}
		done(err)
	})
}

// ClaimNick implements chat.Broker.
func (n *Node) ClaimNick(name string, done func(error)) {
	n.spawn(done, func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		defer cancel()
		rev, err := n.claim(ctx, name)
		if err == nil {
			n.mu.Lock()
			if n.closed {
				err = errClosed
			} else {
				var sub *nats.Subscription
				sub, err = n.nc.ChanSubscribe(n.prefix+"user."+Token(name), n.in)
				if err == nil {
					if old := n.users[name]; old.sub != nil {
						_ = old.sub.Unsubscribe()
					}
					n.users[name] = owned{rev: rev, sub: sub}
				}
			}
			n.mu.Unlock()
			if err == nil {
				// welcome promises the name is reachable: the server has
				// the subscription once the flush returns.
				if ferr := n.nc.FlushWithContext(ctx); ferr != nil {
					n.log.Warn("cluster: flush after nickname claim", "name", name, "err", ferr)
				}
			}
		}
		done(err)
	})
}

// errClosed is reported for calls after Close.
var errClosed = errors.New("cluster: node is shutting down")

// spawn runs f on its own goroutine, or reports errClosed to done once the
// node is closed.
func (n *Node) spawn(done func(error), f func()) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		go done(errClosed) // never call back on the caller's goroutine: it holds hub locks
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// claim takes name's key: create it if absent, or take it over (compare
// and set on its revision) if its owner node has no live heartbeat.
func (n *Node) claim(ctx context.Context, name string) (uint64, error) {
	key, me := Token(name), []byte(n.id)
	for range 3 {
		rev, err := n.nicks.Create(ctx, key, me)
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("claim nickname: %w", err)
		}
		e, err := n.nicks.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("claim nickname: %w", err)
		}
		if owner := string(e.Value()); owner != n.id {
			// A name of this node's own is left over from a release still
			// in flight; another node's is free once its heartbeat expired.
			_, err := n.nodes.Get(ctx, owner)
			if err == nil {
				return 0, chat.ErrNickTaken
			}
			if !errors.Is(err, jetstream.ErrKeyNotFound) {
				return 0, fmt.Errorf("claim nickname: owner heartbeat: %w", err)
			}
		}
		rev, err = n.nicks.Update(ctx, key, me, e.Revision())
		if err == nil {
			return rev, nil
		}
		if !wrongRevision(err) {
			return 0, fmt.Errorf("claim nickname: %w", err)
		}
	}
	return 0, chat.ErrNickTaken // contended: someone else won each round
}

func wrongRevision(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// ReleaseNick implements chat.Broker: stop hearing the name's dms and
// delete its key if this node still owns that revision.
func (n *Node) ReleaseNick(name string) {
	n.mu.Lock()
	o, ok := n.users[name]
	if ok {
		delete(n.users, name)
		_ = o.sub.Unsubscribe()
	}
	closed := n.closed
	if ok && !closed {
		n.wg.Add(1)
	}
	n.mu.Unlock()
	if !ok || closed {
		return // after Close the node's heartbeat is gone, which frees its names
	}
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		defer cancel()
		err := n.nicks.Delete(ctx, Token(name), jetstream.LastRevision(o.rev))
		if err != nil && !wrongRevision(err) {
			n.log.Warn("cluster: release nickname", "name", name, "err", err)
		}
	}()
}

// CheckName reports whether s is a valid cluster name (--cluster-name).
func CheckName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("cluster name %q: want 1..64 characters of A-Z a-z 0-9 _ -", s)
	}
	for _, b := range []byte(s) {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return fmt.Errorf("cluster name %q: want 1..64 characters of A-Z a-z 0-9 _ -", s)
		}
	}
	return nil
}
