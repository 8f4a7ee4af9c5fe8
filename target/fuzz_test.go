package target

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// discardSink is a sink that accepts everything (no socket).
type discardSink struct{ bytes int }

func (d *discardSink) writev(bufs [][]byte) error {
	for _, b := range bufs {
		d.bytes += len(b)
	}
	return nil
}
func (d *discardSink) buffered() int { return 0 }

// listOwner records dirty connections; the test or benchmark flushes them.
type listOwner struct{ dirty []*wsConn }

func (o *listOwner) markDirty(c *wsConn) {
	if c.dirty.CompareAndSwap(false, true) {
		o.dirty = append(o.dirty, c)
	}
}

func (o *listOwner) handled() {}

func (o *listOwner) flushAll(sc *scratch) {
	for i, c := range o.dirty {
		c.dirty.Store(false)
		c.flush(sc)
		o.dirty[i] = nil
	}
	o.dirty = o.dirty[:0]
}

// offlineServer is a Server with a real chat hub but no sockets, for fuzzing
// and benchmarks of the connection code.
func offlineServer(tb testing.TB, maxMessage int) *Server {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.MaxMessage = maxMessage
	cfg.HistorySize = 0
	s := &Server{cfg: cfg, m: newMetrics(), start: time.Now()}
	s.sweepEvery = sweepInterval(cfg)
	h, err := newHub(cfg, s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s.hub = h
	return s
}

func (s *Server) offlineConn(own owner) *wsConn {
	c := &wsConn{srv: s, own: own, out: &discardSink{}, loopIdx: -1}
	s.table.add(c)
	return c
}

// feedChunks hands an open offline connection data (at most 16 KiB, which
// keeps minimisation of large inputs quick) in pieces of chunk%512+1
// bytes, flushing after each, until it is used up or the connection is to
// be closed.
func feedChunks(c *wsConn, in *tlsInput, own *listOwner, sc *scratch, data []byte, chunk uint16) {
	if len(data) > 16<<10 {
		data = data[:16<<10]
	}
	step := int(chunk%512) + 1
	for len(data) > 0 {
		n := min(step, len(data))
		in.b = append(in.b, data[:n]...)
		data = data[n:]
		c.process(in)
		in.compact()
		own.flushAll(sc)
		c.flush(sc)
		if c.closeAfter {
			return
		}
	}
}

func FuzzFrames(f *testing.F) {
	seeds := [][]byte{
		clientFrame(true, ws.OpText, []byte("hello")),
		clientFrame(true, ws.OpText, []byte(`{"op":"nick","name":"a"}`)),
		append(clientFrame(false, ws.OpText, []byte("he")), clientFrame(true, ws.OpContinuation, []byte("llo"))...),
		clientFrame(true, ws.OpPing, []byte("p")),
		clientFrame(true, ws.OpClose, []byte{3, 232, 'o', 'k'}),
		clientFrame(true, ws.OpClose, []byte{3}),
		rawFrame(true, 0, ws.OpText, false, []byte("x")),
		rawFrame(true, 7, 0xf, true, []byte("x")),
		clientFrame(true, ws.OpBinary, make([]byte, 300)),
		[]byte{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0x11, 0x70, 1, 2, 3, 4, 0, 0},
		{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		clientFrame(true, ws.OpText, []byte{0xff}),
	}
	for i, sd := range seeds {
		f.Add(sd, uint16(i*7+1), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, chat bool) {
		s := offlineServer(t, 64<<10)
		own := &listOwner{}
		c := s.offlineConn(own)
		sc := newScratch()
		path := "/echo"
		if chat {
			path = "/chat"
		}
		var in tlsInput
		in.b = append(in.b, upgradeRequest(path)...)
		c.process(&in)
		if c.state != stOpen {
			t.Fatalf("upgrade failed: state %d", c.state)
		}
		feedChunks(c, &in, own, sc, data, chunk)
		s.connGone(c)
		c.mu.Lock()
		if len(c.q) != 0 || c.qBytes != 0 {
			t.Fatalf("queue not released: %d frames, %d bytes", len(c.q), c.qBytes)
		}
		c.mu.Unlock()
		if n := s.m.outQueued.Load(); n != 0 {
			t.Fatalf("queued-bytes gauge %d after the connection is gone", n)
		}
	})
}
