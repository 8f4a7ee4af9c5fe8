package cmd

import (
	"bytes"
	"context"
	"encoding/csv"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/wsbench/wsbench/report"
)

// startDelayedEcho starts a WebSocket echo server on 127.0.0.1 that holds
// every message for delay before echoing it, and returns its ws:// URL.
func startDelayedEcho(t *testing.T, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			msg, op, err := wsutil.ReadClientData(conn)
			if err != nil {
				return
			}
			time.Sleep(delay)
			if err := wsutil.WriteServerMessage(conn, op, msg); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String()
}

const compareScenario = `connect:
  path: /echo
duration: 2s
graceful_stop: 2s
thresholds:
  - rtt p99 < 10s
scenarios:
  echoers:
    vus: 5
    steps:
      - connect
      - repeat:
          duration: 2s
          every: 50ms
          steps:
            - send: {text: "vu={{vu}} seq={{seq}}"}
            - expect: {name: rtt, regex: "^vu={{vu}} seq=", timeout: 5s}
      - close
`

// runAgainst runs compareScenario against target, writing results (and the
// extra files of extra) into dir/name.json.
func runAgainst(t *testing.T, dir, name, target string, extra artifactOptions) string {
	t.Helper()
	file := filepath.Join(dir, "echo.yaml")
	if err := os.WriteFile(file, []byte(compareScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".json")
	var stdout, stderr bytes.Buffer
	err := runRun(context.Background(), &runOptions{File: file, Target: target, Out: out, Artifacts: extra,
		Format: "table", Quiet: true, LogLevel: "error", Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("run against %s: %v\n%s", target, err, stderr.String())
	}
	return out
}

// TestCompareSlowerServer: the same scenario against a server that holds
// each echo 40 ms is flagged as a regression (exit 4); the same results
// compared with themselves are not. The base run also writes --html and
// --series, whose numbers match its results file.
func TestCompareSlowerServer(t *testing.T) {
	dir := t.TempDir()
	htmlPath, seriesPath := filepath.Join(dir, "base.html"), filepath.Join(dir, "base.csv")
	base := runAgainst(t, dir, "base", startDelayedEcho(t, 0), artifactOptions{"html": htmlPath, "series": seriesPath})
	slow := runAgainst(t, dir, "slow", startDelayedEcho(t, 40*time.Millisecond), artifactOptions{})

	out, err := execRoot("report", "--compare", base, base, "--fail-on-regression", "10%")
	if err != nil || !strings.Contains(out, "no regression beyond 10.0%") {
		t.Errorf("identical inputs: err %v\n%s", err, out)
	}
	out, err = execRoot("report", "--compare", base, slow, "--fail-on-regression", "10%", "--html", filepath.Join(dir, "cmp.html"))
	if code(err) != ExitRegression {
		t.Fatalf("slower server: exit %d (%v); want %d\n%s", code(err), err, ExitRegression, out)
	}
	if !lineHasInOrder(out, "rtt", "p50", "REGRESSION") {
		t.Errorf("rtt p50 not flagged:\n%s", out)
	}
	if page, err := os.ReadFile(filepath.Join(dir, "cmp.html")); err != nil || !bytes.Contains(page, []byte("REGRESSION")) {
		t.Errorf("comparison page: %v", err)
	}
	// Without --fail-on-regression the regression is shown but the exit is 0.
	if out, err := execRoot("report", "--compare", base, slow); err != nil || !strings.Contains(out, "REGRESSION") {
		t.Errorf("--compare alone: err %v\n%s", err, out)
	}

	// The base run's extra files.
	res, err := readResults(base)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	rtt, _ := res.Latency("rtt")
	if !bytes.Contains(page, []byte(`<td data-stat="p99">`+report.FormatDuration(rtt.P99)+`</td>`)) || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("HTML report lacks rtt p99 %s or charts", report.FormatDuration(rtt.P99))
	}
	f, err := os.Open(seriesPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var samples int64
	for _, r := range recs[1:] {
		if r[2] == "rtt" {
			n, _ := strconv.ParseInt(r[5], 10, 64)
			samples += n
		}
	}
	if samples != rtt.Count || samples == 0 {
		t.Errorf("--series rtt rows hold %d samples; results %d", samples, rtt.Count)
	}
}

// lineHasInOrder reports whether one line of out holds every word, in order.
func lineHasInOrder(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, w := range words {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}

func TestCompareUsage(t *testing.T) {
	dir := t.TempDir()
	a := writeResults(t, dir, "a", 10, "")
	for _, args := range [][]string{
		{"report", "--compare", a},
		{"report", "--compare", a, a, a},
		{"report", "--compare", a, a, "--fail-on-regression", "lots"},
		{"report", "--compare", a, a, "--out", filepath.Join(dir, "x.json")},
		{"report", a, "--fail-on-regression", "10%"},
		{"report", a, "--series", filepath.Join(dir, "x.txt")},
		{"report", a, "--html", filepath.Join(dir, "no", "such", "x.html")},
	} {
		if _, err := execRoot(args...); code(err) != ExitUsage {
			t.Errorf("%v: exit %d (%v); want %d", args[1:], code(err), err, ExitUsage)
		}
	}
}
