package cmd

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScenarioFromTcpdump captures a real session with tcpdump on the
// loopback interface (the client talks to the server directly, no relay),
// generates a scenario from the capture and replays it with 20 VUs. It
// skips where tcpdump is missing or may not capture (it needs root or
// CAP_NET_RAW; .ci/run installs Debian's tcpdump and runs as root).
func TestScenarioFromTcpdump(t *testing.T) {
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("no tcpdump on PATH (apt-get install tcpdump): the capture path is covered by a synthesized pcap in TestScenarioFromGoClient")
	}
	srv := startChat(t)
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	pcap := filepath.Join(t.TempDir(), "session.pcap")
	cmd := exec.Command(bin, "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-n", "-w", pcap, "tcp port "+port)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Skipf("tcpdump did not start: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// tcpdump says "listening on lo" once it captures; anything else first
	// (no permission) ends the test as a skip.
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, "listening on") {
			t.Skipf("tcpdump cannot capture here: %s", line)
		}
	case <-time.After(10 * time.Second):
		t.Skip("tcpdump said nothing within 10 s")
	}
	goChatClient(t, srv.URL("/chat"), "carol")
	// --immediate-mode hands each packet to tcpdump at once (not when a
	// ring-buffer block fills or times out) and -U writes it at once; on a
	// busy machine tcpdump may still be behind, so stop it only once the
	// file has stopped growing for half a second.
	waitStill(t, pcap, 500*time.Millisecond, 15*time.Second)
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if fi, err := os.Stat(pcap); err != nil || fi.Size() == 0 {
		t.Fatalf("tcpdump wrote no capture: %v", err)
	}

	yaml, _ := generate(t, genOptions("builtin", 20, pcap))
	for _, want := range []string{`"name": "carol-{{vu}}"`, `"ts": "{{now_ns}}"`, `"id": "{{seq}}"`, "vus: 20", "# c1 of session.pcap"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("scenario from the capture lacks %q:\n%s", want, yaml)
		}
	}
	file := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	replayAndCheck(t, srv, file, 20)
}

// waitStill waits until the file at path has not changed size for still
// (and holds more than a pcap file header), or fails after limit.
func waitStill(t *testing.T, path string, still, limit time.Duration) {
	t.Helper()
	var last int64 = -1
	since := time.Now()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		if fi.Size() != last {
			last, since = fi.Size(), time.Now()
			continue
		}
		if last > 24 && time.Since(since) >= still {
			return
		}
	}
	t.Fatalf("%s kept changing (or stayed empty) for %v", path, limit)
}
