package cmd

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/wsbench/wsbench/report"
)

// failScenario writes a two-VU scenario that connects, holds the
// connection briefly and closes, against target, with a short dial backoff.
func failScenario(t *testing.T, target, backoff string) string {
	t.Helper()
	y := fmt.Sprintf(`target: %s
connect:
  backoff: %s
duration: 1s
graceful_stop: 1s
scenarios:
  s:
    vus: 2
    steps:
      - connect
      - think: 5ms
      - close
`, target, backoff)
	path := filepath.Join(t.TempDir(), "fail.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readResultsFile(t *testing.T, path string) *report.Results {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A run against a port nobody listens on is a failed run (exit 3), with
// the reason, its count and an example in the summary and the results,
// and its VUs back off instead of dialing in a tight loop.
func TestRunAllRefused(t *testing.T) {
	file := failScenario(t, "ws://127.0.0.1:1", "{initial: 100ms, max: 100ms}")
	out := filepath.Join(t.TempDir(), "r.json")
	stdout, err := execRoot("run", file, "--quiet", "--out", out)
	if code(err) != ExitFailure || !strings.Contains(err.Error(), "no connection succeeded") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("exit %d, err %v\n%s", code(err), err, stdout)
	}
	for _, want := range []string{"NOT CARRIED OUT", "Connection failures", "refused", "connection refused"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	res := readResultsFile(t, out)
	refused := res.Counters["conn.failed.refused"]
	if refused == 0 || res.Counters["conn.opened"] != 0 {
		t.Fatalf("counters %v", res.Counters)
	}
	// Waits are uniform in [0, 100ms): about 20 dials per VU-second, where
	// dialing without a pause makes thousands.
	if refused > 200 {
		t.Errorf("%d refused dials from 2 VUs in 1s: no backoff", refused)
	}
	if ex := res.Examples["conn.failed.refused"]; !strings.Contains(ex, "127.0.0.1:1") || !strings.Contains(ex, "refused") {
		t.Errorf("example %q", ex)
	}
	// The verdict travels with the results: report gives the same one.
	if _, err := execRoot("report", out); code(err) != ExitFailure {
		t.Errorf("report of a failed run: exit %d (%v)", code(err), err)
	}
}

// An upgrade answered with 403 counts as http_status, and the example
// carries the start of the body, which says why.
func TestRunHTTPStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "token expired for user 17", http.StatusForbidden)
	}))
	defer srv.Close()
	file := failScenario(t, "ws"+strings.TrimPrefix(srv.URL, "http"), "{initial: 50ms, max: 200ms}")
	out := filepath.Join(t.TempDir(), "r.json")
	stdout, err := execRoot("run", file, "--quiet", "--out", out)
	if code(err) != ExitFailure {
		t.Fatalf("exit %d, err %v\n%s", code(err), err, stdout)
	}
	res := readResultsFile(t, out)
	if res.Counters["conn.failed.http_status"] == 0 || res.Counters["conn.failed.handshake"] != 0 {
		t.Fatalf("counters %v", res.Counters)
	}
	ex := res.Examples["conn.failed.http_status"]
	if !strings.Contains(ex, "HTTP 403") || !strings.Contains(ex, "token expired for user 17") || strings.ContainsAny(ex, "\r\n") {
		t.Errorf("example %q", ex)
	}
	if !strings.Contains(stdout, "token expired for user 17") {
		t.Errorf("summary lacks the body:\n%s", stdout)
	}
}

// mixedServer upgrades one request in every n and refuses the others.
func mixedServer(t *testing.T, n int64) string {
	var seq atomic.Int64
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seq.Add(1)%n != 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(op, p)
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// Most attempts failing fails the run even though some connections opened.
func TestRunMostFailed(t *testing.T) {
	file := failScenario(t, mixedServer(t, 3), "{initial: 10ms, max: 20ms}")
	out := filepath.Join(t.TempDir(), "r.json")
	stdout, err := execRoot("run", file, "--quiet", "--out", out)
	res := readResultsFile(t, out)
	opened, failed := res.Counters["conn.opened"], res.CounterPrefix("conn.failed.")
	if opened == 0 || failed <= opened {
		t.Fatalf("opened %d, failed %d: the server should refuse 2 of 3", opened, failed)
	}
	if code(err) != ExitFailure || !strings.Contains(err.Error(), fmt.Sprintf("%d of %d connection attempts failed", failed, opened+failed)) {
		t.Fatalf("exit %d, err %v\n%s", code(err), err, stdout)
	}
}

// Source addresses this machine does not have mean the target is never
// reached: addr_unavailable, exit 3.
func TestRunSourceUnavailable(t *testing.T) {
	stdout, err := execRoot("run", "../examples/echo.yaml", "--quiet", "--duration", "1s", "--vus", "2", "--source", "192.0.2.1-192.0.2.4")
	if code(err) != ExitFailure || !strings.Contains(err.Error(), "addr_unavailable") {
		t.Fatalf("exit %d, err %v\n%s", code(err), err, stdout)
	}
	if !strings.Contains(stdout, "addr_unavailable") || !strings.Contains(stdout, "192.0.2.") {
		t.Errorf("summary does not say why:\n%s", stdout)
	}
}
