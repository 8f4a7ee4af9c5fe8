package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/wsbench/wsbench/target/history"
)

type frame struct {
	to      ConnID
	payload string
	class   Class
}

type closeRec struct {
	id     ConnID
	code   uint16
	reason string
}

// recOutbox records every frame per recipient.
type recOutbox struct {
	mu     sync.Mutex
	frames []frame
	closes []closeRec
}

func (o *recOutbox) Deliver(to []ConnID, payload []byte, class Class) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range to {
		o.frames = append(o.frames, frame{id, string(payload), class})
	}
}

func (o *recOutbox) Close(id ConnID, code uint16, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closes = append(o.closes, closeRec{id, code, reason})
}

// take removes and returns the frames delivered to id so far.
func (o *recOutbox) take(id ConnID) []frame {
	o.mu.Lock()
	defer o.mu.Unlock()
	var got, rest []frame
	for _, f := range o.frames {
		if f.to == id {
			got = append(got, f)
		} else {
			rest = append(rest, f)
		}
	}
	o.frames = rest
	return got
}

func newHub(t testing.TB, cfg Config) (*Hub, *recOutbox) {
	t.Helper()
	o := &recOutbox{}
	h, err := NewHub(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return h, o
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("hub sent invalid JSON %q: %v", s, err)
	}
	return m
}

// expect checks that id received exactly the given frames (as JSON objects
// containing at least the listed fields) and returns them.
func expect(t *testing.T, o *recOutbox, id ConnID, want ...string) []map[string]any {
	t.Helper()
	got := o.take(id)
	var out []map[string]any
	if len(got) != len(want) {
		var s []string
		for _, f := range got {
			s = append(s, f.payload)
		}
		t.Fatalf("conn %d got %d frames, want %d:\n%s", id, len(got), len(want), strings.Join(s, "\n"))
	}
	for i, f := range got {
		m := decode(t, f.payload)
		w := decode(t, want[i])
		for k, v := range w {
			if fmt.Sprint(m[k]) != fmt.Sprint(v) {
				t.Fatalf("conn %d frame %d = %s; field %q = %v, want %v", id, i, f.payload, k, m[k], v)
			}
		}
		out = append(out, m)
	}
	return out
}

func send(h *Hub, id ConnID, msg string) { h.Handle(id, []byte(msg)) }

// login opens ids with nicknames u<id> and clears their welcome frames.
func login(t *testing.T, h *Hub, o *recOutbox, ids ...ConnID) {
	t.Helper()
	for _, id := range ids {
		h.Open(id)
		send(h, id, fmt.Sprintf(`{"op":"nick","name":"u%d"}`, id))
		expect(t, o, id, fmt.Sprintf(`{"op":"welcome","name":"u%d"}`, id))
	}
}

func TestNick(t *testing.T) {
	h, o := newHub(t, Config{})
	send(h, 1, `{"op":"nick","name":"alice","id":1}`)
	expect(t, o, 1, `{"op":"welcome","name":"alice"}`, `{"op":"ack","id":1}`)
	send(h, 2, `{"op":"nick","name":"alice","id":"x"}`)
	expect(t, o, 2, `{"op":"error","id":"x","code":"nick_taken"}`)
	// Renaming frees the old name.
	send(h, 1, `{"op":"nick","name":"alice2"}`)
	expect(t, o, 1, `{"op":"welcome","name":"alice2"}`)
	send(h, 2, `{"op":"nick","name":"alice"}`)
	expect(t, o, 2, `{"op":"welcome","name":"alice"}`)
	// Same name again is a no-op welcome.
	send(h, 2, `{"op":"nick","name":"alice"}`)
	expect(t, o, 2, `{"op":"welcome","name":"alice"}`)
	if s := h.Stats(); s.Users != 2 || s.Conns != 2 {
		t.Fatalf("stats %+v, want 2 users 2 conns", s)
	}
	// Closing frees the name.
	h.Closed(2)
	send(h, 3, `{"op":"nick","name":"alice"}`)
	expect(t, o, 3, `{"op":"welcome","name":"alice"}`)
	// Escaped names are decoded before validation.
	send(h, 4, `{"op":"nick","name":"\u0062ob"}`)
	expect(t, o, 4, `{"op":"welcome","name":"bob"}`)
}

