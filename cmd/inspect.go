package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
)

// inspect.go is `wsbench inspect`: flags into inspectOptions, the
// cross-mode checks, and the wiring of one internal/inspect Source to
// inspect.Run. The sources themselves live in internal/inspect.

// inspectOptions holds everything `wsbench inspect` needs; flags only fill
// it in.
type inspectOptions struct {
	File       string // a trace file, or a ws:// or wss:// URL for live mode
	MaxPayload int
	Conns      []string
	Dirs       []string
	Opcodes    []string
	Grep       string
	JSON       bool

	// Live and relay modes.
	Headers          []string // "Name: value"
	Subprotocols     []string
	Insecure         bool
	CAFile           string
	ConnectTimeout   time.Duration
	HandshakeTimeout time.Duration
	Binary           bool          // stdin lines are hex, sent as binary frames
	Compression      bool          // offer permessage-deflate
	CloseWait        time.Duration // how long to wait for the peer's close reply
	Record           string        // also write a trace file
	HAR              string        // also write what was inspected as a HAR file
	RecordMaxBytes   int64
	Listen           string // relay: accept clients here
	Upstream         string // relay: forward them to this ws:// or wss:// URL
	ListenCert       string // relay: serve TLS (wss://) with this PEM certificate…
	ListenKey        string // …and this PEM key
	ListenSelfSigned bool   // relay: serve TLS with a certificate generated in memory
	RenderQueue      int    // relay: bytes queued for rendering before the relay passes them over

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Color          bool                      // stdout is a terminal
	OnListen       func(net.Addr)            // relay: called once listening (tests)
	OnConnDone     func(conn uint64)         // relay: called when a client's relay ends (tests)
	OnStats        func(inspect.RenderStats) // relay: what was rendered, at the end (benchmarks)
}

func newInspectCmd() *cobra.Command {
	opts := &inspectOptions{}
	c := &cobra.Command{
		Use:   "inspect TRACE | CAPTURE.pcap | SESSION.har | ws://HOST/PATH | --listen ADDR --upstream URL",
		Short: "Show WebSocket frames from a trace, a pcap capture, a HAR, a live connection or a relay, header fields decoded and violations flagged",
		Long:  inspectLong,
		Args: func(c *cobra.Command, args []string) error {
			if opts.mode() == modeRelay {
				return noArgs("the relay forwards to --upstream URL")(c, args)
			}
			return oneArg("TRACE, CAPTURE.pcap or ws:// URL", "wsbench inspect echo.trace, or wsbench inspect ws://127.0.0.1:8080/echo")(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.File = args[0]
			}
			opts.Stdin = c.InOrStdin()
			opts.Stdout = c.OutOrStdout()
			opts.Stderr = c.ErrOrStderr()
			if f, ok := opts.Stdout.(*os.File); ok {
				opts.Color = wantColor(isatty.IsTerminal(f.Fd()), os.Getenv)
			}
			ctx, stop := interruptContext(c.Context())
			defer stop()
			return runInspect(ctx, opts)
		},
	}
	inspectFlags(c, opts)
	return c
}

