package target

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// chatReply is the part of a server message the limit tests look at.
type chatReply struct {
	Op, Code, Message, Text string
	ID                      any
	History                 bool
	N                       int
}

// readUntil reads messages until one with op (and, if id is set, that id);
// it fails on an unexpected error message.
func readUntil(t *testing.T, c *websocket.Conn, op string, id any) chatReply {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m chatReply
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for %s %v: %v", op, id, err)
		}
		if m.Op == op && (id == nil || fmt.Sprint(m.ID) == fmt.Sprint(id)) {
			return m
		}
		if m.Op == "error" {
			t.Fatalf("error while waiting for %s %v: %+v", op, id, m)
		}
	}
}

func TestChatMessageLimitCoversExtraFields(t *testing.T) {
	s := startTest(t, func(c *Config) { c.MaxChatMessage = 1024 })
	c := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "alice", "r")
	defer c.Close()
	// text is short; the pass-through field makes the message 4 KiB.
	if err := c.WriteJSON(map[string]any{"op": "say", "room": "r", "text": "hi", "id": 1, "extra": strings.Repeat("x", 4096)}); err != nil {
		t.Fatal(err)
	}
	m := readUntil(t, c, "error", nil)
	if m.Code != "too_long" || fmt.Sprint(m.ID) != "1" || !strings.Contains(m.Message, "1024") {
		t.Fatalf("oversized say answered %+v, want too_long naming the 1024-byte limit", m)
	}
	if err := c.WriteJSON(map[string]any{"op": "say", "room": "r", "text": "hi", "id": 2, "extra": "small"}); err != nil {
		t.Fatal(err)
	}
	if m := readUntil(t, c, "said", nil); m.Text != "hi" {
		t.Fatalf("said %+v", m)
	}
	readUntil(t, c, "ack", 2)
	if v := metricValue(s, "wsbench_chat_too_long_total"); v != "1" {
		t.Fatalf("wsbench_chat_too_long_total = %q, want 1", v)
	}
	if v := metricValue(s, "wsbench_history_messages"); v != "1" {
		t.Fatalf("wsbench_history_messages = %q, want 1 (the oversized say kept nothing)", v)
	}
}

func TestRoomCreatesLimit(t *testing.T) {
	s := startTest(t, func(c *Config) { c.RoomCreates = 3 })
	c := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "alice", "r0") // first create
	defer c.Close()
	other := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "bob", "bobs")
	defer other.Close()
	for i := 1; i <= 2; i++ {
		room := "r" + strconv.Itoa(i)
		_ = c.WriteJSON(map[string]any{"op": "join", "room": room, "id": i})
		readUntil(t, c, "ack", i)
		_ = c.WriteJSON(map[string]any{"op": "leave", "room": room, "id": 10 + i})
		readUntil(t, c, "ack", 10+i)
	}
	_ = c.WriteJSON(map[string]any{"op": "join", "room": "r3", "id": 20})
	m := readUntil(t, c, "error", nil)
	if m.Code != "too_many_room_creates" || fmt.Sprint(m.ID) != "20" || !strings.Contains(m.Message, "3 rooms within the last minute") {
		t.Fatalf("fourth create answered %+v", m)
	}
	_ = c.WriteJSON(map[string]any{"op": "join", "room": "bobs", "id": 21}) // an existing room
	readUntil(t, c, "ack", 21)
	if v := metricValue(s, "wsbench_room_creates_limited_total"); v != "1" {
		t.Fatalf("wsbench_room_creates_limited_total = %q, want 1", v)
	}
}

// TestHistoryBoundedAndReloaded is the leak of issue 10 item 11 in small:
// join → say → leave over many rooms must keep history under both byte
// bounds, and an evicted room's history must come back from --history-db.
func TestHistoryBoundedAndReloaded(t *testing.T) {
	const roomBytes, totalBytes = 4096, 10000
	db := filepath.Join(t.TempDir(), "history.db")
	s := startTest(t, func(c *Config) {
		c.HistoryDB, c.HistoryRoomBytes, c.HistoryTotal, c.MaxChatMessage = db, roomBytes, totalBytes, 2048
	})
	c := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "alice", "lobby")
	defer c.Close()
	text := strings.Repeat("t", 1000)
	id := 0
	for r := 0; r < 12; r++ {
		room := "r" + strconv.Itoa(r)
		id++
		_ = c.WriteJSON(map[string]any{"op": "join", "room": room, "id": id})
		readUntil(t, c, "ack", id)
		for n := 0; n < 6; n++ {
			id++
			_ = c.WriteJSON(map[string]any{"op": "say", "room": room, "text": text, "n": n, "id": id, "extra": strings.Repeat("e", 500)})
			readUntil(t, c, "ack", id) // persisted: acked after the commit
		}
		id++
		_ = c.WriteJSON(map[string]any{"op": "leave", "room": room, "id": id})
		readUntil(t, c, "ack", id)
		held, _ := strconv.Atoi(metricValue(s, "wsbench_history_bytes"))
		if held > totalBytes {
			t.Fatalf("after %d rooms history holds %d bytes, over --history-total-bytes %d", r+1, held, totalBytes)
		}
	}
	if v, _ := strconv.Atoi(metricValue(s, "wsbench_rooms_evicted_total")); v == 0 {
		t.Fatal("no room without members was evicted from memory")
	}
	if v, _ := strconv.Atoi(metricValue(s, "wsbench_rooms_held")); v >= 13 {
		t.Fatalf("wsbench_rooms_held = %d: every room is still in memory", v)
	}

	// r0 went idle first, so it was evicted; a new joiner gets its history
	// back from the store, cut to the per-room byte bound.
	b := chatClient(t, websocket.DefaultDialer, s.URL("/chat"), "bob", "r0")
	defer b.Close()
	_ = b.WriteJSON(map[string]any{"op": "say", "room": "r0", "text": "live", "id": "end"})
	var hist []chatReply
	for {
		_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m chatReply
		if err := b.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Op == "said" && m.History {
			hist = append(hist, m)
		}
		if m.Op == "said" && m.Text == "live" {
			break
		}
	}
	if len(hist) == 0 || len(hist) >= 6 || hist[len(hist)-1].N != 5 {
		t.Fatalf("rejoining evicted room r0 gave %d history messages (last %+v), want the newest that fit %d bytes", len(hist), hist, roomBytes)
	}
}
