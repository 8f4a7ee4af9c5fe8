package chat

import "testing"

func TestHistoryFormRoundTrip(t *testing.T) {
	for _, live := range []string{
		`{"op":"said","room":"r","from":"a","text":"hi","srv_ts":1}`,
		`{"op":"said","room":"r","from":"a","text":"}","srv_ts":1,"history":true}`, // a pass-through field of that name
	} {
		hist := HistoryForm([]byte(live))
		if want := live[:len(live)-1] + historySuffix; string(hist) != want {
			t.Errorf("HistoryForm(%s) = %s, want %s", live, hist, want)
		}
		if back := LiveForm(hist); string(back) != live {
			t.Errorf("LiveForm(HistoryForm(%s)) = %s", live, back)
		}
	}
	if got := LiveForm([]byte("x")); string(got) != "x" {
		t.Errorf("LiveForm of a non-history frame: %s", got)
	}
}
