package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/wsbench/wsbench/target/chat"
	"github.com/wsbench/wsbench/target/cluster"
	"github.com/wsbench/wsbench/target/history"
)

// outbox is the server core's side of chat.Outbox.
type outbox struct{ s *Server }

var _ chat.Outbox = outbox{}

// Deliver implements chat.Outbox: the payload is encoded once into a shared
// frame queued to every recipient; Chatter is dropped for a recipient whose
// queue is over --outbound-limit.
func (o outbox) Deliver(to []chat.ConnID, payload []byte, class chat.Class) {
	o.s.deliver(connIDs(to), payload, class == chat.Chatter)
}

// Close implements chat.Outbox.
func (o outbox) Close(id chat.ConnID, code uint16, reason string) {
	o.s.closeConn(uint64(id), code, reason)
}

// hubAdapter maps the server's uint64 connection IDs onto chat.ConnID.
type hubAdapter struct {
	h    *chat.Hub
	node *cluster.Node // nil without --cluster
}

func (a hubAdapter) Open(id uint64)               { a.h.Open(chat.ConnID(id)) }
func (a hubAdapter) Handle(id uint64, msg []byte) { a.h.Handle(chat.ConnID(id), msg) }
func (a hubAdapter) Closed(id uint64)             { a.h.Closed(chat.ConnID(id)) }
func (a hubAdapter) Shutdown(ctx context.Context) error {
	err := a.h.Shutdown(ctx)
	if a.node != nil {
		// Leaving the cluster frees this node's nicknames at once.
		err = errors.Join(err, a.node.Close())
	}
	return err
}
func (a hubAdapter) Stats() HubStats {
	st := a.h.Stats()
	return HubStats{
		Rooms: st.Rooms, Members: st.Members, Users: st.Users, History: st.History,
		RoomsHeld: st.Held, HistoryBytes: st.HistoryBytes, TooLong: st.TooLong,
		RoomCreatesLimited: st.RoomCreatesLimited, RoomsEvicted: st.RoomsEvicted, HistoryTrimmed: st.HistoryTrimmed,
	}
}

// newHub builds the chat hub for cfg, opening the history store if asked.
func newHub(cfg Config, s *Server, logger *slog.Logger) (chatHub, error) {
	hc := chat.Config{
		HistorySize: cfg.HistorySize, RateLimit: cfg.RateLimit, PresenceLimit: cfg.PresenceLimit, Logger: logger,
		MaxMessageLen: cfg.MaxChatMessage, HistoryRoomBytes: cfg.HistoryRoomBytes, HistoryTotalBytes: cfg.HistoryTotal,
		RoomCreates: cfg.RoomCreates,
	}
	if cfg.HistorySize == 0 {
		hc.HistorySize = -1 // --history 0 keeps none
	}
	if cfg.HistoryDB != "" {
		st, err := history.OpenBolt(cfg.HistoryDB, history.BoltOptions{Retain: max(cfg.HistorySize, 1), RetainBytes: cfg.HistoryRoomBytes})
		if err != nil {
			return nil, fmt.Errorf("--history-db: %w", err)
		}
		hc.Store = st
	}
	var node *cluster.Node
	if cfg.Cluster != "" {
		if hc.Store != nil {
			_ = hc.Store.Close()
			return nil, errors.New("--history-db and --cluster exclude each other: a cluster keeps its history in JetStream")
		}
		var err error
		node, err = cluster.Dial(context.Background(), cluster.Config{
			URLs: cfg.Cluster, Name: cfg.ClusterName, NodeTTL: cfg.ClusterNodeTTL, Logger: logger,
			History: cfg.HistorySize, HistoryBytes: cfg.ClusterHistoryBytes, Replicas: cfg.ClusterReplicas,
		})
		if err != nil {
			return nil, fmt.Errorf("--cluster: %w", err)
		}
		hc.Broker = node
		if h := node.History(); h != nil {
			hc.Store = h
		}
	}
	h, err := chat.NewHub(hc, outbox{s})
	if err == nil && node != nil {
		if err = node.Attach(h); err != nil {
			_ = node.Close()
			err = fmt.Errorf("--cluster: %w", err)
		}
	}
	if err != nil {
		if hc.Store != nil {
			_ = hc.Store.Close()
		}
		if node != nil {
			_ = node.Close()
		}
		return nil, fmt.Errorf("create chat hub: %w", err)
	}
	return hubAdapter{h: h, node: node}, nil
}