func inspectFlags(c *cobra.Command, opts *inspectOptions) {
	f := c.Flags()
	f.IntVar(&opts.MaxPayload, "max-payload", inspect.DefaultMaxPayload, "payload bytes shown per frame; 0 shows all")
	f.StringSliceVar(&opts.Conns, "conn", nil, "only these connections (1 or c1; repeat or comma-separate)")
	f.StringSliceVar(&opts.Dirs, "dir", nil, "only this direction: c2s (client to server) or s2c")
	f.StringSliceVar(&opts.Opcodes, "opcode", nil, "only these opcodes: text, binary, cont, close, ping, pong or a number (0x9)")
	f.StringVar(&opts.Grep, "grep", "", "only frames whose unmasked payload matches this regular expression")
	f.BoolVar(&opts.JSON, "json", false, "JSON Lines, one object per record, instead of text")
	f.StringArrayVarP(&opts.Headers, "header", "H", nil, "live: extra upgrade request header 'Name: value' (repeatable)")
	f.StringSliceVar(&opts.Subprotocols, "subprotocol", nil, "live: offer these subprotocols, by preference")
	f.BoolVar(&opts.Insecure, "insecure", false, "skip TLS certificate verification for wss://")
	f.StringVar(&opts.CAFile, "ca-file", "", "trust this PEM CA `FILE` for wss:// besides the system roots")
	f.DurationVar(&opts.ConnectTimeout, "connect-timeout", inspect.DefaultConnectTimeout, "TCP (+TLS) connect timeout")
	f.DurationVar(&opts.HandshakeTimeout, "handshake-timeout", inspect.DefaultHandshakeTimeout, "HTTP upgrade timeout")
	f.BoolVar(&opts.Binary, "binary", false, "live: stdin lines are hex, sent as binary frames")
	f.BoolVar(&opts.Compression, "compression", false, "live: offer permessage-deflate (no context takeover); compressed frames are shown inflated")
	f.DurationVar(&opts.CloseWait, "close-wait", inspect.DefaultCloseWait, "live: how long to wait for the server's close after ours")
	f.StringVar(&opts.Record, "record", "", "live/relay: also record the traffic to this trace `FILE`")
	f.StringVar(&opts.HAR, "har", "", "also write the connections' upgrades and data messages as a HAR 1.2 `FILE` (Chrome's _webSocketMessages), for Chrome DevTools and other HAR viewers")
	f.Int64Var(&opts.RecordMaxBytes, "record-max-bytes", trace.DefaultMaxBytes, "size cap of the --record file; 0 = none")
	f.StringVar(&opts.Listen, "listen", "", "relay: accept WebSocket clients on this address (with --upstream)")
	f.StringVar(&opts.Upstream, "upstream", "", "relay: the ws:// or wss:// server to forward them to")
	f.IntVar(&opts.RenderQueue, "render-queue", inspect.DefaultFeedQueue, "relay: bytes held for the renderer; when it falls behind by more, bytes are relayed but not decoded (shown as gaps)")
	f.StringVar(&opts.ListenCert, "listen-cert", "", "relay: serve wss:// to clients with this PEM certificate (chain) file, with --listen-key")
	f.StringVar(&opts.ListenKey, "listen-key", "", "relay: the PEM private key of --listen-cert")
	f.BoolVar(&opts.ListenSelfSigned, "listen-tls-self-signed", false, "relay: serve wss:// with a self-signed certificate for localhost, 127.0.0.1 and ::1 made in memory")
}

// inspectMode is what inspect reads.
type inspectMode int

const (
	modeFile  inspectMode = iota // a trace file or a capture
	modeLive                     // a ws:// or wss:// URL
	modeRelay                    // --listen and --upstream
)

// mode: any relay flag makes a relay, a ws:// or wss:// argument a live
// connection, anything else names a file.
func (o *inspectOptions) mode() inspectMode {
	switch {
	case o.Listen != "" || o.Upstream != "" || o.ListenCert != "" || o.ListenKey != "" || o.ListenSelfSigned:
		return modeRelay
	case isWSURL(o.File):
		return modeLive
	}
	return modeFile
}

// inspectRules are the cross-mode flag checks, all in one place: in mode,
// a flag combination for which bad holds is a usage error saying msg
// ({file} stands for the argument). They run in this order.
var inspectRules = []struct {
	mode inspectMode
	bad  func(o *inspectOptions) bool
	msg  string
}{
	{modeRelay, func(o *inspectOptions) bool { return o.Listen == "" || o.Upstream == "" },
		"--listen and --upstream go together"},
	{modeRelay, func(o *inspectOptions) bool { return o.File != "" },
		"{file}: give a trace file, a ws:// URL or --listen with --upstream, not both"},
	{modeRelay, func(o *inspectOptions) bool {
		return len(o.Headers) > 0 || len(o.Subprotocols) > 0 || o.Binary || o.Compression
	}, "-H, --subprotocol, --binary and --compression are for live mode; the relay forwards the client's request"},
	{modeRelay, func(o *inspectOptions) bool { return (o.ListenCert != "" || o.ListenKey != "") && o.ListenSelfSigned },
		"--listen-tls-self-signed or --listen-cert with --listen-key, not both"},
	{modeRelay, func(o *inspectOptions) bool { return (o.ListenCert == "") != (o.ListenKey == "") },
		"--listen-cert and --listen-key go together"},
}

