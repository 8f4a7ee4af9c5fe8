package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	ivs := feed(NewRegistry(), 2, 1)
	for _, tc := range []struct {
		name  string
		iv    *Interval
		main  []string
		total time.Duration
		want  string
	}{
		{"no planned length", ivs[1], []string{"nosuch", "delivery"}, 0,
			"[    2s] vus 100  conns 80 (peak 90)  out 1000/s  in 2000/s  errors 1 (+1)  delivery p99 11.00ms"},
		{"elapsed of total", ivs[1], []string{"delivery"}, 10 * time.Second,
			"[2s/10s  20%] vus 100  conns 80 (peak 90)  out 1000/s  in 2000/s  errors 1 (+1)  delivery p99 11.00ms"},
		{"graceful stop past the length", ivs[1], []string{"echo"}, time.Second,
			"[2s/1s 100%] vus 100  conns 80 (peak 90)  out 1000/s  in 2000/s  errors 1 (+1)  echo p99 100µs"},
		{"handshake fallback", ivs[0], nil, time.Minute,
			"[1s/1m00s   1%] vus 50  conns 40 (peak 50)  out 1000/s  in 2000/s  errors 0 (+0)  handshake p99 249µs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProgressLine(tc.iv, tc.main, tc.total); got != tc.want {
				t.Fatalf("line\n%q, want\n%q", got, tc.want)
			}
		})
	}
}

// TestProgressOpenModel is the regression for `vus 0 conns 0` while an
// open model sends hundreds of messages a second: its sessions last a few
// milliseconds, so the gauges read at the end of an interval are nearly
// always 0; the line shows the peak of the interval beside them.
func TestProgressOpenModel(t *testing.T) {
	r := NewRegistry()
	r.StartAt(t0)
	vus, conns := r.Gauge("vus"), r.Gauge("conns.open")
	sent := r.Counter("msgs.sent")
	for i := 0; i < 200; i++ { // 200 sessions, up to 3 overlapping
		vus.Add(1)
		conns.Add(1)
		sent.Add(2)
		if i%3 == 2 {
			vus.Add(-3)
			conns.Add(-3)
		}
	}
	vus.Add(-vus.Value())
	conns.Add(-conns.Value())
	busy := r.Tick(t0.Add(time.Second))
	idle := r.Tick(t0.Add(2 * time.Second))

	want := "[1s/10s  10%] vus 0 (peak 3)  conns 0 (peak 3)  out 400/s  in 0/s  errors 0 (+0)"
	if got := ProgressLine(busy, nil, 10*time.Second); got != want {
		t.Fatalf("busy line\n%q, want\n%q", got, want)
	}
	want = "[2s/10s  20%] vus 0  conns 0  out 0/s  in 0/s  errors 0 (+0)"
	if got := ProgressLine(idle, nil, 10*time.Second); got != want {
		t.Fatalf("idle line (the peak starts again each interval)\n%q, want\n%q", got, want)
	}
}

func TestProgressLogfmt(t *testing.T) {
	ivs := feed(NewRegistry(), 2, 1)
	want := "msg=progress elapsed=2s total=10s pct=20 vus=100 vus_peak=100 conns=80 conns_peak=90 out_per_s=1000.0 in_per_s=2000.0 errors=1 errors_new=1 main=delivery p99=11.002ms"
	if got := ProgressLogfmt(ivs[1], []string{"delivery"}, 10*time.Second); got != want {
		t.Fatalf("logfmt\n%q, want\n%q", got, want)
	}
	want = "msg=progress elapsed=1s vus=50 vus_peak=50 conns=40 conns_peak=50 out_per_s=1000.0 in_per_s=2000.0 errors=0 errors_new=0 main=handshake p99=249µs"
	if got := ProgressLogfmt(ivs[0], nil, 0); got != want {
		t.Fatalf("logfmt without a planned length\n%q, want\n%q", got, want)
	}
}

func TestProgressOutputs(t *testing.T) {
	ivs := feed(NewRegistry(), 5, 1)

	var plain bytes.Buffer
	p := &Progress{W: &plain, Main: []string{"echo"}, Every: 2}
	for _, iv := range ivs {
		_ = p.Interval(iv)
	}
	_ = p.Close()
	got := plain.String()
	if strings.Count(got, "\n") != 2 || strings.Contains(got, "\r") || strings.Contains(got, "\x1b") {
		t.Fatalf("not a terminal: want a logfmt line every 2nd interval, got %q", got)
	}
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.HasPrefix(line, "msg=progress elapsed=") {
			t.Fatalf("not logfmt: %q", line)
		}
	}
	if !strings.Contains(got, "elapsed=2s") || !strings.Contains(got, "elapsed=4s") {
		t.Fatalf("lines of intervals 2 and 4 expected: %q", got)
	}

	var tty bytes.Buffer
	p = &Progress{W: &tty, TTY: true, Total: 5 * time.Second}
	_ = p.Interval(ivs[0])
	_ = p.Interval(ivs[1])
	_ = p.Close()
	got = tty.String()
	if strings.Count(got, "\r\x1b[K") != 2 || !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Fatalf("tty progress %q", got)
	}
	if !strings.Contains(got, "\r\x1b[K[2s/5s  40%] vus 100") {
		t.Fatalf("tty progress without elapsed/total: %q", got)
	}

	var quiet bytes.Buffer
	p = &Progress{W: &quiet, Quiet: true}
	_ = p.Interval(ivs[0])
	_ = p.Close()
	if quiet.Len() != 0 {
		t.Fatalf("quiet progress wrote %q", quiet.String())
	}
}

// TestGaugePeaksAcrossWorkers: the peaks of each worker's intervals travel
// through the stream, and the parent's combined interval adds the sources'
// peaks (the highest of each since the last Tick; a source with nothing
// new counts with its latest value).
func TestGaugePeaksAcrossWorkers(t *testing.T) {
	var buf bytes.Buffer
	w := NewStreamWriter(&buf)
	var sources [2]*Registry
	for i := range sources {
		r := NewRegistry()
		r.StartAt(t0)
		g := r.Gauge("vus")
		g.Add(int64(5 * (i + 1)))
		g.Add(-int64(5 * (i + 1)))
		if err := w.Interval(r.Tick(t0.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		g.Add(2)
		if i == 0 {
			if err := w.Interval(r.Tick(t0.Add(2 * time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		sources[i] = r
	}
	rd := NewStreamReader(&buf)
	var got []*Interval
	for {
		iv, _, err := rd.Next()
		if err != nil {
			break
		}
		got = append(got, iv)
	}
	if len(got) != 3 || got[0].Peaks["vus"] != 5 || got[1].Peaks["vus"] != 2 || got[2].Peaks["vus"] != 10 {
		t.Fatalf("peaks through the stream: %d intervals", len(got))
	}
	c := NewCombiner(2, t0)
	c.Add(0, got[0])
	c.Add(1, got[2])
	if iv := c.Tick(t0.Add(time.Second)); iv.Peaks["vus"] != 15 || iv.Gauges["vus"] != 0 {
		t.Fatalf("combined peak %d (gauge %d), want 5+10 (0)", iv.Peaks["vus"], iv.Gauges["vus"])
	}
	c.Add(0, got[1])
	if iv := c.Tick(t0.Add(2 * time.Second)); iv.Peaks["vus"] != 2 {
		t.Fatalf("combined peak %d, want 2 from source 0 and source 1's latest 0", iv.Peaks["vus"])
	}
}
