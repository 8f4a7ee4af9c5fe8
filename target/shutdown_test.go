package target

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsbench/wsbench/target/history"
)

// TestShutdownAcksStoredSaysBeforeClose is issue 10 item 13: a client has
// many persisted says in flight when the server shuts down. Every message
// the store holds afterwards must have been acked before the 1001 close
// frame, every ack must be for a stored message, and nothing may follow the
// close frame on the wire.
func TestShutdownAcksStoredSaysBeforeClose(t *testing.T) {
	t.Run("event loop", func(t *testing.T) { testShutdownAcks(t, false) })
	t.Run("TLS", func(t *testing.T) { testShutdownAcks(t, true) })
}

func testShutdownAcks(t *testing.T, useTLS bool) {
	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	cfg := DefaultConfig()
	cfg.Addr, cfg.Loops, cfg.HistoryDB, cfg.HistorySize = "127.0.0.1:0", 2, db, 5000
	cfg.CloseTimeout = 5 * time.Second
	var pool *x509.CertPool
	if useTLS {
		cfg.TLSCert, cfg.TLSKey, pool = selfSigned(t, dir)
	}
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rc *rawConn
	if useTLS {
		nc, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rc = &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
		rc.write([]byte(upgradeRequest("/chat")))
		if resp := rc.response(); resp.StatusCode != 101 {
			t.Fatalf("upgrade: %d", resp.StatusCode)
		}
	} else {
		rc = upgradeRaw(t, s, "/chat")
	}
	send := func(msg string) { rc.write(clientFrame(true, ws.OpText, []byte(msg))) }
	send(`{"op":"nick","name":"alice"}`)
	send(`{"op":"join","room":"r","id":"joined"}`)
	for {
		_, p, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if string(p) == `{"op":"ack","id":"joined"}` {
			break
		}
	}

	const says = 3000
	var burst []byte
	for i := 0; i < says; i++ {
		burst = append(burst, clientFrame(true, ws.OpText, fmt.Appendf(nil, `{"op":"say","room":"r","text":"m","seq":%d,"id":%d}`, i, i))...)
	}
	// The burst goes out while the server is shutting down: some says are
	// read and stored, some are read after reading stopped, some never.
	go func() { _, _ = rc.nc.Write(burst) }()
	// Shut down as soon as the first say is acked (so the store is in use)
	// while most of the burst is still being read, handled or committed.
	done := make(chan error, 1)
	shutdown := func() { go func() { done <- s.Shutdown(context.Background()) }() }

	acked := map[int]bool{}
	var closeCode uint16
	_ = rc.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for closeCode == 0 {
		h, p, err := rc.readFrame()
		if err != nil {
			t.Fatalf("connection ended without a close frame: %v (%d acks)", err, len(acked))
		}
		switch h.OpCode {
		case ws.OpClose:
			closeCode = 1005
			if len(p) >= 2 {
				closeCode = uint16(p[0])<<8 | uint16(p[1])
			}
		case ws.OpText:
			var m struct {
				Op   string
				ID   *int
				Code string
			}
			if err := json.Unmarshal(p, &m); err != nil {
				t.Fatalf("bad server message %q: %v", p, err)
			}
			switch {
			case m.Op == "ack" && m.ID != nil:
				if len(acked) == 0 {
					shutdown()
				}
				acked[*m.ID] = true
			case m.Op == "error":
				t.Fatalf("error during shutdown: %s", p)
			}
		}
	}
	if closeCode != 1001 {
		t.Fatalf("close code %d, want 1001", closeCode)
	}
	// Complete the close handshake; the server must write nothing more.
	rc.write(clientFrame(true, ws.OpClose, []byte{0x03, 0xe8}))
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := rc.br.ReadByte(); err == nil {
		rest, _ := rc.br.Peek(rc.br.Buffered())
		t.Fatalf("the server wrote after its close frame: %q", append([]byte{b}, rest...))
	} else if !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	st, err := history.OpenBolt(db, history.BoltOptions{Retain: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.Load("r", 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 {
		t.Fatal("no say was stored: the test did not exercise the flush")
	}
	storedSeq := map[int]bool{}
	for _, m := range stored {
		var v struct{ Seq int }
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatalf("stored %q: %v", m, err)
		}
		storedSeq[v.Seq] = true
	}
	missing := 0
	for seq := range storedSeq {
		if !acked[seq] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d stored messages were not acked before the close frame", missing, len(storedSeq))
	}
	for id := range acked {
		if !storedSeq[id] {
			t.Fatalf("say %d was acked but is not in the store", id)
		}
	}
	t.Logf("%d of %d says stored and acked before 1001", len(storedSeq), says)
	if len(storedSeq) == says {
		t.Log("every say was stored: none was in flight at the shutdown this time")
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// TestNothingQueuedAfterCloseFrame checks the write queue's rule directly: once
// a close frame is queued, a late frame (an ack committed by the store after
// the close, a room delivery, a pong) is refused, so the wire carries nothing
// after the close frame.
func TestNothingQueuedAfterCloseFrame(t *testing.T) {
	s := startTest(t, nil)
	rc := upgradeRaw(t, s, "/echo")
	var c *wsConn
	waitFor(t, "the connection in the table", func() bool {
		s.table.mu.RLock()
		defer s.table.mu.RUnlock()
		for _, x := range s.table.slots {
			if x != nil {
				c = x
			}
		}
		return c != nil
	})
	f := s.frames.encodeClose(1001, "bye")
	if !c.enqueueFinalClose(f) {
		t.Fatal("first close frame refused")
	}
	if c.enqueueFinalClose(f) {
		t.Fatal("a second close frame was queued")
	}
	f.release()
	late := s.frames.encode(ws.OpText, []byte(`{"op":"ack","id":1}`))
	if c.push(late, false) {
		t.Fatal("a reply was queued after the close frame")
	}
	c.pushOwn(late)
	late.release()
	c.own.markDirty(c)
	h, p, err := rc.readFrame()
	if err != nil || h.OpCode != ws.OpClose {
		t.Fatalf("first frame %v %q %v, want the close frame", h.OpCode, p, err)
	}
	rc.write(clientFrame(true, ws.OpClose, []byte{0x03, 0xe9}))
	if h, p, err := rc.readFrame(); err == nil {
		t.Fatalf("frame after the close frame: %v %q", h.OpCode, p)
	}
}

// TestShutdownFlushOutOfTime: when the history flush has no time left
// (ctx already done), Shutdown reports it, so `wsbench serve` exits 3, and
// still closes every connection with 1001 and writes nothing after it, even
// though acks of messages the flush commits later are still coming.
func TestShutdownFlushOutOfTime(t *testing.T) {
	db := filepath.Join(t.TempDir(), "history.db")
	cfg := DefaultConfig()
	cfg.Addr, cfg.Loops, cfg.HistoryDB = "127.0.0.1:0", 2, db
	cfg.CloseTimeout = 5 * time.Second
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := upgradeRaw(t, s, "/chat")
	send := func(msg string) { rc.write(clientFrame(true, ws.OpText, []byte(msg))) }
	send(`{"op":"nick","name":"alice"}`)
	send(`{"op":"join","room":"r","id":"joined"}`)
	for i := 0; i < 500; i++ {
		send(fmt.Sprintf(`{"op":"say","room":"r","text":"m","id":%d}`, i))
	}
	send(`{"op":"echo","id":"last"}`) // answered once every say before it was handled
	for {
		_, p, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if string(p) == `{"op":"ack","id":"last"}` {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	if code := rc.expectClose(); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}
	rc.write(clientFrame(true, ws.OpClose, []byte{0x03, 0xe8}))
	if h, p, err := rc.readFrame(); err == nil {
		t.Fatalf("frame after the close frame: %v %q", h.OpCode, p)
	}
	err = <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "flush chat history") {
		t.Fatalf("Shutdown = %v, want the history flush's context.Canceled", err)
	}
}
