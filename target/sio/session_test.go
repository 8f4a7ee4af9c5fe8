package sio

import (
	"sync"
	"testing"
	"time"
)

// TestCloseRacingConnect closes sessions while their CONNECT is being
// handled: afterwards the hub must hold no user and no connection of them.
func TestCloseRacingConnect(t *testing.T) {
	m, core := newTestManager(t, Config{SessionsPerIP: 1 << 20, PingInterval: time.Hour, PingTimeout: time.Hour, PollTimeout: time.Hour})
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		s, _, e := m.Open("127.0.0.1", nil)
		if e != nil {
			t.Fatal(e)
		}
		wg.Add(2)
		go func() { defer wg.Done(); _ = m.Post(s.SID(), []byte(`40`)) }()
		go func() { defer wg.Done(); s.close("test", true) }()
	}
	wg.Wait()
	if st := core.hub.Stats(); st.Users != 0 || st.Conns != 0 {
		t.Fatalf("hub after every session closed: %d users, %d connections", st.Users, st.Conns)
	}
	if st := m.Stats(); st.Sessions != 0 {
		t.Fatalf("%d sessions left", st.Sessions)
	}
}
