package k8s_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	corev1 "k8s.io/api/core/v1"

	"github.com/wsbench/wsbench/report"
)

// simScenario is a small fan-out room: 12 VUs (2 speakers, 10 listeners)
// spread over the runners, so deliveries cross processes. Its threshold
// holds for the whole load only: each runner's third of it fails it, which
// --defer-thresholds must not turn into a failed pod.
const simScenario = `connect:
  path: /chat
duration: 3s
graceful_stop: 2s
thresholds:
  - nick count == 12
scenarios:
  speakers:
    vus: 2
    iterations: 1
    listeners:
      - name: delivery
        match: {json: {op: said, history: null}}
        latency_from: ts
    steps:
      - connect
      - send: {json: {op: nick, name: "speaker-{{vu}}"}}
      - expect: {name: nick, json: {op: welcome}, timeout: 5s}
      - send: {json: {op: join, room: sim}}
      - expect: {name: join, json: {op: joined}, timeout: 5s}
      - think: 500ms
      - repeat:
          duration: 1500ms
          every: 100ms
          steps:
            - send: {json: {op: say, room: sim, text: "hi", ts: "{{now_ns}}"}}
      - close
  audience:
    vus: 10
    iterations: 1
    listeners:
      - name: delivery
        match: {json: {op: said, history: null}}
        latency_from: ts
    steps:
      - connect
      - send: {json: {op: nick, name: "fan-{{vu}}"}}
      - expect: {name: nick, json: {op: welcome}, timeout: 5s}
      - send: {json: {op: join, room: sim}}
      - expect: {name: join, json: {op: joined}, timeout: 5s}
      - think: 2500ms
      - close
`

