package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsbench/wsbench/target/chat"
	"github.com/wsbench/wsbench/target/history"
)

// History is the cluster's room history: the JetStream stream
// wsbench_<c>_history over the room subjects wsbench.<c>.room.>. A node
// publishes a `said` frame there once; the stream stores it and then
// republishes it (RePublish) to wsbench.<c>.live.<room>, which the nodes
// with members in the room hear. The live copy leaves only once stored,
// so a node that subscribes to a room and then reads the stream misses
// nothing: what it did not hear was stored before it subscribed. The
// stream keeps Config.History messages per room (MaxMsgsPerSubject) and
// Config.HistoryBytes over all rooms (oldest discarded first).
//
// Append publishes with a reply subject and calls done once JetStream
// answers with its PubAck (stored) or an error, or after Config.Timeout
// without an answer: the hub acks a `say` only then, the promise of
// --history-db. Load reads a room's stored messages through an ordered
// consumer.
type History struct {
	n      *Node
	js     jetstream.JetStream
	stream jetstream.Stream
	inbox  string // "<inbox>." + sequence number: the PubAck reply subjects
	sub    *nats.Subscription

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]pendingAck
	closed  bool
}

type pendingAck struct {
	done func(error)
	sent time.Time
}

var _ history.Store = (*History)(nil)

// HistoryStream is the name of the cluster's history stream.
func HistoryStream(cluster string) string { return "wsbench_" + cluster + "_history" }

// openHistory creates (or updates) the history stream and subscribes to
// the PubAck replies.
func (n *Node) openHistory(ctx context.Context, js jetstream.JetStream) error {
	var s jetstream.Stream
	err := retrySettling(ctx, n.cfg.Timeout, false, func(ctx context.Context) (err error) {
		s, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:              HistoryStream(n.cfg.Name),
			Description:       "wsbench serve room history (said frames), per room subject",
			Subjects:          []string{n.prefix + "room.>"},
			RePublish:         &jetstream.RePublish{Source: n.prefix + "room.>", Destination: n.prefix + "live.>"},
			MaxMsgsPerSubject: int64(n.cfg.History),
			MaxBytes:          n.cfg.HistoryBytes,
			Discard:           jetstream.DiscardOld,
			Storage:           jetstream.FileStorage,
			AllowDirect:       false, // reads come from the leader (Load)
			Replicas:          n.cfg.Replicas,
			Duplicates:        time.Minute,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: history stream: %w", err)
	}
	h := &History{n: n, js: js, stream: s, inbox: nats.NewInbox() + ".", pending: make(map[uint64]pendingAck)}
	h.sub, err = n.nc.Subscribe(h.inbox+"*", h.acked)
	if err != nil {
		return fmt.Errorf("cluster: subscribe to history acks: %w", err)
	}
	n.hist = h
	return nil
}

// History returns the cluster's history store, or nil when Config.History
// is 0 (no history kept).
func (n *Node) History() *History { return n.hist }

// Append implements history.Store: it publishes the message (in its live
// form) to the room's subject, into the stream, which passes it on to the
// other nodes once stored.
func (h *History) Append(room string, msg []byte, done func(error)) {
	live := chat.LiveForm(msg)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		if done != nil {
			go done(history.ErrClosed)
		}
		return
	}
	h.seq++
	seq := h.seq
	now := time.Now()
	h.pending[seq] = pendingAck{done: done, sent: now}
	h.mu.Unlock()
	m := h.n.roomMsg(h.n.prefix+"room."+Token(room), live, now)
	m.Reply = h.inbox + strconv.FormatUint(seq, 10)
	if err := h.n.nc.PublishMsg(m); err != nil {
		// done runs on another goroutine, as history.Store promises (the
		// hub holds the room's lock here).
		go h.finish(seq, fmt.Errorf("publish to the history stream: %w", err))
		return
	}
	h.n.stats.published.Add(1)
}

// acked handles a PubAck (or an error reply) from JetStream.
func (h *History) acked(m *nats.Msg) {
	seq, err := strconv.ParseUint(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:], 10, 64)
	if err != nil {
		return
	}
	h.finish(seq, pubAckError(m))
}

// pubAckError reads a JetStream publish reply: nil for a PubAck.
func pubAckError(m *nats.Msg) error {
	if m.Header.Get("Status") == "503" {
		return errors.New("no history stream answered (JetStream unavailable)")
	}
	var r struct {
		Stream string `json:"stream"`
		Error  *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return fmt.Errorf("history stream reply %q: %w", m.Data, err)
	}
	if r.Error != nil {
		return fmt.Errorf("history stream: %s (%d)", r.Error.Description, r.Error.Code)
	}
	if r.Stream == "" {
		return fmt.Errorf("history stream reply without a stream: %q", m.Data)
	}
	return nil
}

