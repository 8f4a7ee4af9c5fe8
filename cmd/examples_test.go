package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/internal/socketio/socketiotest"
	"github.com/wsbench/wsbench/report"
)

// exampleChecks says, per example, how to shrink it for a test and which
// latency metrics must have samples afterwards.
var exampleChecks = map[string]struct {
	vus       int
	rate      float64
	latencies []string
	counters  []string // must be above zero
	stderr    string   // must appear on stderr (the scaling line, …)
	socketio  bool     // runs a second time against examples/socketio-server (Node), started for the test
}{
	"echo.yaml":             {vus: 10, latencies: []string{"connect", "handshake", "rtt", "rtt.raw"}},
	"chat-room.yaml":        {vus: 40, latencies: []string{"nick", "join", "ack", "delivery"}, counters: []string{"listener.delivery"}, stderr: "talkers 8, lurkers 32 VUs (file: 40, 160)"},
	"broadcast-fanout.yaml": {vus: 60, latencies: []string{"nick", "join", "delivery"}, counters: []string{"listener.delivery"}, stderr: "speakers 1, audience 59 VUs"},
	"dm.yaml":               {vus: 10, latencies: []string{"nick", "dm_ack", "dm_delivery"}},
	"ramp.yaml":             {vus: 20, latencies: []string{"handshake", "rtt"}},
	"arrival-rate.yaml":     {rate: 20, latencies: []string{"nick", "echo"}},
	"reconnect-storm.yaml":  {vus: 20, latencies: []string{"rejoin", "nick", "join"}, counters: []string{"reconnects", "conn.closed.1003"}},
	"recorded-chat.yaml":    {vus: 20, latencies: []string{"nick", "join", "say", "echo", "dm", "leave"}},
	"socketio-chat.yaml":    {vus: 20, socketio: true, latencies: []string{"join", "say", "delivery", "socketio.connect"}, counters: []string{"listener.delivery"}},
}

// TestExamples runs every example briefly against the embedded server and
// checks that it measured what its comment says it measures.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		check, ok := exampleChecks[name]
		if !ok {
			t.Errorf("%s has no entry in exampleChecks: add one", name)
			continue
		}
		targets := []string{"builtin"}
		if check.socketio {
			targets = append(targets, "node")
		}
		for _, tgt := range targets {
			sub := strings.TrimSuffix(name, ".yaml")
			if tgt != "builtin" {
				sub += "@" + tgt
			}
			t.Run(sub, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "results.json")
				var stdout, stderr bytes.Buffer
				opts := &runOptions{
					File:     file,
					Duration: 4 * time.Second,
					VUs:      check.vus,
					Rate:     check.rate,
					Out:      out,
					Format:   "table",
					Quiet:    true,
					LogLevel: "error",
					Stdout:   &stdout,
					Stderr:   &stderr,
				}
				if tgt == "node" {
					opts.Target = socketiotest.Start(t, socketiotest.Options{})
				}
				err := runRun(context.Background(), opts)
				var ee *ExitError
				if err != nil && !(errors.As(err, &ee) && ee.Code == ExitThreshold) {
					t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
				}
				f, ferr := os.Open(out)
				if ferr != nil {
					t.Fatal(ferr)
				}
				defer f.Close()
				res, rerr := report.ReadJSON(f)
				if rerr != nil {
					t.Fatal(rerr)
				}
				if res.Counters["conn.opened"] == 0 || res.Counters["msgs.sent"] == 0 || res.Counters["msgs.recv"] == 0 {
					t.Errorf("nothing happened: counters %v", res.Counters)
				}
				for _, m := range check.latencies {
					if st, ok := res.Latency(m); !ok || st.Count == 0 {
						t.Errorf("latency %q has no samples", m)
					}
				}
				for _, c := range check.counters {
					if res.Counters[c] == 0 {
						t.Errorf("counter %q is zero", c)
					}
				}
				if check.stderr != "" && !strings.Contains(stderr.String(), check.stderr) {
					t.Errorf("stderr lacks %q:\n%s", check.stderr, stderr.String())
				}
				if n := res.CounterPrefix("conn.failed."); n != 0 {
					t.Errorf("%d failed connections: %v", n, res.Counters)
				}
				if len(res.Thresholds) == 0 {
					t.Errorf("no threshold verdicts")
				}
				if !strings.Contains(stdout.String(), "p99") {
					t.Errorf("summary lacks a latency table:\n%s", stdout.String())
				}
			})
		}
	}
}
