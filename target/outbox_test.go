package target

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbench/wsbench/target/chat"
)

// blockedSink accepts nothing: everything stays queued, like a peer that
// never reads.
type blockedSink struct{}

func (blockedSink) writev([][]byte) error { return nil }
func (blockedSink) buffered() int         { return 1 << 30 }

func TestOutboxLimits(t *testing.T) {
	s := offlineServer(t, 1<<20)
	s.cfg.OutboundLimit = 1000
	own := &listOwner{}
	c := s.offlineConn(own)
	c.out = blockedSink{}
	c.state = stOpen
	ob := outbox{s}
	to := []chat.ConnID{chat.ConnID(c.id), chat.ConnID(c.id + 1<<40)} // the second is unknown
	payload := make([]byte, 300)
	for i := 0; i < 10; i++ {
		ob.Deliver(to, payload, chat.Chatter)
	}
	c.mu.Lock()
	queued, over := len(c.q), c.overSince
	c.mu.Unlock()
	if queued != 4 { // 0, 302, 604, 906 bytes queued before each push: the 5th is over
		t.Fatalf("queued %d chatter frames, want 4", queued)
	}
	if got := s.m.drops.Load(); got != 6 {
		t.Fatalf("drops = %d, want 6", got)
	}
	if over == 0 {
		t.Fatal("overSince not set")
	}
	// Replies are never dropped ...
	ob.Deliver(to[:1], payload, chat.Reply)
	c.mu.Lock()
	queued = len(c.q)
	c.mu.Unlock()
	if queued != 5 {
		t.Fatalf("reply was dropped: %d queued", queued)
	}
	// ... up to the hard cap of 4x the limit, which kills the connection.
	for i := 0; i < 20; i++ {
		ob.Deliver(to[:1], payload, chat.Reply)
	}
	c.mu.Lock()
	kill, qb := c.kill, c.qBytes
	c.mu.Unlock()
	if !kill || qb > 4*s.cfg.OutboundLimit+len(payload)+10 {
		t.Fatalf("kill=%v with %d bytes queued", kill, qb)
	}
	if c.flush(newScratch()) {
		t.Fatal("killed connection closed before its close frame could leave")
	}
	if c.state != stClosing {
		t.Fatalf("killed connection in state %d, want closing (waiting for the close reply)", c.state)
	}
	if s.m.slowDisconnect.Load() != 1 {
		t.Fatal("slow disconnect not counted")
	}
	c.mu.Lock()
	n := len(c.q)
	var last []byte
	if n > 0 {
		last = c.q[n-1].b
	}
	c.mu.Unlock()
	if n != 1 || len(last) < 4 || last[0] != 0x88 || int(last[2])<<8|int(last[3]) != 1008 {
		t.Fatalf("%d frames queued after the slow close (last % x), want the 1008 close frame alone", n, last)
	}
	// Nothing may follow the close frame: neither chatter nor replies.
	ob.Deliver(to[:1], payload, chat.Reply)
	ob.Deliver(to[:1], payload, chat.Chatter)
	c.mu.Lock()
	n = len(c.q)
	c.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d frames queued after the close frame, want none", n)
	}
	if got := s.m.outQueued.Load(); got != int64(len(last)) {
		t.Fatalf("queued-bytes gauge %d, want %d (the close frame)", got, len(last))
	}
	s.connGone(c)
	if got := s.m.outQueued.Load(); got != 0 {
		t.Fatalf("queued-bytes gauge %d after the connection is gone, want 0", got)
	}
}

func TestOutboxCloseFromHub(t *testing.T) {
	s := startTest(t, nil)
	g, _, err := websocket.DefaultDialer.Dial(s.URL("/chat"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	waitFor(t, "connection registered", func() bool { return s.hubStats() != HubStats{} || s.m.upgradesOK.Load() == 1 })
	var id uint64
	s.table.mu.RLock()
	for _, c := range s.table.slots {
		if c != nil {
			id = c.id
		}
	}
	s.table.mu.RUnlock()
	outbox{s}.Close(chat.ConnID(id), 4000, "go away")
	_ = g.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = g.ReadMessage()
	var ce *websocket.CloseError
	if !asCloseError(err, &ce) || ce.Code != 4000 || ce.Text != "go away" {
		t.Fatalf("want close 4000 \"go away\", got %v", err)
	}
	waitFor(t, "socket closed after the close reply", func() bool { return s.m.connsCurrent.Load() == 0 })
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	*ce = c
	return ok
}
