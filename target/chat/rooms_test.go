package chat

import (
	"fmt"
	"testing"
)

// TestRooms lists the rooms with members, the largest first (ties by name),
// without idle rooms kept for their history, before a nickname too, and
// capped at MaxListedRooms with the full count in total.
func TestRooms(t *testing.T) {
	h, o := newHub(t, Config{RoomCreates: 1000})
	h.Open(9)
	send(h, 9, `{"op":"rooms","id":1}`) // allowed without a nickname
	expect(t, o, 9, `{"op":"rooms","rooms":[],"total":0}`, `{"op":"ack","id":1}`)

	login(t, h, o, 1, 2, 3)
	for _, j := range []struct {
		id   ConnID
		room string
	}{{1, "#b"}, {2, "#b"}, {3, "#b"}, {1, "#a"}, {2, "#c"}, {3, "#gone"}} {
		send(h, j.id, fmt.Sprintf(`{"op":"join","room":%q}`, j.room))
	}
	send(h, 3, `{"op":"say","room":"#gone","text":"kept in history"}`)
	send(h, 3, `{"op":"leave","room":"#gone"}`) // idle: held for its history, no members
	o.take(1)
	o.take(2)
	o.take(3)
	if s := h.Stats(); s.Held != 4 {
		t.Fatalf("held %d rooms, want 4 (#gone kept for its history)", s.Held)
	}
	send(h, 1, `{"op":"rooms"}`)
	got := expect(t, o, 1, `{"op":"rooms","total":3}`)
	want := `[map[members:3 room:#b] map[members:1 room:#a] map[members:1 room:#c]]`
	if fmt.Sprint(got[0]["rooms"]) != want {
		t.Fatalf("rooms = %v, want %s", got[0]["rooms"], want)
	}
	expect(t, o, 2)
	expect(t, o, 3)

	h.Closed(2)
	send(h, 9, `{"op":"rooms"}`)
	got = expect(t, o, 9, `{"op":"rooms","total":2}`)
	if want := `[map[members:2 room:#b] map[members:1 room:#a]]`; fmt.Sprint(got[0]["rooms"]) != want {
		t.Fatalf("after a close: rooms = %v, want %s", got[0]["rooms"], want)
	}
}

func TestRoomsCapped(t *testing.T) {
	h, o := newHub(t, Config{RoomCreates: 1000, MaxRoomsPerConn: 1})
	n := MaxListedRooms + 5
	for i := range n {
		id := ConnID(i + 1)
		h.Open(id)
		send(h, id, fmt.Sprintf(`{"op":"nick","name":"u%d"}`, id))
		send(h, id, fmt.Sprintf(`{"op":"join","room":"r%03d"}`, i))
		if i == n-1 { // the last room is the largest
			send(h, 1000, `{"op":"nick","name":"extra"}`)
			send(h, 1000, fmt.Sprintf(`{"op":"join","room":"r%03d"}`, i))
		}
	}
	send(h, 1000, `{"op":"rooms"}`)
	fr := o.take(1000)
	m := decode(t, fr[len(fr)-1].payload)
	rooms := m["rooms"].([]any)
	if len(rooms) != MaxListedRooms || m["total"] != float64(n) {
		t.Fatalf("listed %d rooms of total %v, want %d of %d", len(rooms), m["total"], MaxListedRooms, n)
	}
	first := rooms[0].(map[string]any)
	if first["room"] != fmt.Sprintf("r%03d", n-1) || first["members"] != float64(2) {
		t.Fatalf("first listed room %v, want the largest, r%03d with 2 members", first, n-1)
	}
}