// checkModeFlags applies inspectRules.
func (o *inspectOptions) checkModeFlags() error {
	m := o.mode()
	for _, r := range inspectRules {
		if r.mode == m && r.bad(o) {
			return usageError(errors.New("inspect: " + strings.ReplaceAll(r.msg, "{file}", o.File)))
		}
	}
	return nil
}

func runInspect(ctx context.Context, o *inspectOptions) (err error) {
	ro, err := o.renderOptions()
	if err != nil {
		return err
	}
	if err := o.checkModeFlags(); err != nil {
		return err
	}
	src, done, err := o.source()
	if err != nil {
		return err
	}
	defer done()
	// The relay listens before the recording starts: a taken address
	// leaves no trace file behind.
	if l, ok := src.(interface{ Listen(context.Context) error }); ok {
		if err := l.Listen(ctx); err != nil {
			return &ExitError{Code: ExitFailure, Err: err}
		}
	}
	var rec *trace.Writer
	if o.mode() != modeFile {
		if rec, err = openRecord(o); err != nil {
			return err
		}
		defer func() { err = closeRecord(rec, err) }()
	}
	var har *inspect.HARWriter
	opts := inspect.Options{Render: ro, Record: rec}
	if o.HAR != "" {
		har = inspect.NewHARWriter(Version)
		opts.Observer = har
	}
	stats, err := inspect.Run(ctx, o.Stdout, src, opts)
	if o.OnStats != nil {
		o.OnStats(stats)
	}
	if har != nil {
		// What was read before a damaged part is written all the same.
		if herr := writeHAR(o, har); herr != nil && err == nil {
			err = herr
		}
	}
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	return nil
}

// writeHAR writes the --har file, saying on stderr what it holds.
func writeHAR(o *inspectOptions, har *inspect.HARWriter) error {
	f, err := os.Create(o.HAR)
	if err != nil {
		return fmt.Errorf("--har: %w", err)
	}
	err = har.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--har %s: %w", o.HAR, err)
	}
	if o.Stderr != nil {
		fmt.Fprintf(o.Stderr, "wsbench: wrote %s: %d WebSocket connection(s)\n", o.HAR, har.Connections())
		if har.NotUTF8 > 0 {
			fmt.Fprintf(o.Stderr, "wsbench: %d text message(s) were not valid UTF-8: a HAR holds text as JSON strings, so their bad bytes are written as U+FFFD\n", har.NotUTF8)
		}
	}
	return nil
}

// source is the inspect.Source of o's mode, and what releases it. Its
// errors are usage errors.
func (o *inspectOptions) source() (inspect.Source, func(), error) {
	switch o.mode() {
	case modeRelay:
		r, err := inspect.NewRelay(inspect.RelayOptions{
			Listen: o.Listen, Upstream: o.Upstream, Insecure: o.Insecure, CAFile: o.CAFile,
			ListenCert: o.ListenCert, ListenKey: o.ListenKey, ListenSelfSigned: o.ListenSelfSigned,
			ConnectTimeout: o.ConnectTimeout, HandshakeTimeout: o.HandshakeTimeout,
			RenderQueue: o.RenderQueue, OnListen: o.OnListen, OnConnDone: o.OnConnDone,
		})
		if err != nil {
			return nil, nil, usageError(err)
		}
		return r, func() { r.Close() }, nil
	case modeLive:
		l, err := inspect.NewLive(inspect.LiveOptions{
			URL: o.File, Headers: o.Headers, Subprotocols: o.Subprotocols, Insecure: o.Insecure, CAFile: o.CAFile,
			ConnectTimeout: o.ConnectTimeout, HandshakeTimeout: o.HandshakeTimeout,
			Binary: o.Binary, Compression: o.Compression, CloseWait: o.CloseWait, Stdin: o.Stdin, Stderr: o.Stderr,
		})
		if err != nil {
			return nil, nil, usageError(err)
		}
		return l, func() {}, nil
	}
	if scheme, rest, ok := strings.Cut(o.File, "://"); ok && (scheme == "http" || scheme == "https") {
		return nil, nil, usageError(fmt.Errorf("inspect %s: inspect speaks WebSocket, not plain HTTP: use %s", o.File, strings.Replace(scheme, "http", "ws", 1)+"://"+rest))
	}
	f, err := inspect.OpenFile(o.File)
	if err != nil {
		return nil, nil, usageError(fmt.Errorf("inspect: %w", err))
	}
	return f, func() { f.Close() }, nil
}

