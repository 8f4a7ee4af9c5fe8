package scenario

// listener.go runs the background listeners of a scenario on every inbound
// message of a connection: counting matches, recording delivery latency
// from a sender timestamp, and tracking per-sender sequence numbers to
// count lost, duplicated and reordered deliveries.

import (
	"time"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/internal/jsonscan"
	"github.com/wsbench/wsbench/report"
)

// clistener is a Listener with its metric handles.
type clistener struct {
	*Listener
	count *report.Counter // listener.<name>
	lat   *report.Latency // <name>, when LatencyField is set
	unit  int64           // nanoseconds per unit of LatencyField
	plan  fieldPlan       // how to find the fields (listener_scan.go)
}

// listenerState is one listener's state on one connection. It belongs to
// the VU goroutine, which reads the connection.
type listenerState struct {
	l    *clistener
	vars *Vars
	// Sequence state by sender, found by linear search, and through index
	// once there are more than senderIndexFrom senders (listener_scan.go).
	senders []senderTrack
	index   map[string]int32
}

// seqTrack follows one sender's sequence numbers: the highest seen and a
// window of which of the 64 numbers below it have arrived.
type seqTrack struct {
	last   int64
	window uint64 // bit k set: last−1−k has arrived
}

// seqWindow is how far back a late message is still recognised as filling
// an earlier gap (reordered) rather than being counted separately.
const seqWindow = 64

// observe looks at one inbound data message.
func (s *listenerState) observe(op ws.OpCode, msg []byte, now time.Time, m *metrics) {
	l := s.l
	var f [numFields][]byte
	if !l.matchFind(op, msg, s.vars, &f) {
		return
	}
	l.count.Inc()
	if l.lat != nil {
		if ts, ok := parseJSONInt(f[fieldLatency]); ok {
			l.lat.Record(time.Duration(now.UnixNano() - ts*l.unit))
		}
	}
	if l.SeqField == "" {
		return
	}
	seq, ok := parseJSONInt(f[fieldSeq])
	if !ok {
		return
	}
	var sender []byte
	if l.SenderField != "" {
		if sender = f[fieldSender]; sender == nil {
			return
		}
		if len(sender) >= 2 && sender[0] == '"' {
			// A string names the sender by its contents; any other value by
			// its JSON text.
			if sender = sender[1 : len(sender)-1]; hasBackslash(sender) {
				sender = jsonscan.AppendUnescaped(nil, sender)
			}
		}
	}
	t, isNew := s.track(sender, seq)
	if isNew {
		return
	}
	lost, dup, reord := t.add(seq)
	if lost != 0 {
		m.lost.Add(lost)
	}
	if dup {
		m.duplicate.Inc()
	}
	if reord {
		m.reordered.Inc()
	}
}

// add records seq and says what it means: lost is the change to the number
// of missing messages (a gap adds, a late arrival filling it subtracts),
// dup a repeat, reord an arrival after a later number.
func (t *seqTrack) add(seq int64) (lost int64, dup, reord bool) {
	switch {
	case seq == t.last:
		return 0, true, false
	case seq > t.last:
		gap := seq - t.last - 1
		if gap >= seqWindow {
			t.window = 0
		} else {
			// Shift in the previous last (arrived) and gap missing numbers.
			t.window = t.window<<1 | 1
			t.window <<= uint(gap)
		}
		t.last = seq
		return gap, false, false
	}
	back := t.last - 1 - seq // bit index
	if back >= seqWindow {
		return 0, false, true // too old to tell: reordered
	}
	bit := uint64(1) << uint(back)
	if t.window&bit != 0 {
		return 0, true, false
	}
	t.window |= bit
	return -1, false, true // it had been counted lost
}
