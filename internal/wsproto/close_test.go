package wsproto

import (
	"testing"

	"github.com/gobwas/ws"
)

// TestValidCloseCodeEveryCode walks every code 0-5000 against the rule
// written out range by range, and against gobwas/ws's own check, which
// differs only where the IANA registry moved on (1012-1014) and above 4999,
// which gobwas does not look at.
func TestValidCloseCodeEveryCode(t *testing.T) {
	for c := 0; c <= 5000; c++ {
		code := uint16(c)
		var want bool
		switch {
		case c < 1000:
			want = false
		case c == 1004, c == 1005, c == 1006, c == 1015:
			want = false
		case c <= 1014:
			want = true
		case c < 3000:
			want = false
		case c < 5000:
			want = true
		default:
			want = false
		}
		if got := ValidCloseCode(code); got != want {
			t.Errorf("ValidCloseCode(%d) = %v, want %v", c, got, want)
		}

		gobwas := ws.CheckCloseFrameData(ws.StatusCode(code), "") == nil
		switch {
		case c >= 1012 && c <= 1014:
			if gobwas || !want {
				t.Errorf("code %d: expected gobwas to refuse a code it predates, and us to accept it", c)
			}
		case c > 4999:
			if want {
				t.Errorf("code %d: above 4999 must be refused", c)
			}
		default:
			if gobwas != want {
				t.Errorf("code %d: gobwas/ws says valid=%v, we say %v", c, gobwas, want)
			}
		}
	}
}

func TestCloseCodeName(t *testing.T) {
	for _, tc := range []struct {
		code uint16
		want string
	}{
		{0, "Unused"}, {999, "Unused"}, {1000, "Normal Closure"}, {1006, "Abnormal Closure"},
		{1012, "Service Restart"}, {1014, "Bad Gateway"}, {1015, "TLS Handshake"},
		{1016, "Unassigned"}, {2999, "Unassigned"}, {3000, "Registered"}, {4000, "Private Use"},
		{4999, "Private Use"}, {5000, "Out of Range"}, {65535, "Out of Range"},
	} {
		if got := CloseCodeName(tc.code); got != tc.want {
			t.Errorf("CloseCodeName(%d) = %q, want %q", tc.code, got, tc.want)
		}
	}
}