// openRecord creates the --record trace, or returns nil without one.
func openRecord(o *inspectOptions) (*trace.Writer, error) {
	if o.Record == "" {
		return nil, nil
	}
	if o.RecordMaxBytes < 0 {
		return nil, usageError(fmt.Errorf("--record-max-bytes %d: use 0 (no cap) or more", o.RecordMaxBytes))
	}
	w, err := trace.Create(o.Record, trace.WriterOptions{Conns: 0, MaxBytes: o.RecordMaxBytes})
	if err != nil {
		return nil, usageError(fmt.Errorf("--record: %w", err))
	}
	return w, nil
}

// closeRecord ends the recording, keeping the first error.
func closeRecord(rec *trace.Writer, err error) error {
	if rec == nil {
		return err
	}
	if cerr := rec.Close(); cerr != nil && err == nil {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("--record: %w", cerr)}
	}
	return err
}

// inspectLong is inspect's --help text.
const inspectLong = `Inspect renders WebSocket traffic frame by frame: the HTTP upgrade of each
connection as text, then per frame a summary line (time, connection,
direction, stream offset, FIN, RSV, opcode, mask and key, length and its
form, message and fragment number), hex + ASCII dumps of the header, the
payload as on the wire and unmasked, what the frame means (text, close code
and reason, ping payload…) and the RFC 6455 rules it breaks.

  wsbench inspect FILE
      renders a trace written by "wsbench run --trace FILE" (or --record).
      A truncated or corrupt trace is shown up to the damage, followed by
      the byte offset and what was expected there (exit status 3).

  wsbench inspect CAPTURE.pcap   (or .pcapng; told apart by magic number)
      reassembles the TCP connections of a tcpdump capture and renders the
      WebSocket ones, whatever the port: c1, c2… in the order of their
      first packet, the upgrade as text, then every frame. Other TCP
      connections get one note line each. IP fragments are reassembled;
      after bytes missing from the capture ("gap of N byte(s) at stream
      offset X") decoding resumes at the next plausible frame boundary,
      with a note. Exit status 3 on a malformed capture (shown up to the
      damage) or one without any WebSocket.

  wsbench inspect SESSION.har   (told apart by its first byte, '{')
      renders the WebSocket connections of a HAR file, as Chrome DevTools
      exports it ("Save all as HAR with content": each socket's messages in
      _webSocketMessages): c1, c2… in file order, the upgrade rebuilt from
      the entry's URL and headers, each message as one frame (client
      frames masked with the key 00000000: a HAR keeps no frames or keys).

  wsbench inspect ws://HOST/PATH   (or wss://)
      connects, shows the handshake, then reads stdin line by line: each
      line is sent as a text frame (--binary: lines are hex, sent as binary
      frames); "//x" sends the text "/x". Commands:
        /ping [text]            send a ping
        /close [code [reason]]  send a close frame (default 1000) and wait
                                for the close handshake
        /raw HEX                write these bytes as they are, e.g. a broken
                                frame: /raw c1 85 00000000 68656c6c6f
        /help                   list the commands
      Every frame both ways is dumped as it crosses the wire, until the peer
      closes or stdin ends; at the end of stdin it sends close 1000 and waits
      (--close-wait) for the server's last frames and its close. A server
      frame that breaks RFC 6455 is shown first, then the connection is
      failed with the close code the RFC gives. --compression offers
      permessage-deflate.
      Exit status 0 after a close handshake (whatever the code), 3 when the
      connection fails or ends without one.

  wsbench inspect --listen 127.0.0.1:9000 --upstream ws://HOST/PATH
      relays real clients (a browser, an app) to the real server byte for
      byte, never re-framing, while decoding a copy of each direction. Only
      the Host header of the upgrade request is rewritten (and the request
      path, when the upstream URL has one). Connections are numbered c1, c2…
      as they are accepted. Runs until interrupted. Clients may speak TLS
      to the relay (wss://) with --listen-cert FILE --listen-key FILE, or
      --listen-tls-self-signed for local use; the upstream may be ws:// or
      wss:// (--insecure, --ca-file) either way. Rendering never slows the
      relay: when it falls behind by more than --render-queue bytes, the
      excess is relayed but not decoded, and shown as a gap.

--record FILE writes what live and relay modes show as a trace file, which
"wsbench inspect FILE" renders the same way. --har FILE (any mode) also
writes the upgrades and data messages of every connection as a HAR 1.2
file that Chrome DevTools imports; "wsbench scenario from" turns any of
these files into a load-test scenario. Compressed messages
(permessage-deflate, with or without context takeover) are shown inflated.`

