package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/target"
	"github.com/wsbench/wsbench/target/cluster"
)

// serveOptions are the flags of `wsbench serve`.
type serveOptions struct {
	cfg          target.Config
	logLevel     string
	cpuProfile   string
	flushTimeout time.Duration // bound on the history flush at shutdown
	stderr       io.Writer     // the log; nil = discard
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{cfg: target.DefaultConfig(), logLevel: "info", flushTimeout: 10 * time.Second}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference WebSocket chat server",
		Long: "serve runs wsbench's reference server: /chat (the chat protocol, see docs/protocol.md),\n" +
			"/echo (every data message echoed), /socket.io/ (Socket.IO v4 over long-polling and WebSocket, in\n" +
			"the same rooms as /chat, see docs/socketio.md), /metrics (Prometheus text), /healthz, and at / a\n" +
			"chat page to open in a browser and watch a room during a load test.\n" +
			"SIGINT or SIGTERM shut it down gracefully: stop accepting, stop reading, commit the history\n" +
			"store and send its pending acks, then close 1001 to every client and wait for their replies.\n" +
			"Exit status 3 if the history flush fails or takes longer than --flush-timeout.",
		Args: noArgs("serve is set up with flags (wsbench serve --help)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := interruptContext(cmd.Context())
			defer stop()
			o.stderr = cmd.ErrOrStderr()
			return runServe(ctx, o)
		},
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&c.Addr, "addr", c.Addr, "listen address (port 0 picks a free port)")
	f.IntVar(&c.HistorySize, "history", c.HistorySize, "messages kept per room and sent to joiners")
	f.StringVar(&c.HistoryDB, "history-db", "", "persist room history in this bbolt file")
	f.IntVar(&c.HistoryRoomBytes, "history-room-bytes", c.HistoryRoomBytes, "history bytes kept per room, in memory and in --history-db (oldest dropped first)")
	f.Int64Var(&c.HistoryTotal, "history-total-bytes", c.HistoryTotal, "history bytes held in memory over all rooms; past it rooms without members are dropped from memory (reloaded from --history-db on the next join)")
	f.IntVar(&c.MaxChatMessage, "max-chat-message", c.MaxChatMessage, "largest /chat message in bytes, pass-through fields included (answered with error too_long)")
	f.IntVar(&c.RoomCreates, "room-creates", c.RoomCreates, "rooms one connection may create per minute (error too_many_room_creates past it)")
	f.DurationVar(&c.PingInterval, "ping-interval", c.PingInterval, "ping connections silent this long (0 = never)")
	f.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close connections silent this long (0 = never)")
	f.IntVar(&c.MaxMessage, "max-message", c.MaxMessage, "largest data message in bytes (close 1009 past it)")
	f.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most connections held at once (default: just under the open-file limit)")
	f.IntVar(&c.HandshakesPerIP, "max-handshakes-per-ip", c.HandshakesPerIP, "connections one source IP may hold before their HTTP request is answered, more get 429 (0 = a quarter of --max-conns)")
	f.DurationVar(&c.HandshakeTimeout, "handshake-timeout", c.HandshakeTimeout, "close connections that have not finished the TLS handshake and the HTTP upgrade within this")
	f.IntVar(&c.OutboundLimit, "outbound-limit", c.OutboundLimit, "per-connection outbound queue in bytes (room traffic, echoes, pongs); chatter past it is dropped, and replies past 4x it close with 1008")
	f.IntVar(&c.PresenceLimit, "presence-limit", c.PresenceLimit, "rooms above this many members do not announce joins and leaves (0 = every room does)")
	f.IntVar(&c.SendBuffer, "send-buffer", c.SendBuffer, "kernel send buffer per connection in bytes (0 = kernel autotuning, up to megabytes per slow reader)")
	f.DurationVar(&c.SlowTimeout, "slow-timeout", c.SlowTimeout, "close with 1008 a connection over --outbound-limit this long")
	f.Float64Var(&c.RateLimit, "rate-limit", 0, "chat messages per second per connection, burst 2x (0 = off)")
	f.BoolVar(&c.Compression, "compression", c.Compression, "negotiate permessage-deflate (RFC 7692) when a client offers it; the server keeps no compression context, so a broadcast is compressed once and an idle connection costs no more (see docs/protocol.md)")
	f.IntVar(&c.CompressionMinSize, "compression-min-size", c.CompressionMinSize, "with --compression: outgoing messages shorter than this many bytes are sent uncompressed")
	f.IntVar(&c.CompressionTakeover, "compression-takeover", c.CompressionTakeover, "with --compression: how many connections may keep their client-to-server compression context, each holding up to a 32 KiB window; the others are answered client_no_context_takeover")
	f.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate (PEM); serve wss:// with --tls-key")
	f.StringVar(&c.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.DurationVar(&o.flushTimeout, "flush-timeout", o.flushTimeout, "at shutdown, how long to wait for the history store to commit pending messages (exit 3 past it)")
	f.StringVar(&o.logLevel, "log-level", o.logLevel, "log level: debug, info, warn, error")
	f.IntVar(&c.Loops, "loops", c.Loops, "event loops")
	f.StringVar(&c.Cluster, "cluster", "", "join a cluster of serve nodes through these NATS servers (nats://HOST:PORT[,...], JetStream on): rooms, shouts, dms and nicknames span every node")
	f.StringVar(&c.ClusterName, "cluster-name", "wsbench", "with --cluster: the cluster's name, separating clusters that share NATS servers (A-Z a-z 0-9 _ -)")
	f.DurationVar(&c.ClusterNodeTTL, "cluster-node-ttl", 15*time.Second, "with --cluster: a node that stops heartbeating (killed) has its nicknames and members freed within this (at least 1s)")
	f.IntVar(&c.ClusterReplicas, "cluster-replicas", 1, "with --cluster on a NATS cluster: how many NATS servers keep the nicknames and the history (1, 3 or 5; more than 1 needs at least that many servers)")
	f.Int64Var(&c.ClusterHistoryBytes, "cluster-history-bytes", cluster.DefaultHistoryBytes, "with --cluster: bytes the JetStream history stream keeps over all rooms (oldest dropped first); --history bounds each room")
	f.BoolVar(&c.ReusePort, "reuse-port", false, "listen with SO_REUSEPORT so that several serve processes share --addr (the kernel spreads connections among them)")
	f.DurationVar(&c.SocketIO.PingInterval, "sio-ping-interval", c.SocketIO.PingInterval, "Socket.IO (/socket.io/): ping every session this often")
	f.DurationVar(&c.SocketIO.PingTimeout, "sio-ping-timeout", c.SocketIO.PingTimeout, "Socket.IO: close a session that does not answer a ping within this")
	f.IntVar(&c.SocketIO.MaxPayload, "sio-max-payload", c.SocketIO.MaxPayload, "Socket.IO: largest long-polling request body in bytes (HTTP 413 past it)")
	f.DurationVar(&c.SocketIO.PollTimeout, "sio-poll-timeout", c.SocketIO.PollTimeout, "Socket.IO: answer a waiting long-poll GET with a noop after this")
	f.IntVar(&c.SocketIO.SessionsPerIP, "sio-sessions-per-ip", c.SocketIO.SessionsPerIP, "Socket.IO: sessions one client address may open on long-polling (HTTP 429 past it)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the server to this `FILE` until it stops (for go tool pprof)")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

func runServe(ctx context.Context, o *serveOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageError(fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel))
	}
	if err := o.check(); err != nil {
		return usageError(err)
	}
	stderr := o.stderr
	if stderr == nil {
		stderr = io.Discard
	}
	if o.cfg.Cluster != "" {
		if err := cluster.CheckName(o.cfg.ClusterName); err != nil {
			return usageError(fmt.Errorf("--cluster-name: %w", err))
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	srv, err := target.Start(o.cfg, logger)
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	logger.Info("wsbench serve ready", "url", srv.URL("/chat"))
	<-ctx.Done()
	shutCtx, cancel := context.WithTimeout(context.Background(), o.flushTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("shutdown: %w", err)}
	}
	logger.Info("stopped")
	return nil
}