func TestNameValidation(t *testing.T) {
	h, o := newHub(t, Config{MaxNameLen: 8, MaxRoomLen: 10})
	cases := []struct {
		msg, code string
	}{
		{`{"op":"nick","name":""}`, "bad_name"},
		{`{"op":"nick","name":"toolongname"}`, "bad_name"},
		{`{"op":"nick","name":"a b"}`, "bad_name"},
		{`{"op":"nick","name":"a#b"}`, "bad_name"},
		{`{"op":"nick","name":"ünï"}`, "bad_name"},
		{`{"op":"nick","name":7}`, "bad_name"},
		{`{"op":"nick"}`, "missing_field"},
	}
	for _, c := range cases {
		send(h, 1, c.msg)
		expect(t, o, 1, `{"op":"error","code":"`+c.code+`"}`)
	}
	send(h, 1, `{"op":"nick","name":"Ab_.-9"}`)
	expect(t, o, 1, `{"op":"welcome","name":"Ab_.-9"}`)
	rooms := []struct {
		msg, code string
	}{
		{`{"op":"join","room":""}`, "bad_name"},
		{`{"op":"join","room":"r12345678901"}`, "bad_name"},
		{`{"op":"join","room":"a/b"}`, "bad_name"},
		{`{"op":"join"}`, "missing_field"},
		{`{"op":"join","room":null}`, "bad_name"},
	}
	for _, c := range rooms {
		send(h, 1, c.msg)
		expect(t, o, 1, `{"op":"error","code":"`+c.code+`"}`)
	}
	send(h, 1, `{"op":"join","room":"#go-1.x_"}`)
	expect(t, o, 1, `{"op":"joined","room":"#go-1.x_","members":1}`)
}

// TestPresenceLimit: rooms larger than PresenceLimit members announce no
// joins or leaves; smaller ones still do.
func TestPresenceLimit(t *testing.T) {
	h, o := newHub(t, Config{PresenceLimit: 2})
	login(t, h, o, 1, 2, 3)
	send(h, 1, `{"op":"join","room":"r"}`)
	send(h, 2, `{"op":"join","room":"r"}`)
	o.take(1)
	o.take(2)
	send(h, 3, `{"op":"join","room":"r"}`) // the room grows to 3 > 2: silent
	expect(t, o, 3, `{"op":"joined","room":"r","members":3}`)
	expect(t, o, 1)
	expect(t, o, 2)
	send(h, 3, `{"op":"leave","room":"r"}`) // 3 members before the leave: silent
	expect(t, o, 3, `{"op":"left","room":"r","members":2}`)
	expect(t, o, 1)
	expect(t, o, 2)
	send(h, 2, `{"op":"leave","room":"r"}`) // 2 members: announced
	expect(t, o, 2, `{"op":"left","room":"r","members":1}`)
	expect(t, o, 1, `{"op":"presence","room":"r","name":"u2","event":"leave","members":1}`)
}

func TestJoinLeavePresence(t *testing.T) {
	h, o := newHub(t, Config{})
	login(t, h, o, 1, 2, 3)
	send(h, 1, `{"op":"join","room":"r","id":10}`)
	expect(t, o, 1, `{"op":"joined","room":"r","members":1}`, `{"op":"ack","id":10}`)
	send(h, 2, `{"op":"join","room":"r"}`)
	expect(t, o, 2, `{"op":"joined","room":"r","members":2}`)
	expect(t, o, 1, `{"op":"presence","room":"r","name":"u2","event":"join","members":2}`)
	send(h, 3, `{"op":"join","room":"other"}`)
	expect(t, o, 3, `{"op":"joined","room":"other","members":1}`)
	expect(t, o, 1)
	expect(t, o, 2)
	// Joining twice answers joined without presence or history.
	send(h, 2, `{"op":"join","room":"r"}`)
	expect(t, o, 2, `{"op":"joined","room":"r","members":2}`)
	expect(t, o, 1)
	send(h, 2, `{"op":"leave","room":"r","id":"l"}`)
	expect(t, o, 2, `{"op":"left","room":"r","members":1}`, `{"op":"ack","id":"l"}`)
	expect(t, o, 1, `{"op":"presence","room":"r","name":"u2","event":"leave","members":1}`)
	send(h, 2, `{"op":"leave","room":"r","id":"l2"}`)
	expect(t, o, 2, `{"op":"error","id":"l2","code":"not_in_room"}`)
	// Disconnect leaves every room with presence to the others.
	send(h, 2, `{"op":"join","room":"r"}`)
	send(h, 2, `{"op":"join","room":"other"}`)
	o.take(1)
	o.take(2)
	o.take(3)
	h.Closed(2)
	expect(t, o, 1, `{"op":"presence","room":"r","name":"u2","event":"leave","members":1}`)
	expect(t, o, 3, `{"op":"presence","room":"other","name":"u2","event":"leave","members":1}`)
	if s := h.Stats(); s.Members != 2 || s.Rooms != 2 {
		t.Fatalf("stats %+v, want 2 members in 2 rooms", s)
	}
	h.Closed(1)
	h.Closed(3)
	if s := h.Stats(); s.Members != 0 || s.Rooms != 0 || s.Held != 0 || s.Users != 0 || s.Conns != 0 {
		t.Fatalf("stats after all closed %+v, want zeros (rooms without history are dropped)", s)
	}
}

