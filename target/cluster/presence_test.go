package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// newTestNode is a Node without a NATS connection, for the parsers.
func newTestNode() *Node {
	return &Node{
		cfg: Config{NodeTTL: time.Minute}, id: "me",
		local: make(map[string]int), dirty: make(map[string]struct{}), remote: make(map[string]map[string]remoteCount),
	}
}

func TestHeardMembers(t *testing.T) {
	n := newTestNode()
	n.heardMembers("a", []byte("lobby 3\n=23x 2\nbroken\nneg -1\nnan x\n"))
	n.heardMembers("b", []byte("lobby 4\n"))
	if got := n.RemoteMembers("lobby"); got != 7 {
		t.Errorf("lobby: %d, want 7", got)
	}
	if got := n.RemoteMembers("#x"); got != 2 {
		t.Errorf("#x: %d, want 2", got)
	}
	if got := n.Members("lobby", 1); got != 8 {
		t.Errorf("Members with one local: %d, want 8", got)
	}
	n.heardMembers("a", []byte("lobby 0\n"))
	if got := n.RemoteMembers("lobby"); got != 4 {
		t.Errorf("after a's leave: %d, want 4", got)
	}
	n.heardMembers("b", []byte("bye"))
	if got := n.RemoteMembers("lobby"); got != 0 {
		t.Errorf("after b's bye: %d, want 0", got)
	}
	// Counts not refreshed within NodeTTL no longer count, and are swept.
	n.heardMembers("c", []byte("old 5\n"))
	n.remote["c"]["old"] = remoteCount{n: 5, seen: time.Now().Add(-2 * time.Minute)}
	if got := n.RemoteMembers("old"); got != 0 {
		t.Errorf("stale count: %d, want 0", got)
	}
	n.sweepMembers(time.Now())
	if _, ok := n.remote["c"]; ok {
		t.Error("a node with only stale counts was not swept")
	}
}

func TestPubAckError(t *testing.T) {
	ok := &nats.Msg{Data: []byte(`{"stream":"s","seq":3}`)}
	if err := pubAckError(ok); err != nil {
		t.Errorf("PubAck: %v", err)
	}
	for _, m := range []*nats.Msg{
		{Data: []byte(`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`)},
		{Data: []byte(`not json`)},
		{Data: []byte(`{}`)},
		{Header: nats.Header{"Status": []string{"503"}}},
	} {
		if err := pubAckError(m); err == nil {
			t.Errorf("%q %v: no error", m.Data, m.Header)
		}
	}
}

// FuzzHeardMembers: no members payload from another node panics or counts
// negative members.
func FuzzHeardMembers(f *testing.F) {
	for _, s := range []string{"lobby 3\n", "bye", "", "a=2 1\n", "x 99999999999999999999\n", "\n\n \n", "r -3\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		n := newTestNode()
		n.heardMembers("x", []byte(data))
		for _, rooms := range n.remote {
			for r, c := range rooms {
				if c.n <= 0 {
					t.Fatalf("room %q counted %d", r, c.n)
				}
				if got := n.RemoteMembers(r); got < 0 {
					t.Fatal(fmt.Sprint("negative total ", got))
				}
			}
		}
	})
}