// buildWsbench builds the wsbench binary (with the test's own build
// settings, which the build cache already holds; the image's is the same
// code with CGO_ENABLED=0).
func buildWsbench(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsbench")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/wsbench/wsbench")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// podProcess turns a container of the rendered chart into the process its
// pod would run here: env as the kubelet sets it (values, the downward API
// fields the chart uses, JOB_COMPLETION_INDEX from the Job controller),
// $(VAR) references in args expanded, and the mount paths moved under dir.
// The only other change is the target, which in the cluster is a Service.
func podProcess(t *testing.T, bin string, c corev1.Container, index int, node, dir, target string) *exec.Cmd {
	t.Helper()
	env := map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(index)}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']":
			env[e.Name] = strconv.Itoa(index)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName":
			env[e.Name] = node
		default:
			t.Fatalf("container %s: env %s from %+v is not simulated", c.Name, e.Name, e.ValueFrom)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		host := filepath.Join(dir, m.Name)
		if m.SubPathExpr != "" {
			host = filepath.Join(host, varRef.ReplaceAllStringFunc(m.SubPathExpr, func(s string) string { return env[varRef.FindStringSubmatch(s)[1]] }))
		}
		if err := os.MkdirAll(host, 0o755); err != nil { // the kubelet creates subpaths
			t.Fatal(err)
		}
		mounts[m.MountPath] = host
	}
	args := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		a = varRef.ReplaceAllStringFunc(a, func(s string) string {
			if v, ok := env[varRef.FindStringSubmatch(s)[1]]; ok {
				return v
			}
			return s
		})
		if strings.HasPrefix(a, "--target=") {
			a = "--target=" + target
		}
		for mp, host := range mounts {
			a = strings.Replace(a, mp+"/", host+"/", 1)
		}
		args = append(args, a)
	}
	cmd := exec.Command(bin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	err            error
	done           chan struct{}
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func readResultsFile(t *testing.T, path string) *report.Results {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestSimulateJobs runs the chart's Jobs on this machine: the reference
// server as its Deployment would, three runner processes that differ only
// in their completion index (and node name), launched 600 ms apart as pods
// that are scheduled at different times, and the merge, started first as
// its Job is. The runners begin together at the start instant, the merge
// waits for their files, and the merged counts and histograms are the sums
// of the segments'.
func TestSimulateJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wsbench processes")
	}
	const runners = 3
	bin := buildWsbench(t)
	dir := t.TempDir()
	r, err := render(t, "sim", map[string]any{
		"runners": runners, "vus": 12, "scenario": simScenario,
		"startBase": time.Now().UTC().Format(time.RFC3339), "startDelay": "4s",
	})
	if err != nil {
		t.Fatal(err)
	}
	runJob, mergeJob := r.jobs["runner"], r.jobs["merge"]
	if *runJob.Spec.Completions != runners || len(r.deployments) != 1 {
		t.Fatalf("rendered %d completions, %d deployments", *runJob.Spec.Completions, len(r.deployments))
	}

	// The ConfigMap volume.
	if err := os.MkdirAll(filepath.Join(dir, "scenario"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario", "scenario.yaml"), []byte(r.configMaps[0].Data["scenario.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}

	// The server, on a loopback port instead of its Service.
	port := freePort(t)
	sc := r.deployments[0].Spec.Template.Spec.Containers[0]
	sargs := slices.Clone(sc.Args)
	for i, a := range sargs {
		if strings.HasPrefix(a, "--addr=") {
			sargs[i] = fmt.Sprintf("--addr=127.0.0.1:%d", port)
		}
	}
	srv := start(t, exec.Command(bin, sargs...))
	target := fmt.Sprintf("ws://127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not listen: %s", srv.stderr.String())
		}
	}

	// --html comes from another branch; until it lands, merge without it.
	mc := mergeJob.Spec.Template.Spec.Containers[0]
	if help, _ := exec.Command(bin, "report", "--help").CombinedOutput(); !bytes.Contains(help, []byte("--html")) {
		t.Logf("this wsbench has no report --html yet: the merge runs without it")
		mc.Args = slices.DeleteFunc(slices.Clone(mc.Args), func(a string) bool { return strings.HasPrefix(a, "--html") })
	}
	merge := start(t, podProcess(t, bin, mc, 0, "node-m", dir, target))

	nodes := []string{"node-a", "node-b"}
	var procs []*proc
	for i := 0; i < runners; i++ {
		if i > 0 {
			time.Sleep(600 * time.Millisecond)
		}
		procs = append(procs, start(t, podProcess(t, bin, runJob.Spec.Template.Spec.Containers[0], i, nodes[i%2], dir, target)))
	}
	for i, p := range procs {
		<-p.done
		if p.err != nil {
			t.Fatalf("runner %d: %v\nstderr:\n%s", i, p.err, p.stderr.String())
		}
	}
	select {
	case <-merge.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("merge still waiting:\n%s", merge.stderr.String())
	}
	if code := exitCode(merge.err); code != 0 {
		t.Fatalf("merge exit %d (%v), want 0: the whole load passes nick count == 12\nstdout:\n%s\nstderr:\n%s", code, merge.err, merge.stdout.String(), merge.stderr.String())
	}

	runDir := filepath.Join(dir, "results", "run-"+strings.ReplaceAll(envOf(runJob.Spec.Template.Spec.Containers[0], "WSBENCH_START_BASE"), ":", ""))
	var parts []*report.Results
	for i := 0; i < runners; i++ {
		parts = append(parts, readResultsFile(t, filepath.Join(runDir, fmt.Sprintf("segment-%d.json", i))))
	}
	merged := readResultsFile(t, filepath.Join(runDir, "merged.json"))
	if slices.ContainsFunc(mc.Args, func(a string) bool { return strings.HasPrefix(a, "--html=") }) {
		if page, err := os.ReadFile(filepath.Join(runDir, "report.html")); err != nil || !bytes.Contains(page, []byte("delivery p50")) {
			t.Errorf("report.html: %v; want the merged HTML report with the clock note", err)
		}
	}

	// Each runner judged its own third and failed, yet exited 0.
	for i, p := range parts {
		if len(p.Thresholds) != 1 || p.Thresholds[0].Pass {
			t.Errorf("runner %d verdicts %+v: its third of the VUs cannot pass nick count == 12", i, p.Thresholds)
		}
	}
	if merged.Sources != runners || len(merged.Thresholds) != 1 || !merged.Thresholds[0].Pass {
		t.Errorf("merged %d sources, verdicts %+v", merged.Sources, merged.Thresholds)
	}
	// Exact merge: counters and histograms are the sums of the parts.
	sums := map[string]int64{}
	for _, p := range parts {
		for k, v := range p.Counters {
			sums[k] += v
		}
	}
	for k, v := range sums {
		if merged.Counters[k] != v {
			t.Errorf("counter %s merged %d, parts sum to %d", k, merged.Counters[k], v)
		}
	}
	for _, l := range merged.Latencies {
		sum := hdr.New(report.HistLowest, report.HistHighest, report.HistSigFigs)
		for _, p := range parts {
			if h := p.Histogram(l.Name); h != nil {
				sum.Merge(h)
			}
		}
		if !sum.Equals(merged.Histogram(l.Name)) {
			t.Errorf("latency %s: merged histogram (%d samples) is not the sum of the parts' (%d)", l.Name, l.Count, sum.TotalCount())
		}
	}
	if nick, _ := merged.Latency("nick"); nick.Count != 12 {
		t.Errorf("nick count %d, want the scenario's 12 VUs once each", nick.Count)
	}
	if d, _ := merged.Latency("delivery"); d.Count == 0 {
		t.Error("no fan-out deliveries measured")
	}

	// Started together: the loads began within a few ms of each other
	// although the processes were launched 1.2 s apart.
	var first, last time.Time
	for i, p := range parts {
		if p.Meta.StartAt == nil || p.Meta.StartAt.Late != 0 {
			t.Errorf("runner %d start %+v: want on time", i, p.Meta.StartAt)
		}
		if first.IsZero() || p.Meta.Start.Before(first) {
			first = p.Meta.Start
		}
		if p.Meta.Start.After(last) {
			last = p.Meta.Start
		}
	}
	t.Logf("runners began their loads within %v of each other", last.Sub(first))
	if spread := last.Sub(first); spread > 300*time.Millisecond {
		t.Errorf("runners began %v apart; --start-at should align them to a few ms", spread)
	}

	// Two simulated nodes: the merged results and summary carry the clocks.
	if c := merged.Meta.Clock; c == nil || len(c.Hosts) != 2 || !slices.Contains(c.CrossMetrics, "delivery") {
		t.Errorf("merged clock %+v, want node-a and node-b and the delivery metric", merged.Meta.Clock)
	}
	for _, want := range []string{"merged:    3 results", "start-at:", "Clock: samples from 2 hosts", "delivery p50"} {
		if !strings.Contains(merge.stdout.String(), want) {
			t.Errorf("merge summary lacks %q:\n%s", want, merge.stdout.String())
		}
	}

	// The merge's exit status is the verdict: the same files judged by a
	// threshold the load does not meet make the same command exit 1.
	failDir := filepath.Join(dir, "fail")
	if err := os.MkdirAll(failDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < runners; i++ {
		b, err := os.ReadFile(filepath.Join(runDir, fmt.Sprintf("segment-%d.json", i)))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte(`"nick count == 12"`), []byte(`"nick count == 13"`))
		if err := os.WriteFile(filepath.Join(failDir, fmt.Sprintf("segment-%d.json", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	failArgs := slices.Clone(mc.Args)
	for i, a := range failArgs {
		failArgs[i] = strings.Replace(a, "/results/", failDir+"/", 1)
	}
	out, err := exec.Command(bin, failArgs...).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Errorf("merge of a failing load exited %d, want 1:\n%s", code, out)
	}
}

func envOf(c corev1.Container, name string) string {
	e, _ := envValue(c, name)
	return e.Value
}