func TestSay(t *testing.T) {
	now := time.Unix(100, 5)
	h, o := newHub(t, Config{Now: func() time.Time { return now }})
	login(t, h, o, 1, 2, 3)
	send(h, 1, `{"op":"join","room":"r"}`)
	send(h, 2, `{"op":"join","room":"r"}`)
	send(h, 3, `{"op":"join","room":"q"}`)
	o.take(1)
	o.take(2)
	o.take(3)

	// Unknown fields pass through byte for byte; reserved ones are dropped.
	send(h, 1, `{"op":"say","room":"r","text":"hi \"there\" \u00e9","ts":1.50e3, "seq" : 7,"meta":{"a":[1,true,null]},"from":"forged","id":3}`)
	want := `{"op":"said","room":"r","from":"u1","text":"hi \"there\" \u00e9","srv_ts":100000000005,"ts":1.50e3,"seq" : 7,"meta":{"a":[1,true,null]}}`
	for _, id := range []ConnID{1, 2} {
		got := o.take(id)
		if len(got) == 0 || got[0].payload != want || got[0].class != Chatter {
			t.Fatalf("conn %d got %+v, want said %s", id, got, want)
		}
		if id == 1 && (len(got) != 2 || got[1].payload != `{"op":"ack","id":3}` || got[1].class != Reply) {
			t.Fatalf("sender got %+v, want said then ack", got)
		}
	}
	expect(t, o, 3) // room isolation

	send(h, 1, `{"op":"say","room":"r","text":"x","exclude_self":true}`)
	expect(t, o, 1)
	expect(t, o, 2, `{"op":"said","from":"u1","text":"x"}`)

	send(h, 3, `{"op":"say","room":"r","text":"x","id":4}`)
	expect(t, o, 3, `{"op":"error","id":4,"code":"not_in_room"}`)
	send(h, 1, `{"op":"say","room":"r","id":5}`)
	expect(t, o, 1, `{"op":"error","id":5,"code":"missing_field"}`)
	send(h, 1, `{"op":"say","room":"r","text":5,"id":5}`)
	expect(t, o, 1, `{"op":"error","id":5,"code":"missing_field"}`)
	send(h, 1, `{"op":"say","text":"x","id":6}`)
	expect(t, o, 1, `{"op":"error","id":6,"code":"missing_field"}`)
}

