package cmd

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/target"
)

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
		err := runServe(context.Background(), o, io.Discard)
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
