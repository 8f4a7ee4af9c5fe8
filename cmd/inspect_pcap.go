package cmd

// inspect_pcap.go is `wsbench inspect capture.pcap`: a tcpdump capture
// (pcap or pcapng, told apart from a trace file by its magic number) goes
// through inspect.RenderCapture, which reassembles the TCP connections and
// renders the WebSocket ones.

import (
	"bufio"
	"fmt"
	"io"

	"github.com/wsbench/wsbench/internal/inspect"
)

// sniffCapture reports whether the file read by br starts like a pcap or
// pcapng capture, without consuming it.
func sniffCapture(br *bufio.Reader) bool {
	b, _ := br.Peek(4)
	return inspect.IsCapture(b)
}

// runInspectCapture renders the WebSocket connections of a capture. Exit
// status 3 when the file is malformed (after rendering what precedes the
// damage) or holds no WebSocket connection.
func runInspectCapture(o *inspectOptions, r io.Reader, ro inspect.RenderOptions) error {
	if _, err := inspect.RenderCapture(o.Stdout, r, ro); err != nil {
		// inspect.ErrNoWebSocket included: asked for WebSocket frames, the
		// capture has none.
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("inspect %s: %w", o.File, err)}
	}
	return nil
}
