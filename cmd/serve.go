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
)

// serveOptions are the flags of `wsbench serve`.
type serveOptions struct {
	cfg          target.Config
	logLevel     string
	cpuProfile   string
	flushTimeout time.Duration // bound on the history flush at shutdown
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{cfg: target.DefaultConfig(), logLevel: "info", flushTimeout: 10 * time.Second}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference WebSocket chat server",
		Long: "serve runs wsbench's reference server: /chat (the chat protocol, see docs/protocol.md),\n" +
			"/echo (every data message echoed), /metrics (Prometheus text), /healthz, and at / a chat page\n" +
			"to open in a browser and watch a room during a load test.\n" +
			"SIGINT or SIGTERM shut it down gracefully: stop accepting, stop reading, commit the history\n" +
			"store and send its pending acks, then close 1001 to every client and wait for their replies.\n" +
			"Exit status 3 if the history flush fails or takes longer than --flush-timeout.",
		Args: noArgs("serve is set up with flags (wsbench serve --help)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := interruptContext(cmd.Context())
			defer stop()
			return runServe(ctx, o, cmd.ErrOrStderr())
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
	f.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate (PEM); serve wss:// with --tls-key")
	f.StringVar(&c.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.DurationVar(&o.flushTimeout, "flush-timeout", o.flushTimeout, "at shutdown, how long to wait for the history store to commit pending messages (exit 3 past it)")
	f.StringVar(&o.logLevel, "log-level", o.logLevel, "log level: debug, info, warn, error")
	f.IntVar(&c.Loops, "loops", c.Loops, "event loops")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the server to this `FILE` until it stops (for go tool pprof)")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageError(fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel))
	}
	switch {
	case o.cfg.MaxMessage <= 0:
		return usageError(errors.New("--max-message must be positive"))
	case o.cfg.MaxConns <= 0:
		return usageError(errors.New("--max-conns must be positive"))
	case o.cfg.HandshakesPerIP < 0:
		return usageError(errors.New("--max-handshakes-per-ip must not be negative"))
	case o.cfg.HandshakeTimeout <= 0:
		return usageError(errors.New("--handshake-timeout must be positive"))
	case o.cfg.OutboundLimit <= 0:
		return usageError(errors.New("--outbound-limit must be positive"))
	case o.cfg.PresenceLimit < 0:
		return usageError(errors.New("--presence-limit must not be negative"))
	case o.cfg.SendBuffer < 0:
		return usageError(errors.New("--send-buffer must not be negative"))
	case o.cfg.SlowTimeout <= 0:
		return usageError(errors.New("--slow-timeout must be positive"))
	case o.cfg.HistorySize < 0:
		return usageError(errors.New("--history must not be negative"))
	case o.cfg.HistoryRoomBytes <= 0:
		return usageError(errors.New("--history-room-bytes must be positive"))
	case o.cfg.HistoryTotal < int64(o.cfg.HistoryRoomBytes):
		return usageError(fmt.Errorf("--history-total-bytes (%d) must be at least --history-room-bytes (%d)", o.cfg.HistoryTotal, o.cfg.HistoryRoomBytes))
	case o.cfg.MaxChatMessage <= 0:
		return usageError(errors.New("--max-chat-message must be positive"))
	case o.cfg.MaxChatMessage > o.cfg.MaxMessage:
		return usageError(fmt.Errorf("--max-chat-message (%d) must not exceed --max-message (%d): larger frames are closed with 1009 first", o.cfg.MaxChatMessage, o.cfg.MaxMessage))
	case o.cfg.RoomCreates <= 0 || o.cfg.RoomCreates > 65535:
		return usageError(fmt.Errorf("--room-creates %d: want 1..65535 rooms per minute", o.cfg.RoomCreates))
	case o.cfg.RateLimit < 0:
		return usageError(errors.New("--rate-limit must not be negative"))
	case o.flushTimeout <= 0:
		return usageError(errors.New("--flush-timeout must be positive"))
	case o.cfg.Loops <= 0:
		return usageError(errors.New("--loops must be positive"))
	case (o.cfg.TLSCert == "") != (o.cfg.TLSKey == ""):
		return usageError(errors.New("--tls-cert and --tls-key go together"))
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