func TestShoutDMEcho(t *testing.T) {
	h, o := newHub(t, Config{})
	login(t, h, o, 1, 2)
	h.Open(3) // no nick: does not get shouts
	send(h, 1, `{"op":"shout","text":"all","seq":1,"id":1}`)
	expect(t, o, 1, `{"op":"shouted","from":"u1","text":"all","seq":1}`, `{"op":"ack","id":1}`)
	expect(t, o, 2, `{"op":"shouted","from":"u1","text":"all","seq":1}`)
	expect(t, o, 3)
	send(h, 1, `{"op":"shout","text":"all","exclude_self":true}`)
	expect(t, o, 1)
	expect(t, o, 2, `{"op":"shouted","from":"u1","text":"all"}`)

	send(h, 2, `{"op":"dm","to":"u1","text":"psst","ts":12,"id":"d"}`)
	got := o.take(1)
	if len(got) != 1 || got[0].class != Reply {
		t.Fatalf("dm recipient got %+v", got)
	}
	m := decode(t, got[0].payload)
	if m["op"] != "dm" || m["from"] != "u2" || m["to"] != "u1" || m["text"] != "psst" || m["ts"] != 12.0 || m["srv_ts"] == nil {
		t.Fatalf("dm = %s", got[0].payload)
	}
	expect(t, o, 2, `{"op":"ack","id":"d"}`)
	send(h, 2, `{"op":"dm","to":"nobody","text":"x","id":2}`)
	expect(t, o, 2, `{"op":"error","id":2,"code":"unknown_user"}`)
	send(h, 2, `{"op":"dm","text":"x","id":2}`)
	expect(t, o, 2, `{"op":"error","id":2,"code":"missing_field"}`)

	// echo works without a nick and returns the very same bytes.
	msg := `{"op":"echo", "x": [1, 2.5e1], "id": 9}`
	send(h, 3, msg)
	got = o.take(3)
	if len(got) != 2 || got[0].payload != msg || got[1].payload != `{"op":"ack","id":9}` {
		t.Fatalf("echo got %+v", got)
	}
}

func TestErrors(t *testing.T) {
	h, o := newHub(t, Config{MaxTextLen: 4, MaxRoomsPerConn: 1})
	cases := []struct {
		msg, want string
	}{
		{`not json`, `{"op":"error","code":"bad_json"}`},
		{`[1,2]`, `{"op":"error","code":"bad_json"}`},
		{`{"op":"say",}`, `{"op":"error","code":"bad_json"}`},
		{`{"op":"nick","id":{}}`, `{"op":"error","code":"bad_json"}`},
		{`{"op":"nick","id":null}`, `{"op":"error","code":"bad_json"}`},
		{"{\"op\":\"echo\",\"x\":\"\xff\"}", `{"op":"error","code":"bad_json"}`},
		{`{"op":1,"id":1}`, `{"op":"error","id":1,"code":"bad_json"}`},
		{`{"id":1}`, `{"op":"error","id":1,"code":"missing_field"}`},
		{`{"op":"fly","id":1}`, `{"op":"error","id":1,"code":"unknown_op"}`},
		{`{"op":"join","room":"r","id":2}`, `{"op":"error","id":2,"code":"no_nick"}`},
		{`{"op":"say","room":"r","text":"x","id":2}`, `{"op":"error","id":2,"code":"no_nick"}`},
	}
	for _, c := range cases {
		send(h, 1, c.msg)
		expect(t, o, 1, c.want)
	}
	login(t, h, o, 1)
	send(h, 1, `{"op":"join","room":"a"}`)
	o.take(1)
	send(h, 1, `{"op":"join","room":"b","id":1}`)
	expect(t, o, 1, `{"op":"error","id":1,"code":"too_many_rooms"}`)
	send(h, 1, `{"op":"say","room":"a","text":"12345","id":2}`)
	expect(t, o, 1, `{"op":"error","id":2,"code":"too_long"}`)
	send(h, 1, `{"op":"shout","text":"12345","id":3}`)
	expect(t, o, 1, `{"op":"error","id":3,"code":"too_long"}`)
	send(h, 1, `{"op":"say","room":"a","text":"1234","id":4}`)
	expect(t, o, 1, `{"op":"said","text":"1234"}`, `{"op":"ack","id":4}`)
	if s := h.Stats(); s.Errors != uint64(len(cases))+3 {
		t.Fatalf("Errors = %d, want %d", s.Errors, len(cases)+3)
	}
}

