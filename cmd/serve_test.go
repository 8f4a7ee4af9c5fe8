package cmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/target"
	"github.com/wsbench/wsbench/target/history"
)

func TestServeRejectsBadLimits(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--max-chat-message", "0"}, "--max-chat-message must be positive"},
		{[]string{"--max-chat-message", "2000000"}, "must not exceed --max-message"},
		{[]string{"--history-room-bytes", "0"}, "--history-room-bytes must be positive"},
		{[]string{"--history-room-bytes", "4096", "--history-total-bytes", "1024"}, "--history-total-bytes (1024) must be at least --history-room-bytes (4096)"},
		{[]string{"--room-creates", "0"}, "--room-creates 0: want 1..65535"},
		{[]string{"--flush-timeout", "0s"}, "--flush-timeout must be positive"},
		{[]string{"--max-message", "0"}, "--max-message must be positive"},
		{[]string{"--max-conns", "0"}, "--max-conns must be positive"},
		{[]string{"--max-handshakes-per-ip", "-1"}, "--max-handshakes-per-ip must not be negative"},
		{[]string{"--handshake-timeout", "0s"}, "--handshake-timeout must be positive"},
		{[]string{"--outbound-limit", "0"}, "--outbound-limit must be positive"},
		{[]string{"--compression-min-size", "-1"}, "--compression-min-size must not be negative"},
		{[]string{"--compression-takeover", "-1"}, "--compression-takeover must not be negative"},
		{[]string{"--presence-limit", "-1"}, "--presence-limit must not be negative"},
		{[]string{"--send-buffer", "-1"}, "--send-buffer must not be negative"},
		{[]string{"--slow-timeout", "0s"}, "--slow-timeout must be positive"},
		{[]string{"--history", "-1"}, "--history must not be negative"},
		{[]string{"--room-creates", "65536"}, "--room-creates 65536: want 1..65535"},
		{[]string{"--rate-limit", "-1"}, "--rate-limit must not be negative"},
		{[]string{"--loops", "0"}, "--loops must be positive"},
		{[]string{"--tls-cert", "x.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--log-level", "loud"}, `--log-level "loud": want debug, info, warn or error`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newServeCmd()
			cmd.SetArgs(append([]string{"--addr", "127.0.0.1:0"}, tc.args...))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.ExecuteContext(context.Background())
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want exit %d with %q", err, ExitUsage, tc.want)
			}
		})
	}
}

// TestServeSIGTERMAcksEverythingStored runs `wsbench serve --history-db` as
// a process, keeps persisted says in flight, sends SIGTERM and checks the
// exit status (0), that every stored say was acked before the 1001 close
// frame and that the close frame was the last thing on the wire.
func TestServeSIGTERMAcksEverythingStored(t *testing.T) {
	t.Setenv(envAsMain, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "history.db")
	proc := exec.Command(exe, "serve", "--addr", "127.0.0.1:0", "--history-db", db, "--history", "20000", "--history-room-bytes", "16777216", "--history-total-bytes", "16777216", "--loops", "2")
	stderr, err := proc.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	defer proc.Process.Kill() //nolint:errcheck
	ready := regexp.MustCompile(`url=(ws://\S+)`)
	sc := bufio.NewScanner(stderr)
	var url string
	for url == "" && sc.Scan() {
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatal("serve never said it was ready")
	}
	go func() {
		for sc.Scan() { // keep the pipe drained
		}
	}()

	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteJSON(map[string]any{"op": "nick", "name": "alice"})
	_ = c.WriteJSON(map[string]any{"op": "join", "room": "r", "id": -1})
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m struct {
			Op string
			ID int
		}
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Op == "ack" && m.ID == -1 {
			break
		}
	}
	const says = 10000
	go func() {
		for i := 0; i < says; i++ {
			if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"op":"say","room":"r","text":"m","seq":%d,"id":%d}`, i, i)) != nil {
				return
			}
		}
	}()
	acked := map[int]bool{}
	for {
		var m struct {
			Op string
			ID *int
		}
		err := c.ReadJSON(&m)
		if err != nil {
			if !websocket.IsCloseError(err, 1001) {
				t.Fatalf("want close 1001 after the acks, got %v", err)
			}
			break
		}
		if m.Op == "ack" && m.ID != nil {
			if len(acked) == 0 {
				// The first say is stored: the rest are in flight.
				if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			acked[*m.ID] = true
		}
	}
	if err := proc.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v, want exit status 0", err)
	}
	st, err := history.OpenBolt(db, history.BoltOptions{Retain: 20000})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.Load("r", 20000)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 {
		t.Fatal("nothing stored: the says were not in flight")
	}
	missing := 0
	for _, m := range stored {
		var seq int
		if _, err := fmt.Sscanf(string(m[bytes.Index(m, []byte(`"seq":`))+6:]), "%d", &seq); err != nil {
			t.Fatalf("stored %q: %v", m, err)
		}
		if !acked[seq] {
			missing++
		}
	}
	if missing > 0 || len(acked) != len(stored) {
		t.Fatalf("%d stored, %d acked, %d stored but never acked before the 1001", len(stored), len(acked), missing)
	}
	t.Logf("%d of %d says stored, all acked before 1001", len(stored), says)
}

func TestServeRejectsBadBounds(t *testing.T) {
	for _, tc := range []struct {
		flag string
		mod  func(*target.Config)
	}{
		{"--handshake-timeout", func(c *target.Config) { c.HandshakeTimeout = 0 }},
		{"--handshake-timeout", func(c *target.Config) { c.HandshakeTimeout = -time.Second }},
		{"--max-handshakes-per-ip", func(c *target.Config) { c.HandshakesPerIP = -1 }},
	} {
		o := &serveOptions{cfg: target.DefaultConfig(), logLevel: "info"}
		o.cfg.Addr = "127.0.0.1:0"
		tc.mod(&o.cfg)
		err := runServe(context.Background(), o)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: got %v, want a usage error naming the flag", tc.flag, err)
		}
	}
}

func TestServeBoundFlags(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--handshake-timeout", "750ms", "--max-handshakes-per-ip", "9"}); err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags()
	if v, _ := f.GetDuration("handshake-timeout"); v != 750*time.Millisecond {
		t.Errorf("--handshake-timeout = %v", v)
	}
	if v, _ := f.GetInt("max-handshakes-per-ip"); v != 9 {
		t.Errorf("--max-handshakes-per-ip = %v", v)
	}
	def := target.DefaultConfig()
	if def.HandshakeTimeout != 5*time.Second || def.HandshakesPerIP != 0 {
		t.Errorf("defaults: handshake timeout %v, per IP %d", def.HandshakeTimeout, def.HandshakesPerIP)
	}
}
