package scenario

// segment.go splits one run's load between several processes, like k6's
// execution segments: each process runs the slice [From, To) of the load,
// and the slices of all processes tile [0, 1) so that together they
// reproduce the whole run and their results files merge.

import (
	"fmt"
	"math/big"
	"strings"
)

// Segment is a slice [From, To) of the load, 0 ≤ From < To ≤ 1, held as
// exact fractions. The zero value is the whole load.
type Segment struct {
	set          bool
	fromN, fromD int64
	toN, toD     int64
	label        string
}

// maxSegmentDen bounds the denominators of segment ends so that every
// comparison stays within int64.
const maxSegmentDen = 1 << 30

// arrivalCycle is the number of arrival slots in one cycle of the open
// model's assignment: lcm(1..16), so segments whose ends have denominators
// up to 16 (halves, thirds, … sixteenths, 10 %, 20 %…) own exactly their
// share of every cycle.
const arrivalCycle = 720720

// arrivalStride permutes the slots of a cycle: slot i is placed at
// (i·stride) mod arrivalCycle, which is i times ≈0.618 of the cycle, so the
// arrivals a segment owns are spread evenly in time (a Kronecker sequence
// with the golden ratio) rather than bunched. It is coprime to the cycle.
const arrivalStride = 445421

// ParseSegment parses "from:to" where each end is a fraction ("1/3"), a
// decimal ("0.5") or a percentage ("50%"): "0:1/3", "1/3:2/3", "2/3:1".
// The empty string is the whole load.
func ParseSegment(s string) (Segment, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Segment{}, nil
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return Segment{}, fmt.Errorf("segment %q: want from:to, e.g. 0:1/3 or 1/3:2/3", s)
	}
	from, err := parseSegmentEnd(a)
	if err != nil {
		return Segment{}, fmt.Errorf("segment %q: from: %w", s, err)
	}
	to, err := parseSegmentEnd(b)
	if err != nil {
		return Segment{}, fmt.Errorf("segment %q: to: %w", s, err)
	}
	if from.Sign() < 0 || to.Cmp(big.NewRat(1, 1)) > 0 || from.Cmp(to) >= 0 {
		return Segment{}, fmt.Errorf("segment %q: want 0 ≤ from < to ≤ 1", s)
	}
	for _, r := range []*big.Rat{from, to} {
		if !r.Denom().IsInt64() || r.Denom().Int64() > maxSegmentDen {
			return Segment{}, fmt.Errorf("segment %q: %s has a denominator above %d", s, r.RatString(), maxSegmentDen)
		}
	}
	return Segment{
		set:   true,
		fromN: from.Num().Int64(), fromD: from.Denom().Int64(),
		toN: to.Num().Int64(), toD: to.Denom().Int64(),
		label: from.RatString() + ":" + to.RatString(),
	}, nil
}

func parseSegmentEnd(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	if pct {
		s = strings.TrimSpace(strings.TrimSuffix(s, "%"))
	}
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a fraction, decimal or percentage", s)
	}
	if pct {
		r.Quo(r, big.NewRat(100, 1))
	}
	return r, nil
}

// Whole reports whether s covers the whole load.
func (s Segment) Whole() bool {
	return !s.set || (s.fromN == 0 && s.toN == s.toD)
}

// String is the canonical "from:to" form, "" for the zero value.
func (s Segment) String() string {
	if !s.set {
		return ""
	}
	return s.label
}

func (s Segment) bounds() (fn, fd, tn, td int64) {
	if !s.set {
		return 0, 1, 1, 1
	}
	return s.fromN, s.fromD, s.toN, s.toD
}

// Scale returns this segment's share of n: ⌊To·n⌋ − ⌊From·n⌋. The shares of
// segments that tile [0, 1) sum to exactly n.
func (s Segment) Scale(n int) int {
	if n <= 0 {
		return 0
	}
	fn, fd, tn, td := s.bounds()
	return int(mulFloor(int64(n), tn, td) - mulFloor(int64(n), fn, fd))
}

// First returns ⌊From·n⌋: the number of global units of n that come before
// this segment. The segment's own units of n are First(n)+1 … First(n)+Scale(n).
func (s Segment) First(n int) int {
	if n <= 0 {
		return 0
	}
	fn, fd, _, _ := s.bounds()
	return int(mulFloor(int64(n), fn, fd))
}

// OwnsArrival reports whether the global arrival number i (0-based) of an
// open-model load belongs to this segment. Arrivals are placed on
// [0, 1) by a deterministic low-discrepancy sequence and owned by the
// segment that contains the point, so segments that tile [0, 1) own
// disjoint sets whose union is every arrival, each about its share of any
// window (exactly its share of every 720720 arrivals when its ends have
// denominators up to 16).
func (s Segment) OwnsArrival(i int64) bool {
	if s.Whole() {
		return true
	}
	p := (i % arrivalCycle) * arrivalStride % arrivalCycle // point p/arrivalCycle
	fn, fd, tn, td := s.bounds()
	// from ≤ p/C < to, in integers: p·fd ≥ fn·C and p·td < tn·C.
	return p*fd >= fn*arrivalCycle && p*td < tn*arrivalCycle
}

// mulFloor returns ⌊n·num/den⌋ for non-negative values without overflow for
// n·num < 2^63 (n is a VU count, num ≤ den ≤ 2^30).
func mulFloor(n, num, den int64) int64 {
	if n < 1<<32 {
		return n * num / den
	}
	q, r := n/den, n%den
	return q*num + r*num/den
}

// Split cuts s into n consecutive equal sub-segments that tile it, for
// handing one process's share to n worker processes. Each is returned in
// the "from:to" form ParseSegment reads. It fails when n < 1 or when the
// sub-segments' ends would need denominators above the parser's bound.
func (s Segment) Split(n int) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("split segment into %d parts: want at least 1", n)
	}
	fn, fd, tn, td := s.bounds()
	from, to := big.NewRat(fn, fd), big.NewRat(tn, td)
	width := new(big.Rat).Sub(to, from)
	out := make([]string, n)
	prev := from
	for i := 1; i <= n; i++ {
		next := new(big.Rat).Mul(width, big.NewRat(int64(i), int64(n)))
		next.Add(next, from)
		if !next.Denom().IsInt64() || next.Denom().Int64() > maxSegmentDen {
			return nil, fmt.Errorf("split segment %s into %d parts: %s has a denominator above %d", s.labelOrWhole(), n, next.RatString(), maxSegmentDen)
		}
		out[i-1] = prev.RatString() + ":" + next.RatString()
		prev = next
	}
	return out, nil
}

func (s Segment) labelOrWhole() string {
	if !s.set {
		return "0:1"
	}
	return s.label
}

// Overlaps reports whether s and o share part of the load: the results of
// two overlapping segments count that part twice when merged.
func (s Segment) Overlaps(o Segment) bool {
	sfn, sfd, stn, std := s.bounds()
	ofn, ofd, otn, otd := o.bounds()
	// s.from < o.to && o.from < s.to; numerators ≤ denominators ≤ 2^30.
	return sfn*otd < otn*sfd && ofn*std < stn*ofd
}