func TestHistoryForLateJoiners(t *testing.T) {
	h, o := newHub(t, Config{HistorySize: 3})
	login(t, h, o, 1, 2)
	send(h, 1, `{"op":"join","room":"r"}`)
	for i := 1; i <= 5; i++ {
		send(h, 1, fmt.Sprintf(`{"op":"say","room":"r","text":"m%d","seq":%d}`, i, i))
	}
	o.take(1)
	send(h, 2, `{"op":"join","room":"r","id":1}`)
	got := expect(t, o, 2,
		`{"op":"joined","members":2}`,
		`{"op":"said","text":"m3","seq":3,"history":true,"from":"u1"}`,
		`{"op":"said","text":"m4","seq":4,"history":true}`,
		`{"op":"said","text":"m5","seq":5,"history":true}`,
		`{"op":"ack","id":1}`)
	_ = got
	// Live traffic after history carries no history flag.
	send(h, 1, `{"op":"say","room":"r","text":"live"}`)
	live := expect(t, o, 2, `{"op":"said","text":"live"}`)
	if _, ok := live[0]["history"]; ok {
		t.Fatalf("live message flagged as history: %v", live[0])
	}
	if s := h.Stats(); s.History != 3 || s.Rooms != 1 || s.Held != 1 {
		t.Fatalf("stats %+v, want 3 messages in 1 room", s)
	}
	// A room with history survives being empty.
	h.Closed(1)
	h.Closed(2)
	if s := h.Stats(); s.Rooms != 0 || s.Held != 1 {
		t.Fatalf("stats %+v, want 0 active rooms, 1 held", s)
	}
	login(t, h, o, 3)
	send(h, 3, `{"op":"join","room":"r"}`)
	if n := len(o.take(3)); n != 4 {
		t.Fatalf("rejoin of empty room got %d frames, want joined + 3 history", n)
	}
}

// gateStore records appends and lets the test decide when they commit.
type gateStore struct {
	mu    sync.Mutex
	msgs  []string
	dones []func(error)
}

func (s *gateStore) Append(room string, msg []byte, done func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, room+" "+string(msg))
	s.dones = append(s.dones, done)
}
func (s *gateStore) Load(room string, n int) ([][]byte, error) { return nil, nil }
func (s *gateStore) Close() error                              { return nil }

func TestAckAfterPersistence(t *testing.T) {
	st := &gateStore{}
	h, o := newHub(t, Config{Store: st})
	login(t, h, o, 1)
	send(h, 1, `{"op":"join","room":"r"}`)
	o.take(1)
	send(h, 1, `{"op":"say","room":"r","text":"a","id":1}`)
	send(h, 1, `{"op":"say","room":"r","text":"b","id":2}`)
	send(h, 1, `{"op":"say","room":"r","text":"c"}`)
	expect(t, o, 1, `{"op":"said","text":"a"}`, `{"op":"said","text":"b"}`, `{"op":"said","text":"c"}`) // no ack yet
	if len(st.msgs) != 3 || !strings.HasPrefix(st.msgs[0], `r {"op":"said"`) || !strings.HasSuffix(st.msgs[0], `,"history":true}`) {
		t.Fatalf("store got %q", st.msgs)
	}
	st.dones[0](nil)
	expect(t, o, 1, `{"op":"ack","id":1}`)
	st.dones[1](errors.New("disk full"))
	expect(t, o, 1, `{"op":"error","id":2,"code":"internal"}`)
	st.dones[2](nil)
	expect(t, o, 1)
	if s := h.Stats(); s.StoreErrors != 1 {
		t.Fatalf("StoreErrors = %d, want 1", s.StoreErrors)
	}
}

func TestHistoryAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	st, err := history.OpenBolt(path, history.BoltOptions{Retain: 4})
	if err != nil {
		t.Fatal(err)
	}
	h, o := newHub(t, Config{Store: st, HistorySize: 4})
	login(t, h, o, 1)
	send(h, 1, `{"op":"join","room":"r"}`)
	for i := 1; i <= 6; i++ {
		send(h, 1, fmt.Sprintf(`{"op":"say","room":"r","text":"m%d","id":%d}`, i, i))
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks := 0
	for _, f := range o.take(1) {
		if strings.Contains(f.payload, `"op":"ack"`) {
			acks++
		}
	}
	if acks != 6 {
		t.Fatalf("got %d acks after shutdown flush, want 6", acks)
	}

	st2, err := history.OpenBolt(path, history.BoltOptions{Retain: 4})
	if err != nil {
		t.Fatal(err)
	}
	h2, o2 := newHub(t, Config{Store: st2, HistorySize: 4})
	defer h2.Shutdown(context.Background())
	login(t, h2, o2, 7)
	send(h2, 7, `{"op":"join","room":"r"}`)
	expect(t, o2, 7,
		`{"op":"joined","members":1}`,
		`{"op":"said","text":"m3","history":true,"from":"u1"}`,
		`{"op":"said","text":"m4","history":true}`,
		`{"op":"said","text":"m5","history":true}`,
		`{"op":"said","text":"m6","history":true}`)
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	h, o := newHub(t, Config{RateLimit: 5, Now: func() time.Time { return now }})
	for i := 0; i < 10; i++ { // burst = 2 × rate
		send(h, 1, `{"op":"echo","id":1}`)
	}
	if n := len(o.take(1)); n != 20 {
		t.Fatalf("burst: got %d frames, want 20", n)
	}
	send(h, 1, `{"op":"echo","id":2}`)
	expect(t, o, 1, `{"op":"error","id":2,"code":"rate_limited"}`)
	now = now.Add(time.Second) // refills 5 tokens
	for i := 0; i < 5; i++ {
		send(h, 1, `{"op":"echo"}`)
	}
	send(h, 1, `{"op":"echo","id":3}`)
	got := o.take(1)
	if len(got) != 6 || !strings.Contains(got[5].payload, "rate_limited") {
		t.Fatalf("after refill got %+v", got)
	}
	if len(o.closes) != 0 {
		t.Fatalf("closed too early: %+v", o.closes)
	}
	// Abuse: over 10× the limit for 3 seconds in a row closes with 1008.
	for sec := 0; sec < 3; sec++ {
		now = now.Add(time.Second)
		for i := 0; i < 60; i++ {
			send(h, 1, `{"op":"echo"}`)
			now = now.Add(time.Millisecond)
		}
		if sec < 2 && len(o.closes) != 0 {
			t.Fatalf("closed after %d abusive seconds", sec+1)
		}
	}
	if len(o.closes) != 1 || o.closes[0] != (closeRec{1, 1008, "rate limit"}) {
		t.Fatalf("closes = %+v, want one 1008", o.closes)
	}
	if s := h.Stats(); s.AbuseCloses != 1 || s.RateLimited == 0 {
		t.Fatalf("stats %+v", s)
	}
	// A calm connection is never closed.
	o.closes = nil
	for sec := 0; sec < 5; sec++ {
		now = now.Add(time.Second)
		for i := 0; i < 5; i++ {
			send(h, 2, `{"op":"echo"}`)
		}
	}
	if len(o.closes) != 0 {
		t.Fatalf("calm connection closed: %+v", o.closes)
	}
}

// validOutbox fails the test on any frame that is not a JSON object.
type validOutbox struct {
	t        testing.TB
	mu       sync.Mutex
	n        int
	answered int // acks and errors carrying an id
}

func (o *validOutbox) Deliver(to []ConnID, payload []byte, class Class) {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		o.t.Errorf("invalid frame %q: %v", payload, err)
	}
	o.mu.Lock()
	o.n += len(to)
	if _, ok := m["id"]; ok && (m["op"] == "ack" || m["op"] == "error") {
		o.answered += len(to)
	}
	o.mu.Unlock()
}
func (o *validOutbox) Close(ConnID, uint16, string) {}

func TestConcurrent(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testConcurrent(t, nil) })
	t.Run("bolt", func(t *testing.T) {
		st, err := history.OpenBolt(filepath.Join(t.TempDir(), "h.db"), history.BoltOptions{Retain: 5, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		testConcurrent(t, st)
	})
}

func testConcurrent(t *testing.T, st history.Store) {
	out := &validOutbox{t: t}
	h, err := NewHub(Config{HistorySize: 5, Store: st}, out)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				id := ConnID(g*100 + k)
				h.Open(id)
				h.Handle(id, fmt.Appendf(nil, `{"op":"nick","name":"n%d"}`, id))
				for r := 0; r < 3; r++ {
					h.Handle(id, fmt.Appendf(nil, `{"op":"join","room":"r%d"}`, (k+r)%4))
				}
				for i := 0; i < 10; i++ {
					h.Handle(id, fmt.Appendf(nil, `{"op":"say","room":"r%d","text":"t","id":%d}`, (k+i)%4, i))
					h.Handle(id, []byte(`{"op":"shout","text":"s","exclude_self":true}`))
					h.Handle(id, fmt.Appendf(nil, `{"op":"dm","to":"n%d","text":"d"}`, (g+1)%8*100+k))
				}
				h.Handle(id, []byte(`{"op":"leave","room":"r1"}`))
				if k%2 == 0 {
					h.Closed(id)
				}
			}
		}(g)
	}
	wg.Wait()
	for g := 0; g < 8; g++ {
		for k := 1; k < 20; k += 2 {
			h.Closed(ConnID(g*100 + k))
		}
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := h.Stats()
	if out.answered != 8*20*10 {
		t.Fatalf("%d says with an id got %d acks or errors", 8*20*10, out.answered)
	}
	if s.Conns != 0 || s.Users != 0 || s.Members != 0 || s.Rooms != 0 || s.Held != 4 || s.History != 20 {
		t.Fatalf("stats after all closed %+v", s)
	}
	if out.n == 0 || uint64(out.n) != s.Deliveries {
		t.Fatalf("outbox saw %d deliveries, stats say %d", out.n, s.Deliveries)
	}
}