func (h *History) finish(seq uint64, err error) {
	h.mu.Lock()
	p, ok := h.pending[seq]
	delete(h.pending, seq)
	h.mu.Unlock()
	if !ok {
		return
	}
	if err == nil {
		h.n.stats.ackDelay.Observe(int64(time.Since(p.sent)))
	} else {
		h.n.stats.storeErrors.Add(1)
	}
	if p.done != nil {
		p.done(err)
	}
}

// expire fails the appends JetStream has not answered within the timeout
// (the broker went away): their senders get an error, never a false ack.
func (h *History) expire(now time.Time) {
	var late []uint64
	h.mu.Lock()
	for seq, p := range h.pending {
		if now.Sub(p.sent) > h.n.cfg.Timeout {
			late = append(late, seq)
		}
	}
	h.mu.Unlock()
	for _, seq := range late {
		h.finish(seq, fmt.Errorf("no answer from the history stream within %v", h.n.cfg.Timeout))
	}
}

// Load implements history.Store: up to n of the room's newest stored
// messages, oldest first, in their history form. It blocks for a broker
// round trip or two (at most Config.Timeout each); the hub calls it on a
// room's first local join only.
func (h *History) Load(room string, n int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	if !h.n.nc.IsConnected() {
		// Do not hold the event loop for a broker that is away.
		return nil, fmt.Errorf("cluster history of %q: broker %s", room, h.n.nc.Status())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*h.n.cfg.Timeout)
	defer cancel()
	// Hear the room before reading it: the stream sends a message live
	// only after storing it, so one this node did not hear was stored
	// before the subscription and is in the read below (those heard too,
	// the hub skips).
	h.n.RoomActive(room)
	if err := h.n.nc.FlushWithContext(ctx); err != nil {
		return nil, fmt.Errorf("cluster history of %q: subscribe: %w", room, err)
	}
	subject := h.n.prefix + "room." + Token(room)
	// The room's last stored message, from the stream's leader (the stream
	// has no AllowDirect: a direct get may be answered by any replica, and
	// after a NATS server's loss one that was behind answered "none"). A
	// request lost while a NATS cluster elects a leader is tried again.
	var last *jetstream.RawStreamMsg
	err := retrySettling(ctx, h.n.cfg.Timeout/2, true, func(ctx context.Context) (err error) {
		last, err = h.stream.GetLastMsgForSubject(ctx, subject)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster history of %q: last message: %w", room, err)
	}
	// A consumer of its own for this read (AckNone: reading consumes
	// nothing; one replica: nothing to keep), removed after it. It reads
	// its server's copy of the stream, which may be a moment behind the
	// leader's: it delivers up to the last message seen above as soon as
	// it has it.
	var cons jetstream.Consumer
	err = retrySettling(ctx, h.n.cfg.Timeout/2, false, func(ctx context.Context) (err error) {
		cons, err = h.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
			FilterSubject: subject, AckPolicy: jetstream.AckNonePolicy,
			InactiveThreshold: 10 * time.Second, MemoryStorage: true, Replicas: 1,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster history of %q: consumer: %w", room, err)
	}
	defer func() {
		name := cons.CachedInfo().Name
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), h.n.cfg.Timeout)
			defer cancel()
			_ = h.stream.DeleteConsumer(ctx, name)
		}()
	}()
	// On a NATS cluster the consumer may live on another server than this
	// node's, which learns of it a moment after its creation: a fetch that
	// finds no responder is retried.
	var msgs [][]byte
	err = retrySettling(ctx, 0, true, func(context.Context) error {
		// The stream keeps at most Config.History messages per room: read
		// them all up to the last one seen above.
		batch, err := cons.Fetch(max(n, h.n.cfg.History), jetstream.FetchMaxWait(h.n.cfg.Timeout))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			msgs = append(msgs, chat.HistoryForm(m.Data()))
			md, err := m.Metadata()
			if err == nil && md.Sequence.Stream >= last.Sequence {
				return nil
			}
		}
		return batch.Error()
	})
	if err != nil && len(msgs) == 0 {
		return nil, fmt.Errorf("cluster history of %q: fetch: %w", room, err)
	}
	if len(msgs) > n {
		msgs = msgs[len(msgs)-n:]
	}
	return msgs, nil
}

// Close implements history.Store: it waits (up to Config.Timeout) for the
// PubAcks of pending appends, then fails the rest.
func (h *History) Close() error {
	deadline := time.Now().Add(h.n.cfg.Timeout)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		left := len(h.pending)
		h.mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	h.closed = true
	late := make([]uint64, 0, len(h.pending))
	for seq := range h.pending {
		late = append(late, seq)
	}
	h.mu.Unlock()
	for _, seq := range late {
		h.finish(seq, errors.New("no answer from the history stream before shutdown"))
	}
	if len(late) > 0 {
		return fmt.Errorf("cluster history: %d messages unconfirmed at shutdown", len(late))
	}
	return nil
}
