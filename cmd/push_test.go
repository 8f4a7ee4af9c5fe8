package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsbench/wsbench/report"
	"github.com/wsbench/wsbench/report/promrw"
)

const prometheusBin = "/usr/bin/prometheus"

// startPrometheus starts a real Prometheus with the remote-write receiver
// on a free loopback port and returns its base URL.
func startPrometheus(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Skipf("%s not found (install Debian's prometheus package: apt-get install prometheus): %v", prometheusBin, err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(prometheusBin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-remote-write-receiver",
		"--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if i == 600 {
			t.Fatalf("prometheus not ready on %s after 60s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// promQuery runs an instant query and returns each result's labels and value.
func promQuery(t *testing.T, base, q string) map[string]float64 {
	t.Helper()
	return promQueryAt(t, base, q, time.Time{})
}

// promQueryAt runs an instant query at time at (zero: now).
func promQueryAt(t *testing.T, base, q string, at time.Time) map[string]float64 {
	t.Helper()
	u := base + "/api/v1/query?query=" + url.QueryEscape(q)
	if !at.IsZero() {
		u += "&time=" + strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body.Error)
	}
	out := map[string]float64{}
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", q, r.Value[1], err)
		}
		out[fmt.Sprint(r.Metric)] = v
	}
	return out
}

func pushRunOpts(t *testing.T, push string) (*runOptions, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return &runOptions{
		File: "../examples/echo.yaml", Duration: 3 * time.Second, VUs: 4,
		Format: "json", Quiet: true, LogLevel: "error",
		Interval: 500 * time.Millisecond,
		Stdout:   &stdout, Stderr: &stderr,
		pushOptions: pushOptions{Push: []string{push}, PushRunID: "e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36)},
	}, &stdout, &stderr
}

func runPushed(t *testing.T, opts *runOptions, stdout, stderr *bytes.Buffer) *report.Results {
	t.Helper()
	err := runRun(context.Background(), opts)
	var ee *ExitError
	if err != nil && !(errors.As(err, &ee) && ee.Code == ExitThreshold) {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	res, err := report.ReadJSON(bytes.NewReader(stdout.Bytes()))
	if err != nil {
		t.Fatalf("results: %v", err)
	}
	return res
}

// TestPushPrometheus runs a short real load against the builtin server,
// pushing to a real Prometheus, and reads the series back through its
// query API: the last values are the run's counters and sample counts.
func TestPushPrometheus(t *testing.T) {
	base := startPrometheus(t)
	opts, stdout, stderr := pushRunOpts(t, "prometheus-rw="+base+"/api/v1/write")
	res := runPushed(t, opts, stdout, stderr)
	if !strings.Contains(stderr.String(), " 0 dropped") {
		t.Errorf("push account missing or with drops:\n%s", stderr.String())
	}

	sel := fmt.Sprintf(`{run_id=%q, file="echo", scenario="", segment="0:1"}`, opts.PushRunID)
	for _, name := range []string{"msgs.sent", "msgs.recv", "bytes.sent", "bytes.recv", "conn.opened", "iterations"} {
		want := res.Counters[name]
		if name != "iterations" && want == 0 {
			t.Fatalf("the run counted no %s: %v", name, res.Counters)
		}
		family, _ := promrw.CounterSeries(name)
		got := promQuery(t, base, family+sel)
		if len(got) != 1 {
			t.Errorf("%s%s: %d series, want 1: %v", family, sel, len(got), got)
			continue
		}
		for _, v := range got {
			if int64(v) != want {
				t.Errorf("%s = %v in Prometheus, %d in the results", family, v, want)
			}
		}
	}
	// errors.<reason> become one family with a reason label.
	errs := promQuery(t, base, fmt.Sprintf(`%s{run_id=%q, scenario=""}`, promrw.ErrorsTotal, opts.PushRunID))
	var reasons int
	for name, want := range res.Counters {
		reason, ok := strings.CutPrefix(name, "errors.")
		if !ok || report.IsSeries(name) {
			continue
		}
		reasons++
		key := fmt.Sprint(map[string]string{"__name__": promrw.ErrorsTotal, "reason": reason, "run_id": opts.PushRunID, "file": "echo", "segment": "0:1"})
		if v, ok := errs[key]; !ok || int64(v) != want {
			t.Errorf("%s: %v (present %v) in Prometheus, %d in the results", name, v, ok, want)
		}
	}
	if reasons == 0 || len(errs) != reasons {
		t.Errorf("%d error series in Prometheus, %d errors.* counters in the results: %v", len(errs), reasons, errs)
	}

	rtt, _ := res.Latency("rtt")
	// The scenario's own series carries its name as the label scenario.
	perScenario := promQuery(t, base, fmt.Sprintf(`%s{run_id=%q, scenario="echoers"}`, promrw.LatencySamples, opts.PushRunID))
	if want := res.Counters["msgs.sent{scenario=echoers}"]; want == 0 || len(perScenario) == 0 {
		t.Errorf("no per-scenario series pushed (results: msgs.sent{scenario=echoers} = %d): %v", want, perScenario)
	}
	sent := promQuery(t, base, fmt.Sprintf(`wsbench_run_msgs_sent_total{run_id=%q, scenario="echoers"}`, opts.PushRunID))
	for _, v := range sent {
		if int64(v) != res.Counters["msgs.sent{scenario=echoers}"] {
			t.Errorf("msgs.sent of scenario default = %v in Prometheus, %d in the results", v, res.Counters["msgs.sent{scenario=echoers}"])
		}
	}
	got := promQuery(t, base, fmt.Sprintf(`%s{run_id=%q, metric="rtt", scenario=""}`, promrw.LatencySamples, opts.PushRunID))
	if len(got) != 1 || rtt.Count == 0 {
		t.Fatalf("rtt samples: %v (results count %d)", got, rtt.Count)
	}
	for _, v := range got {
		if int64(v) != rtt.Count {
			t.Errorf("rtt samples = %v in Prometheus, %d in the results", v, rtt.Count)
		}
	}
	// Interval maxima over the run: their max is the run's max.
	maxes := promQuery(t, base, fmt.Sprintf(`max_over_time(%s{run_id=%q, metric="rtt", quantile="1", scenario=""}[10m])`, promrw.LatencySeconds, opts.PushRunID))
	for _, v := range maxes {
		if want := rtt.Max.Seconds(); v != want {
			t.Errorf("rtt max over the pushed intervals = %vs, the run's max %vs", v, want)
		}
	}
	if len(maxes) != 1 {
		t.Errorf("rtt max: %v", maxes)
	}
	p99 := promQuery(t, base, fmt.Sprintf(`count_over_time(%s{run_id=%q, metric="rtt", quantile="0.99"}[10m])`, promrw.LatencySeconds, opts.PushRunID))
	for _, n := range p99 {
		if n < 4 {
			t.Errorf("only %v rtt p99 samples for a 3s run pushed every 500ms", n)
		}
	}
	vus := promQuery(t, base, fmt.Sprintf(`max_over_time(%s{run_id=%q, scenario=""}[10m])`, promrw.GaugeSeries("vus")+promrw.PeakSuffix, opts.PushRunID))
	for _, v := range vus {
		if v != 4 {
			t.Errorf("vus peak = %v, want 4", v)
		}
	}
	if len(vus) != 1 {
		t.Errorf("vus peak: %v", vus)
	}

	// Every query of the Grafana dashboard is valid PromQL, and the
	// load-generator panels show this run.
	for _, q := range dashboardQueries(t) {
		if strings.HasPrefix(q.where, "variable") {
			continue // label_values() is Grafana's, not PromQL
		}
		expr := dashboardExpr(q.expr, opts.PushRunID)
		got := promQueryAt(t, base, expr, res.Meta.End)
		if strings.Contains(q.expr, "wsbench_run_latency_seconds") || strings.Contains(q.expr, "msgs_sent_total") {
			if len(got) == 0 {
				t.Errorf("%s: %s returns nothing for the run", q.where, expr)
			}
		}
	}
}

// TestPushDeadEndpoint: a refused connection or an endpoint that never
// answers does not hold the run up; the run reports its full results and
// the account of the pushes says every batch was dropped and why.
func TestPushDeadEndpoint(t *testing.T) {
	blackhole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blackhole.Close()
	go func() {
		var held []net.Conn // accepted, never read or answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := blackhole.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, tc := range []struct{ name, addr, why string }{
		{"refused", freeAddr(t), "connection refused"},
		{"never answers", blackhole.Addr().String(), "unsent at exit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, stdout, stderr := pushRunOpts(t, "prometheus-rw=http://"+tc.addr+"/api/v1/write")
			res := runPushed(t, opts, stdout, stderr)
			if res.Counters["msgs.sent"] == 0 || res.Duration() < opts.Duration {
				t.Errorf("the run did not go its full length: %v, %v", res.Duration(), res.Counters)
			}
			line := ""
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(l, "push:") {
					line = l
				}
			}
			var sent, batches, dropped int
			if _, err := fmt.Sscanf(line[strings.LastIndex(line, "run_id=")+len("run_id="):], "%s %d of %d batch(es) sent, %d dropped", new(string), &sent, &batches, &dropped); err != nil {
				t.Fatalf("push account %q: %v\nstderr:\n%s", line, err, stderr.String())
			}
			if sent != 0 || batches < 4 || dropped != batches || !strings.Contains(line, tc.why) {
				t.Errorf("push account %q: want every batch (≥ 4) dropped, with %q", line, tc.why)
			}
		})
	}
}

func TestPushUsage(t *testing.T) {
	for _, c := range []struct {
		push []string
		want string
	}{
		{[]string{"foo=http://x/"}, `--push "foo=http://x/": want prometheus-rw=URL`},
		{[]string{"http://127.0.0.1:9090/api/v1/write"}, "want prometheus-rw=URL"},
		{[]string{"prometheus-rw=127.0.0.1:9090"}, "want http:// or https://"},
		{[]string{"prometheus-rw=http://a/", "prometheus-rw=http://b/"}, "one output per run (got 2)"},
	} {
		opts, _, _ := pushRunOpts(t, "")
		opts.Push = c.push
		err := runRun(context.Background(), opts)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--push %q: err = %v, want usage error containing %q", c.push, err, c.want)
		}
	}
}