// check says what is wrong with the server's flags, if anything.
func (o *serveOptions) check() error {
	c := &o.cfg
	for _, rule := range []struct {
		bad bool
		err string
	}{
		{c.MaxMessage <= 0, "--max-message must be positive"},
		{c.MaxConns <= 0, "--max-conns must be positive"},
		{c.HandshakesPerIP < 0, "--max-handshakes-per-ip must not be negative"},
		{c.HandshakeTimeout <= 0, "--handshake-timeout must be positive"},
		{c.OutboundLimit <= 0, "--outbound-limit must be positive"},
		{c.PresenceLimit < 0, "--presence-limit must not be negative"},
		{c.SendBuffer < 0, "--send-buffer must not be negative"},
		{c.SlowTimeout <= 0, "--slow-timeout must be positive"},
		{c.HistorySize < 0, "--history must not be negative"},
		{c.HistoryRoomBytes <= 0, "--history-room-bytes must be positive"},
		{c.HistoryTotal < int64(c.HistoryRoomBytes), fmt.Sprintf("--history-total-bytes (%d) must be at least --history-room-bytes (%d)", c.HistoryTotal, c.HistoryRoomBytes)},
		{c.MaxChatMessage <= 0, "--max-chat-message must be positive"},
		{c.MaxChatMessage > c.MaxMessage, fmt.Sprintf("--max-chat-message (%d) must not exceed --max-message (%d): larger frames are closed with 1009 first", c.MaxChatMessage, c.MaxMessage)},
		{c.RoomCreates <= 0 || c.RoomCreates > 65535, fmt.Sprintf("--room-creates %d: want 1..65535 rooms per minute", c.RoomCreates)},
		{c.RateLimit < 0, "--rate-limit must not be negative"},
		{c.CompressionMinSize < 0, "--compression-min-size must not be negative"},
		{c.CompressionTakeover < 0, "--compression-takeover must not be negative"},
		{o.flushTimeout <= 0, "--flush-timeout must be positive"},
		{c.Loops <= 0, "--loops must be positive"},
		{c.SocketIO.PingInterval <= 0 || c.SocketIO.PingTimeout <= 0 || c.SocketIO.PollTimeout <= 0, "--sio-ping-interval, --sio-ping-timeout and --sio-poll-timeout must be positive"},
		{c.SocketIO.MaxPayload <= 0, "--sio-max-payload must be positive"},
		{c.SocketIO.SessionsPerIP <= 0, "--sio-sessions-per-ip must be positive"},
		{c.Cluster != "" && c.ClusterNodeTTL < time.Second, fmt.Sprintf("--cluster-node-ttl %v: want at least 1s", c.ClusterNodeTTL)},
		{c.Cluster != "" && c.HistoryDB != "", "--history-db and --cluster exclude each other: a cluster keeps its history in JetStream"},
		{c.Cluster != "" && c.ClusterHistoryBytes <= 0, "--cluster-history-bytes must be positive"},
		{c.Cluster != "" && (c.ClusterReplicas < 1 || c.ClusterReplicas > cluster.MaxReplicas), fmt.Sprintf("--cluster-replicas %d: want 1..%d NATS servers", c.ClusterReplicas, cluster.MaxReplicas)},
		{(c.TLSCert == "") != (c.TLSKey == ""), "--tls-cert and --tls-key go together"},
	} {
		if rule.bad {
			return errors.New(rule.err)
		}
	}
	return nil
}
