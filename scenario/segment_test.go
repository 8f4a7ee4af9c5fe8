package scenario

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestParseSegment(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"0:1", "0:1", ""},
		{"0:1/3", "0:1/3", ""},
		{"1/3:2/3", "1/3:2/3", ""},
		{" 2/3 : 1 ", "2/3:1", ""},
		{"0.5:1", "1/2:1", ""},
		{"25%:50%", "1/4:1/2", ""},
		{"1/2", "", "want from:to"},
		{"1/2:1/3", "", "from < to"},
		{"0:2", "", "to ≤ 1"},
		{"-1/2:1", "", "0 ≤ from"},
		{"a:1", "", "not a fraction"},
		{":1", "", "empty"},
		{"0:1/2147483648", "", "denominator"},
	} {
		s, err := ParseSegment(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSegment(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("ParseSegment(%q) = %q, %v; want %q", tc.in, s.String(), err, tc.want)
		}
	}
}

func mustSegments(t testing.TB, specs ...string) []Segment {
	t.Helper()
	out := make([]Segment, len(specs))
	for i, s := range specs {
		var err error
		if out[i], err = ParseSegment(s); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var tilings = [][]string{
	{"0:1/3", "1/3:2/3", "2/3:1"},
	{"0:1/2", "1/2:1"},
	{"0:1/5", "1/5:2/5", "2/5:3/5", "3/5:4/5", "4/5:1"},
	{"0:1/4", "1/4:1/3", "1/3:0.9", "90%:1"},
}

func TestSegmentScaleSumsExactly(t *testing.T) {
	for _, tiling := range tilings {
		segs := mustSegments(t, tiling...)
		for n := 0; n <= 2000; n++ {
			sum, next := 0, 0
			for _, s := range segs {
				if s.First(n) != next {
					t.Fatalf("%v: First(%d) of %s = %d, want %d", tiling, n, s, s.First(n), next)
				}
				sum += s.Scale(n)
				next += s.Scale(n)
			}
			if sum != n {
				t.Fatalf("%v: shares of %d sum to %d", tiling, n, sum)
			}
		}
	}
	if (Segment{}).Scale(7) != 7 || !(Segment{}).Whole() {
		t.Error("the zero segment is not the whole load")
	}
}

func TestSegmentArrivalsPartition(t *testing.T) {
	const n = 100000
	for _, tiling := range tilings {
		segs := mustSegments(t, tiling...)
		counts := make([]int, len(segs))
		for i := int64(0); i < n; i++ {
			owners := 0
			for k, s := range segs {
				if s.OwnsArrival(i) {
					owners++
					counts[k]++
				}
			}
			if owners != 1 {
				t.Fatalf("%v: arrival %d owned by %d segments", tiling, i, owners)
			}
		}
		for k, s := range segs {
			want := float64(s.Scale(n))
			if d := float64(counts[k]) - want; d > 0.001*n || d < -0.001*n {
				t.Errorf("%v: %s owns %d of %d arrivals, want about %v", tiling, s, counts[k], n, want)
			}
		}
	}
	// Within a short window too, each third gets about its share.
	segs := mustSegments(t, tilings[0]...)
	for k, s := range segs {
		c := 0
		for i := int64(0); i < 30; i++ {
			if s.OwnsArrival(i) {
				c++
			}
		}
		if c < 8 || c > 12 {
			t.Errorf("third %d owns %d of the first 30 arrivals", k, c)
		}
	}
}

func TestSegmentsSplitLoadDisjointAndComplete(t *testing.T) {
	segs := mustSegments(t, tilings[0]...)
	// Closed model: VU numbers.
	var all []int
	for _, s := range segs {
		var f fakeLoad
		l := Load{Model: Closed, VUs: 10, Duration: 200 * time.Millisecond}
		runClosed(context.Background(), context.Background(), f.env(l, s, 10*time.Millisecond))
		f.wg.Wait()
		if f.reg.Gauge("vus").Max() != int64(s.Scale(10)) {
			t.Errorf("segment %s ran %d VUs, want %d", s, f.reg.Gauge("vus").Max(), s.Scale(10))
		}
		all = append(all, f.nums...)
	}
	sort.Ints(all)
	for i, n := range all {
		if n != i+1 {
			t.Fatalf("VU numbers over 3 segments %v, want 1…10 once each", all)
		}
	}
	// Open model: arrivals.
	var total int64
	for _, s := range segs {
		var f fakeLoad
		l := Load{Model: Open, Rate: 60, Duration: 500 * time.Millisecond, MaxVUs: 30}
		runOpen(context.Background(), context.Background(), f.env(l, s, time.Millisecond))
		f.wg.Wait()
		if n := f.iters.Load(); n < 8 || n > 12 {
			t.Errorf("segment %s ran %d of 30 arrivals", s, n)
		}
		total += f.iters.Load() + f.reg.Counter("arrivals.dropped").Value()
	}
	if total != 30 {
		t.Errorf("3 segments ran %d arrivals, want 30", total)
	}
}

func TestArrivalStrideCoprime(t *testing.T) {
	a, b := int64(arrivalStride), int64(arrivalCycle)
	for b != 0 {
		a, b = b, a%b
	}
	if a != 1 {
		t.Fatalf("gcd(stride, cycle) = %d: the permutation is not one", a)
	}
}

func FuzzParseSegment(f *testing.F) {
	for _, s := range []string{"", "0:1", "1/3:2/3", "0.25:75%", "a:b", "1:0", "0:1/0", "1e9:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg, err := ParseSegment(s)
		if err != nil {
			return
		}
		for _, n := range []int{0, 1, 7, 1000, 1 << 40} {
			if sc := seg.Scale(n); sc < 0 || sc > n {
				t.Fatalf("%q: Scale(%d) = %d", s, n, sc)
			}
		}
		again, err := ParseSegment(seg.String())
		if err != nil || again.String() != seg.String() {
			t.Fatalf("%q: canonical form %q does not parse back: %v", s, seg.String(), err)
		}
	})
}

func TestSegmentSplit(t *testing.T) {
	cases := []struct {
		seg  string
		n    int
		want []string
	}{
		{"", 1, []string{"0:1"}},
		{"", 3, []string{"0:1/3", "1/3:2/3", "2/3:1"}},
		{"1/2:1", 2, []string{"1/2:3/4", "3/4:1"}},
		{"0:1/3", 4, []string{"0:1/12", "1/12:1/6", "1/6:1/4", "1/4:1/3"}},
	}
	for _, c := range cases {
		seg, err := ParseSegment(c.seg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := seg.Split(c.n)
		if err != nil {
			t.Fatalf("%q.Split(%d): %v", c.seg, c.n, err)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q.Split(%d) = %v, want %v", c.seg, c.n, got, c.want)
		}
		// The parts parse and their shares add up to the whole segment's.
		total := 0
		for _, p := range got {
			ps, err := ParseSegment(p)
			if err != nil {
				t.Fatalf("part %q: %v", p, err)
			}
			total += ps.Scale(1000)
		}
		if total != seg.Scale(1000) {
			t.Errorf("%q.Split(%d): parts scale 1000 to %d, whole to %d", c.seg, c.n, total, seg.Scale(1000))
		}
	}
	if _, err := (Segment{}).Split(0); err == nil {
		t.Error("Split(0) succeeded")
	}
}

func TestSegmentOverlaps(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"0:1/2", "1/2:1", false},
		{"0:1/2", "0:1/2", true},
		{"", "2/3:1", true},
		{"0:1/3", "1/4:1/2", true},
		{"0:1/3", "1/3:2/3", false},
		{"1/3:2/3", "0:1/3", false},
		{"0:1", "1/2:1", true},
	} {
		a, err := ParseSegment(c.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseSegment(c.b)
		if err != nil {
			t.Fatal(err)
		}
		if a.Overlaps(b) != c.want || b.Overlaps(a) != c.want {
			t.Errorf("%q overlaps %q: %v, want %v", c.a, c.b, a.Overlaps(b), c.want)
		}
	}
}