func TestConnStateIsSmall(t *testing.T) {
	// The server's idle budget is 1.5 KiB per connection all told; the hub's
	// share is this struct plus a map entry.
	if s := unsafe.Sizeof(conn{}); s > 128 {
		t.Fatalf("per-connection hub state is %d bytes, want ≤ 128", s)
	}
}

// slowStore's Close waits until released.
type slowStore struct {
	gateStore
	release chan struct{}
}

func (s *slowStore) Close() error { <-s.release; return nil }

func TestShutdownDeadline(t *testing.T) {
	st := &slowStore{release: make(chan struct{})}
	h, _ := newHub(t, Config{Store: st})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a stuck store = %v, want context.Canceled", err)
	}
	close(st.release)
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v, want nil", err)
	}
	if _, err := NewHub(Config{}, nil); err == nil {
		t.Fatal("NewHub accepted a nil Outbox")
	}
	if _, err := NewHub(Config{RateLimit: -1}, &recOutbox{}); err == nil {
		t.Fatal("NewHub accepted a negative rate limit")
	}
}

// TestJoinDuringTraffic checks that a joiner's history ends exactly where its
// live traffic starts while another member keeps talking.
func TestJoinDuringTraffic(t *testing.T) {
	h, o := newHub(t, Config{HistorySize: 20})
	login(t, h, o, 1, 2)
	send(h, 1, `{"op":"join","room":"r"}`)
	const total = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= total; i++ {
			h.Handle(1, fmt.Appendf(nil, `{"op":"say","room":"r","text":"t","seq":%d}`, i))
		}
	}()
	for {
		o.mu.Lock()
		n := len(o.frames)
		o.mu.Unlock()
		if n > 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	send(h, 2, `{"op":"join","room":"r"}`)
	<-done
	var seqs []int
	historyDone := false
	for i, f := range o.take(2) {
		m := decode(t, f.payload)
		if i == 0 {
			if m["op"] != "joined" {
				t.Fatalf("first frame %s, want joined", f.payload)
			}
			continue
		}
		if m["op"] != "said" {
			t.Fatalf("frame %d = %s", i, f.payload)
		}
		_, hist := m["history"]
		if hist && historyDone {
			t.Fatalf("history message after live traffic: %s", f.payload)
		}
		historyDone = historyDone || !hist
		seqs = append(seqs, int(m["seq"].(float64)))
	}
	if len(seqs) < 20 || seqs[len(seqs)-1] != total {
		t.Fatalf("joiner got %d messages ending at %v", len(seqs), seqs[len(seqs)-1:])
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("joiner's stream jumps from seq %d to %d", seqs[i-1], seqs[i])
		}
	}
}

func TestMessageLimitCoversPassThrough(t *testing.T) {
	h, o := newHub(t, Config{MaxMessageLen: 200})
	login(t, h, o, 1)
	send(h, 1, `{"op":"join","room":"r"}`)
	o.take(1)
	send(h, 1, `{"op":"say","room":"r","text":"hi","id":1,"pad":"`+strings.Repeat("x", 300)+`"}`)
	expect(t, o, 1, `{"op":"error","id":1,"code":"too_long"}`)
	send(h, 1, `{"op":"echo","id":2,"pad":"`+strings.Repeat("x", 300)+`"}`)
	expect(t, o, 1, `{"op":"error","id":2,"code":"too_long"}`)
	send(h, 1, `{"op":"say","room":"r","text":"hi","id":3,"pad":"`+strings.Repeat("x", 100)+`"}`)
	expect(t, o, 1, `{"op":"said","text":"hi"}`, `{"op":"ack","id":3}`)
	if st := h.Stats(); st.TooLong != 2 || st.History != 1 {
		t.Fatalf("TooLong %d History %d, want 2 and 1", st.TooLong, st.History)
	}
}

