package cmd

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/wsbench/wsbench/internal/trace"
)

// inspectOptions holds everything `wsbench inspect` needs; flags only fill
// it in.
type inspectOptions struct {
	File       string
	MaxPayload int
	Conns      []string
	Dirs       []string
	Opcodes    []string
	Grep       string
	JSON       bool

	Stdout io.Writer
	Color  bool // stdout is a terminal
}

func newInspectCmd() *cobra.Command {
	opts := &inspectOptions{}
	c := &cobra.Command{
		Use:   "inspect TRACE",
		Short: "Show the frames of a trace recorded with `wsbench run --trace`, header fields decoded and violations flagged",
		Long: `Inspect renders a trace file written by "wsbench run --trace FILE": the HTTP
upgrade of each traced connection as text, then per frame a summary line
(time, connection, direction, stream offset, FIN, RSV, opcode, mask and key,
length and its form, message and fragment number), hex + ASCII dumps of the
header, the payload as on the wire and unmasked, what the frame means (text,
close code and reason, ping payload…) and the RFC 6455 rules it breaks.

A truncated or corrupt trace is shown up to the damage, followed by the byte
offset and what was expected there (exit status 3).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.Stdout = c.OutOrStdout()
			if f, ok := opts.Stdout.(*os.File); ok {
				opts.Color = isatty.IsTerminal(f.Fd())
			}
			return runInspect(opts)
		},
	}
	f := c.Flags()
	f.IntVar(&opts.MaxPayload, "max-payload", trace.DefaultMaxPayload, "payload bytes shown per frame; 0 shows all")
	f.StringSliceVar(&opts.Conns, "conn", nil, "only these connections (1 or c1; repeat or comma-separate)")
	f.StringSliceVar(&opts.Dirs, "dir", nil, "only this direction: c2s (client to server) or s2c")
	f.StringSliceVar(&opts.Opcodes, "opcode", nil, "only these opcodes: text, binary, cont, close, ping, pong or a number (0x9)")
	f.StringVar(&opts.Grep, "grep", "", "only frames whose unmasked payload matches this regular expression")
	f.BoolVar(&opts.JSON, "json", false, "JSON Lines, one object per record, instead of text")
	return c
}

func runInspect(o *inspectOptions) error {
	ro := trace.RenderOptions{MaxPayload: o.MaxPayload, JSON: o.JSON, Color: o.Color && !o.JSON}
	if o.MaxPayload < 0 {
		return usageError(fmt.Errorf("--max-payload %d: use 0 (all) or more", o.MaxPayload))
	}
	if strings.HasPrefix(o.File, "ws://") || strings.HasPrefix(o.File, "wss://") {
		return usageError(fmt.Errorf("inspect %s: live connections are not supported yet; give a trace file from `wsbench run --trace`", o.File))
	}
	for _, s := range o.Conns {
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "c"), 10, 64)
		if err != nil || n == 0 {
			return usageError(fmt.Errorf("--conn %q: use a connection number such as 1 or c1", s))
		}
		ro.Conns = append(ro.Conns, n)
	}
	for _, s := range o.Dirs {
		d, err := parseDir(s)
		if err != nil {
			return usageError(err)
		}
		ro.Dirs = append(ro.Dirs, d)
	}
	for _, s := range o.Opcodes {
		op, err := parseOpcode(s)
		if err != nil {
			return usageError(err)
		}
		ro.Opcodes = append(ro.Opcodes, op)
	}
	if o.Grep != "" {
		re, err := regexp.Compile(o.Grep)
		if err != nil {
			return usageError(fmt.Errorf("--grep: %w", err))
		}
		ro.Grep = re
	}
	f, err := os.Open(o.File)
	if err != nil {
		return usageError(fmt.Errorf("inspect: %w", err))
	}
	defer f.Close()
	if _, err := trace.Render(o.Stdout, f, ro); err != nil {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect %s: %w", o.File, err)}
	}
	return nil
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
		return trace.OpContinuation, nil
	case "text":
		return trace.OpText, nil
	case "binary":
		return trace.OpBinary, nil
	case "close":
		return trace.OpClose, nil
	case "ping":
		return trace.OpPing, nil
	case "pong":
		return trace.OpPong, nil
	}
	n, err := strconv.ParseUint(v, 0, 8)
	if err != nil || n > 0xf {
		return 0, fmt.Errorf("--opcode %q: use text, binary, cont, close, ping, pong or a number 0-15", s)
	}
	return uint8(n), nil
}