// wantColor reports whether output to a terminal (tty) gets colour: not
// when the NO_COLOR environment variable is set to anything but ""
// (https://no-color.org).
func wantColor(tty bool, getenv func(string) string) bool {
	return tty && getenv("NO_COLOR") == ""
}

func isWSURL(s string) bool { return strings.HasPrefix(s, "ws://") || strings.HasPrefix(s, "wss://") }

// renderOptions checks the rendering flags shared by every mode.
func (o *inspectOptions) renderOptions() (inspect.RenderOptions, error) {
	ro := inspect.RenderOptions{MaxPayload: o.MaxPayload, JSON: o.JSON, Color: o.Color && !o.JSON}
	if o.MaxPayload < 0 {
		return ro, usageError(fmt.Errorf("--max-payload %d: use 0 (all) or more", o.MaxPayload))
	}
	for _, s := range o.Conns {
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "c"), 10, 64)
		if err != nil || n == 0 {
			return ro, usageError(fmt.Errorf("--conn %q: use a connection number such as 1 or c1", s))
		}
		ro.Conns = append(ro.Conns, n)
	}
	for _, s := range o.Dirs {
		d, err := parseDir(s)
		if err != nil {
			return ro, usageError(err)
		}
		ro.Dirs = append(ro.Dirs, d)
	}
	for _, s := range o.Opcodes {
		op, err := parseOpcode(s)
		if err != nil {
			return ro, usageError(err)
		}
		ro.Opcodes = append(ro.Opcodes, op)
	}
	if o.Grep != "" {
		re, err := regexp.Compile(o.Grep)
		if err != nil {
			return ro, usageError(fmt.Errorf("--grep: %w", err))
		}
		ro.Grep = re
	}
	return ro, nil
}

func parseDir(s string) (trace.Dir, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "c2s", "c>s", "client", "out":
		return trace.ClientToServer, nil
	case "s2c", "s>c", "server", "in":
		return trace.ServerToClient, nil
	}
	return 0, fmt.Errorf("--dir %q: use c2s (client to server) or s2c (server to client)", s)
}

func parseOpcode(s string) (uint8, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "cont", "continuation":
		return inspect.OpContinuation, nil
	case "text":
		return inspect.OpText, nil
	case "binary":
		return inspect.OpBinary, nil
	case "close":
		return inspect.OpClose, nil
	case "ping":
		return inspect.OpPing, nil
	case "pong":
		return inspect.OpPong, nil
	}
	n, err := strconv.ParseUint(v, 0, 8)
	if err != nil || n > 0xf {
		return 0, fmt.Errorf("--opcode %q: use text, binary, cont, close, ping, pong or a number 0-15", s)
	}
	return uint8(n), nil
}
