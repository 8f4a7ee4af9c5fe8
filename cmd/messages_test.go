package cmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/inspect"
)

// execute runs a wsbench command line in-process and returns its error
// and output.
func execute(args ...string) (string, error) {
	root := NewRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// A missing or extra positional argument is a usage error that names it.
func TestArgumentMessages(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "run: missing the SCENARIO.yaml argument"},
		{[]string{"run", "a.yaml", "b.yaml"}, "run takes one SCENARIO.yaml argument, got 2: a.yaml b.yaml"},
		{[]string{"report"}, "report: missing the RESULTS.json argument"},
		{[]string{"inspect"}, "inspect: missing the TRACE, CAPTURE.pcap or ws:// URL argument"},
		{[]string{"inspect", "--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:1/", "extra"}, "inspect takes no arguments, got extra"},
		{[]string{"serve", "extra"}, "serve takes no arguments, got extra"},
	} {
		_, err := execute(tt.args...)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("wsbench %s: %v, want a usage error saying %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

// run --help names the value of --trace.
func TestTraceFlagValueName(t *testing.T) {
	out, err := execute("run", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "--trace FILE ") || strings.Contains(out, "--trace wsbench") {
		t.Errorf("run --help does not show --trace FILE:\n%s", out)
	}
}

// NO_COLOR (set to anything but "") turns colour off even on a terminal.
func TestWantColor(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "NO_COLOR" {
				return v
			}
			return ""
		}
	}
	for _, tt := range []struct {
		tty     bool
		noColor string
		want    bool
	}{
		{true, "", true},
		{true, "1", false},
		{true, "0", false},
		{false, "", false},
	} {
		if got := wantColor(tt.tty, env(tt.noColor)); got != tt.want {
			t.Errorf("wantColor(tty %v, NO_COLOR=%q) = %v, want %v", tt.tty, tt.noColor, got, tt.want)
		}
	}
}

// inspect http://… says to use ws://.
func TestInspectHTTPURL(t *testing.T) {
	for url, want := range map[string]string{
		"http://127.0.0.1:1/chat":  "use ws://127.0.0.1:1/chat",
		"https://example.com/chat": "use wss://example.com/chat",
	} {
		_, err := execute("inspect", url)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), want) {
			t.Errorf("inspect %s: %v, want a usage error saying %q", url, err, want)
		}
	}
}

// inspect ws:// against a plain web server says what it answered instead
// of 101, with the first bytes of the body, for HTTP/1.1 and HTTP/1.0.
func TestInspectNotWebSocket(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html><title>Welcome</title></html>")
	}))
	defer page.Close()
	old := rawHTTPServer(t, "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\nContent-Length: 12\r\n\r\nDirectory li")
	for _, url := range []string{"ws" + strings.TrimPrefix(page.URL, "http") + "/", "ws://" + old + "/"} {
		var out bytes.Buffer
		err := runInspect(context.Background(), &inspectOptions{
			File: url, MaxPayload: inspect.DefaultMaxPayload, CloseWait: time.Second,
			ConnectTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard,
		})
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitFailure || !strings.Contains(err.Error(), "answered 200 OK, not 101") {
			t.Errorf("inspect %s: %v, want exit %d and \"answered 200 OK, not 101\"", url, err, ExitFailure)
		}
		if !strings.Contains(err.Error(), `the body starts "<html><title>Welcome`) && !strings.Contains(err.Error(), `the body starts "Directory li"`) {
			t.Errorf("inspect %s: %v, want the first bytes of the body", url, err)
		}
		if !strings.Contains(out.String(), "-- "+url+" answered 200 OK, not 101") {
			t.Errorf("inspect %s: no note about the answer:\n%s", url, out.String())
		}
	}
}

// inspect ws:// against a server whose upgrade response never ends stops
// at the head limit: a bounded output and a specific error.
func TestInspectEndlessHead(t *testing.T) {
	addr := endlessHeadServer(t)
	var out bytes.Buffer
	err := runInspect(context.Background(), &inspectOptions{
		File: "ws://" + addr + "/", MaxPayload: inspect.DefaultMaxPayload, CloseWait: time.Second,
		ConnectTimeout: 5 * time.Second, HandshakeTimeout: 10 * time.Second,
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard,
	})
	if !errors.Is(err, inspect.ErrResponseHeadTooLarge) || !strings.Contains(err.Error(), "response head larger than 64 KiB") {
		t.Fatalf("inspect: %v, want the response head limit", err)
	}
	if out.Len() > 4*inspect.MaxResponseHead {
		t.Errorf("inspect wrote %d bytes for a capped head, want at most %d", out.Len(), 4*inspect.MaxResponseHead)
	}
}

// rawHTTPServer answers every request with resp and hangs up.
func rawHTTPServer(t *testing.T, resp string) string {
	return acceptLoop(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, resp)
	})
}

// endlessHeadServer answers with a 101 status line and header lines that
// never end.
func endlessHeadServer(t *testing.T) string {
	return acceptLoop(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"); err != nil {
			return
		}
		line := []byte("X-Filler: " + strings.Repeat("f", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
}

func acceptLoop(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// A --history-db that cannot be opened says "open" once, with the path.
func TestHistoryDBOpenMessage(t *testing.T) {
	path := t.TempDir() + "/missing-dir/h.db"
	_, err := execute("serve", "--addr", "127.0.0.1:0", "--history-db", path)
	if err == nil {
		t.Fatal("serve started with a --history-db in a missing directory")
	}
	if msg := err.Error(); !strings.Contains(msg, "--history-db: open "+path+": ") || strings.Count(msg, "open") != 1 {
		t.Errorf("serve: %q, want \"--history-db: open %s: …\" with one \"open\"", msg, path)
	}
}
