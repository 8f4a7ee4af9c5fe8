package scenario

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestResolveSegment(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		env   map[string]string
		want  string
		error string
	}{
		{"", nil, "", ""},
		{"0:1/2", nil, "0:1/2", ""},
		{"automatic", nil, "automatic", ""}, // not ours: ParseSegment rejects it
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "0", "WSBENCH_SEGMENTS": "4"}, "0:1/4", ""},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "2", "WSBENCH_SEGMENTS": "4"}, "2/4:3/4", ""},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "3", "WSBENCH_SEGMENTS": " 4 "}, "3/4:1", ""},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "0", "WSBENCH_SEGMENTS": "1"}, "0:1", ""},
		{"auto/3", map[string]string{"JOB_COMPLETION_INDEX": "1", "WSBENCH_SEGMENTS": "9"}, "1/3:2/3", ""},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "0"}, "", "WSBENCH_SEGMENTS is not set"},
		{"auto", map[string]string{"WSBENCH_SEGMENTS": "4"}, "", "JOB_COMPLETION_INDEX is not set"},
		{"auto/4", nil, "", "JOB_COMPLETION_INDEX is not set"},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "4", "WSBENCH_SEGMENTS": "4"}, "", "want an index 0…3"},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "-1", "WSBENCH_SEGMENTS": "4"}, "", "want an index 0…3"},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "x", "WSBENCH_SEGMENTS": "4"}, "", `JOB_COMPLETION_INDEX="x"`},
		{"auto", map[string]string{"JOB_COMPLETION_INDEX": "0", "WSBENCH_SEGMENTS": "0"}, "", "whole number ≥ 1"},
		{"auto/0", nil, "", "auto/N with N ≥ 1"},
		{"auto/x", nil, "", "auto/N with N ≥ 1"},
	} {
		got, err := ResolveSegment(tc.spec, envOf(tc.env))
		if tc.error != "" {
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("ResolveSegment(%q, %v) = %q, %v; want error %q", tc.spec, tc.env, got, err, tc.error)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveSegment(%q, %v) = %q, %v; want %q", tc.spec, tc.env, got, err, tc.want)
		}
	}
}

// autoSegments resolves --segment auto in each of n simulated pods.
func autoSegments(t *testing.T, n int) []Segment {
	t.Helper()
	segs := make([]Segment, n)
	for i := range segs {
		spec, err := ResolveSegment("auto", envOf(map[string]string{EnvSegmentIndex: strconv.Itoa(i), EnvSegmentCount: strconv.Itoa(n)}))
		if err != nil {
			t.Fatal(err)
		}
		if segs[i], err = ParseSegment(spec); err != nil {
			t.Fatalf("pod %d: %q: %v", i, spec, err)
		}
	}
	return segs
}

func TestAutoSegmentsTile(t *testing.T) {
	for n := 1; n <= 64; n++ {
		segs := autoSegments(t, n)
		for _, total := range []int{0, 1, n - 1, n, 1000, 19999} {
			sum := 0
			for _, s := range segs {
				if s.First(total) != sum {
					t.Fatalf("n=%d: %s starts at %d of %d, want %d", n, s, s.First(total), total, sum)
				}
				sum += s.Scale(total)
			}
			if sum != max(total, 0) {
				t.Fatalf("n=%d: shares of %d sum to %d", n, total, sum)
			}
		}
		for i := int64(0); i < 5000; i++ {
			owners := 0
			for _, s := range segs {
				if s.OwnsArrival(i) {
					owners++
				}
			}
			if owners != 1 {
				t.Fatalf("n=%d: arrival %d owned by %d pods", n, i, owners)
			}
		}
	}
}

// TestAutoSegmentsSumToWholeLoad runs each model once per simulated pod and
// checks that the pods together ran exactly the whole load: every VU number
// (closed, ramping closed) and every arrival once (open, ramping open).
func TestAutoSegmentsSumToWholeLoad(t *testing.T) {
	const pods = 4
	segs := autoSegments(t, pods)
	closed := []struct {
		name string
		load Load
		peak int
	}{
		{"closed", Load{Model: Closed, VUs: 13, Duration: 150 * time.Millisecond}, 13},
		{"ramping closed", Load{Model: Closed, VUs: 0, Stages: []Stage{{Duration: 200 * time.Millisecond, Target: 11}, {Duration: time.Second, Target: 11}}}, 11},
	}
	for _, c := range closed {
		var all []int
		for _, s := range segs {
			var f fakeLoad
			runClosed(context.Background(), context.Background(), f.env(c.load, s, 10*time.Millisecond))
			f.wg.Wait()
			if got := f.reg.Gauge("vus").Max(); got != int64(s.Scale(c.peak)) {
				t.Errorf("%s: pod %s peaked at %d VUs, want %d", c.name, s, got, s.Scale(c.peak))
			}
			all = append(all, f.nums...)
		}
		sort.Ints(all)
		all = compactInts(all)
		if len(all) != c.peak || all[0] != 1 || all[len(all)-1] != c.peak {
			t.Errorf("%s: %d pods ran VU numbers %v, want 1…%d", c.name, pods, all, c.peak)
		}
	}
	open := []struct {
		name  string
		load  Load
		total int64
	}{
		{"open", Load{Model: Open, Rate: 80, Duration: 500 * time.Millisecond, MaxVUs: 40}, 40},
		// 0 → 120/s over 0.5 s then 120/s for 0.25 s: 30 + 30 arrivals.
		{"ramping open", Load{Model: Open, Rate: 0, MaxVUs: 60, Stages: []Stage{{Duration: 500 * time.Millisecond, Target: 120}, {Duration: 250 * time.Millisecond, Target: 120}}}, 60},
	}
	for _, c := range open {
		var total int64
		for _, s := range segs {
			var f fakeLoad
			runOpen(context.Background(), context.Background(), f.env(c.load, s, time.Millisecond))
			f.wg.Wait()
			total += f.iters.Load() + f.reg.Counter("arrivals.dropped").Value()
		}
		if total != c.total {
			t.Errorf("%s: %d pods ran %d arrivals, want %d", c.name, pods, total, c.total)
		}
	}
}

func compactInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
