package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"

	"github.com/wsbench/wsbench/report/promrw"
	"github.com/wsbench/wsbench/target"
)

const dashboardFile = "../examples/grafana/wsbench-dashboard.json"

var seriesName = regexp.MustCompile(`\bwsbench_[A-Za-z0-9_]+`)

// dashboardQuery is one PromQL expression of the dashboard and where it is.
type dashboardQuery struct{ where, expr string }

// dashboardQueries parses the dashboard and returns its panels' and
// variables' queries.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var qs []dashboardQuery
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			qs = append(qs, dashboardQuery{"panel " + p.Title, tg.Expr})
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			qs = append(qs, dashboardQuery{"variable " + v.Name, v.Definition})
		}
	}
	if len(qs) < 10 {
		t.Fatalf("%s: only %d queries", dashboardFile, len(qs))
	}
	return qs
}

// TestGrafanaDashboard checks that every series the dashboard queries is
// one that wsbench really emits: a short real run against a real reference
// server pushes to a receiver that decodes the remote-write requests, and
// the server's /metrics is read after it.
func TestGrafanaDashboard(t *testing.T) {
	qs := dashboardQueries(t)

	var mu sync.Mutex
	pushed := map[string]bool{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		series, err := promrw.DecodeWriteRequest(raw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, s := range series {
			for _, l := range s.Labels {
				if l.Name == "__name__" {
					pushed[l.Value] = true
				}
			}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	cfg := target.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	srv, err := target.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	// One run against the server, one against a closed port for the
	// series that only failures create (conn.failed.<kind>).
	for _, tgt := range []string{"ws://" + srv.Addr().String(), "ws://" + freeAddr(t)} {
		var stdout, stderr bytes.Buffer
		opts := &runOptions{
			File: "../examples/chat-room.yaml", Target: tgt,
			Duration: 2 * time.Second, VUs: 6, Format: "json", Quiet: true, LogLevel: "error",
			Interval: 500 * time.Millisecond, Stdout: &stdout, Stderr: &stderr,
			pushOptions: pushOptions{Push: []string{"prometheus-rw=" + recv.URL + "/api/v1/write"}},
		}
		err = runRun(context.Background(), opts)
		var ee *ExitError
		// The closed port's run is not carried out (exit 3); that is expected.
		if err != nil && !(errors.As(err, &ee) && (ee.Code == ExitThreshold || ee.Code == ExitFailure)) {
			t.Fatalf("run against %s: %v\nstderr:\n%s", tgt, err, stderr.String())
		}
	}
	served := map[string]bool{}
	for _, line := range strings.Split(srv.Metrics(), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok { // a family declared, maybe with no sample yet
			served[strings.Fields(rest)[0]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		served[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}

	used := map[string]bool{}
	for _, q := range qs {
		names := seriesName.FindAllString(q.expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: %q queries no wsbench series", q.where, q.expr)
		}
		for _, n := range names {
			used[n] = true
			if !pushed[n] && !served[n] {
				t.Errorf("%s: %s is neither pushed by `run --push` nor served on /metrics", q.where, n)
			}
		}
	}
	// The dashboard covers what the issue asks for, on both sides.
	for _, n := range []string{
		promrw.LatencySeconds, promrw.GaugeSeries("conns.open"), promrw.GaugeSeries("vus"), promrw.ErrorsTotal,
		"wsbench_run_msgs_sent_total", "wsbench_run_msgs_recv_total", "wsbench_run_delivery_lost_total",
		"wsbench_connections", "wsbench_messages_in_total", "wsbench_delivery_delay_seconds_bucket", "wsbench_drops_total",
	} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
	if t.Failed() {
		t.Logf("pushed: %v\nserved: %v", keys(pushed), keys(served))
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// dashboardExpr fills the dashboard's variables for a query against
// Prometheus' API.
func dashboardExpr(expr, runID string) string {
	return strings.NewReplacer(
		"$__rate_interval", "1m", "$run_id", runID, "$metric", ".*", "$quantile", ".*", "$server_job", ".*",
	).Replace(expr)
}

// TestPrometheusExampleConfig: the example prometheus.yml scrapes the
// address `wsbench serve` listens on by default, and promtool accepts it.
func TestPrometheusExampleConfig(t *testing.T) {
	const file = "../examples/grafana/prometheus.yml"
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if addr := target.DefaultConfig().Addr; !strings.Contains(string(raw), `targets: ["`+addr+`"]`) {
		t.Errorf("%s does not scrape wsbench serve's default address %s", file, addr)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skipf("promtool not found (Debian's prometheus package): %v", err)
	}
	if out, err := exec.Command(promtool, "check", "config", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", file, err, out)
	}
}
