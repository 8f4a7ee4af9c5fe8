package scenario

import (
	"testing"
)

func TestSeqTrack(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		seqs                 []int64
		lost, dup, reordered int64
	}{
		{"in order", []int64{1, 2, 3, 4}, 0, 0, 0},
		{"gap", []int64{1, 2, 5, 6}, 2, 0, 0},
		{"duplicate last", []int64{1, 2, 2, 3}, 0, 1, 0},
		{"late fills gap", []int64{1, 3, 2, 4}, 0, 0, 1},
		{"late then duplicate", []int64{1, 4, 2, 2, 3}, 0, 1, 2},
		{"old duplicate", []int64{1, 2, 3, 1}, 0, 1, 0},
		{"huge gap, late fills", []int64{1, 200, 150}, 197, 0, 1},
		{"last in window", []int64{1, 66, 2}, 63, 0, 1},
		{"beyond window", []int64{1, 67, 2}, 65, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := seqTrack{last: tc.seqs[0]}
			var lost, dup, reord int64
			for _, s := range tc.seqs[1:] {
				l, d, r := tr.add(s)
				lost += l
				if d {
					dup++
				}
				if r {
					reord++
				}
			}
			if lost != tc.lost || dup != tc.dup || reord != tc.reordered {
				t.Errorf("lost %d dup %d reordered %d, want %d %d %d", lost, dup, reord, tc.lost, tc.dup, tc.reordered)
			}
		})
	}
}
