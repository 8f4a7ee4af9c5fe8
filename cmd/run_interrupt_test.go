package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// goAwayServer reads each connection until it ends, announcing each
// connection's first message on opened and its close code (1006: none) on
// codes.
func goAwayServer(t *testing.T, opened chan<- struct{}, codes chan<- int) string {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for n := 0; ; n++ {
			if _, _, err := c.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					codes <- ce.Code
				} else {
					codes <- websocket.CloseAbnormalClosure
				}
				return
			}
			if n == 0 {
				opened <- struct{}{}
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// SIGINT to a real wsbench process: it stops, closes its connections with
// 1001, prints a summary that says so, writes meta.interrupted and exits
// 105 although its only threshold passes.
func TestRunInterruptedBySignal(t *testing.T) {
	const vus = 3
	opened, codes := make(chan struct{}, vus), make(chan int, vus)
	target := goAwayServer(t, opened, codes)
	file := filepath.Join(t.TempDir(), "hold.yaml")
	y := fmt.Sprintf(`target: %s
duration: 1h
thresholds:
  - errors count == 0
scenarios:
  hold:
    vus: %d
    steps:
      - connect
      - send: {text: hello}
      - think: 1h
`, target, vus)
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "r.json")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", file, "--quiet", "--out", out)
	cmd.Env = append(os.Environ(), envAsMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < vus; i++ {
		select {
		case <-opened:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("only %d of %d VUs connected\nstderr:\n%s", i, vus, stderr.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != ExitInterrupted {
		t.Fatalf("exit: %v, want status %d\nstdout:\n%s\nstderr:\n%s", err, ExitInterrupted, stdout.String(), stderr.String())
	}
	for i := 0; i < vus; i++ {
		if code := <-codes; code != websocket.CloseGoingAway {
			t.Errorf("server got close code %d, want 1001", code)
		}
	}
	if !strings.Contains(stdout.String(), "INTERRUPTED") || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("output does not say interrupted\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	res := readResultsFile(t, out)
	if !res.Meta.Interrupted {
		t.Error("results meta.interrupted is false")
	}
	if res.Counters["conn.interrupted"] != vus || res.Counters["iterations.interrupted"] != vus || res.Counters["conn.opened"] != vus {
		t.Errorf("counters %v", res.Counters)
	}
	if len(res.Thresholds) != 1 || !res.Thresholds[0].Pass {
		t.Errorf("thresholds %+v: want the one passing", res.Thresholds)
	}
	// Re-rendered, the file gives the same verdict.
	if _, err := execRoot("report", out); code(err) != ExitInterrupted {
		t.Errorf("report of an interrupted run: exit %d (%v)", code(err), err)
	}
}