func TestRoomCreatesPerMinute(t *testing.T) {
	now := time.Unix(1000, 0)
	h, o := newHub(t, Config{RoomCreates: 3, Now: func() time.Time { return now }})
	login(t, h, o, 1, 2)
	send(h, 2, `{"op":"join","room":"existing"}`)
	o.take(2)
	for i := 1; i <= 3; i++ {
		send(h, 1, fmt.Sprintf(`{"op":"join","room":"r%d"}`, i))
		send(h, 1, fmt.Sprintf(`{"op":"leave","room":"r%d"}`, i))
	}
	o.take(1)
	send(h, 1, `{"op":"join","room":"r4","id":1}`)
	got := expect(t, o, 1, `{"op":"error","id":1,"code":"too_many_room_creates"}`)
	if msg, _ := got[0]["message"].(string); !strings.Contains(msg, "3 rooms within the last minute") {
		t.Fatalf("error message %q does not say the limit", msg)
	}
	send(h, 1, `{"op":"join","room":"existing","id":2}`) // joining is not creating
	expect(t, o, 1, `{"op":"joined","members":2}`, `{"op":"ack","id":2}`)
	now = now.Add(61 * time.Second)
	send(h, 1, `{"op":"join","room":"r4","id":3}`)
	expect(t, o, 1, `{"op":"joined","members":1}`, `{"op":"ack","id":3}`)
	if st := h.Stats(); st.RoomCreatesLimited != 1 {
		t.Fatalf("RoomCreatesLimited = %d, want 1", st.RoomCreatesLimited)
	}
}

func TestHistoryByteBudgets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	st, err := history.OpenBolt(path, history.BoltOptions{Retain: 50, RetainBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	h, o := newHub(t, Config{Store: st, HistoryRoomBytes: 1000, HistoryTotalBytes: 2500})
	defer h.Shutdown(context.Background())
	login(t, h, o, 1)
	text := strings.Repeat("t", 150)
	for room := 0; room < 6; room++ {
		send(h, 1, fmt.Sprintf(`{"op":"join","room":"r%d"}`, room))
		for i := 0; i < 8; i++ {
			send(h, 1, fmt.Sprintf(`{"op":"say","room":"r%d","text":"%s","n":%d,"id":%d}`, room, text, i, i))
		}
		waitAcks(t, o, 1, 8)
		send(h, 1, fmt.Sprintf(`{"op":"leave","room":"r%d"}`, room))
		s := h.Stats()
		if s.HistoryBytes > 2500 {
			t.Fatalf("after room %d history pins %d bytes, over the 2500-byte total", room, s.HistoryBytes)
		}
	}
	s := h.Stats()
	if s.RoomsEvicted == 0 || s.Held >= 6 {
		t.Fatalf("no idle room evicted: %+v", s)
	}
	h.roomsMu.RLock()
	for name, r := range h.rooms {
		if r.ring.Bytes() > 1000 {
			t.Errorf("room %s pins %d bytes, over the 1000-byte room budget", name, r.ring.Bytes())
		}
	}
	_, held := h.rooms["r0"]
	h.roomsMu.RUnlock()
	if held {
		t.Fatal("the oldest idle room r0 is still held")
	}
	// The evicted room's history comes back from the store on the next join.
	o.take(1)
	send(h, 1, `{"op":"join","room":"r0"}`)
	var hist []string
	for _, f := range o.take(1) {
		if strings.Contains(f.payload, `"history":true`) {
			hist = append(hist, f.payload)
		}
	}
	if len(hist) == 0 || len(hist) >= 8 || !strings.Contains(hist[len(hist)-1], `"n":7`) {
		t.Fatalf("rejoined evicted room: %d history messages, want the newest that fit 1000 bytes:\n%s", len(hist), strings.Join(hist, "\n"))
	}
}

// waitAcks waits until id has received n acks (persisted says ack from the
// store's goroutine) and drops everything it received.
func waitAcks(t *testing.T, o *recOutbox, id ConnID, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	acks := 0
	for acks < n {
		for _, f := range o.take(id) {
			if strings.Contains(f.payload, `"op":"ack"`) {
				acks++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acks", acks, n)
		}
		time.Sleep(time.Millisecond)
	}
}
