package target

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
	"github.com/wsbench/wsbench/internal/wsproto"
)

// FuzzInflate holds the server's inflate (klauspost flate, with the size
// limit and the RFC 7692 tail) to the standard library's compress/flate:
// whatever the input, no panic, never more than the limit, and when
// compress/flate inflates the message within the limit, the same bytes.
func FuzzInflate(f *testing.F) {
	f.Add([]byte{0}, uint16(100), false)
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, uint16(100), false) // "Hello"
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(10), true)
	f.Add(bytes.Repeat([]byte{0x62, 0x18, 0x05, 0xa3, 0x60}, 20), uint16(64), false)
	f.Add([]byte{0x4b, 0x4c, 0x04, 0x02, 0x00}, uint16(3), true)
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, takeover bool) {
		st := &pmdConn{serverBits: 15, clientBits: 9, takeover: takeover}
		if takeover {
			st.win = []byte("a dictionary the previous message left behind")
		}
		in := &inflater{}
		out, fe := in.inflate(data, st, int(limit))
		if len(out) > int(limit) {
			t.Fatalf("inflated %d bytes past the limit %d", len(out), limit)
		}
		var dict []byte
		if takeover {
			dict = []byte("a dictionary the previous message left behind")
		}
		var src wsproto.TailReader // a ByteReader: compress/flate reads no further than it needs
		src.Reset(data)
		ref := flate.NewReaderDict(&src, dict)
		want, err := io.ReadAll(io.LimitReader(ref, int64(limit)+1))
		trailing := src.Unread() > 0 // bytes after a final block
		switch {
		case err == nil && len(want) > int(limit):
			if fe != errInflateBig {
				t.Fatalf("over the limit: got %v, want 1009", fe)
			}
		case err == nil && trailing:
			if fe == nil {
				t.Fatalf("data after the final block accepted")
			}
		case err == nil:
			if fe != nil {
				t.Fatalf("compress/flate inflates %q, the server fails: %v", want, fe)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("inflated %q, compress/flate %q", out, want)
			}
		case fe == nil:
			t.Fatalf("compress/flate fails (%v), the server inflates %q", err, out)
		}
		if fe == nil && takeover && len(st.win) > 1<<st.clientBits {
			t.Fatalf("window grew to %d bytes, over 2^%d", len(st.win), st.clientBits)
		}
		// The same inflater keeps working after whatever happened.
		in.src.Reset(nil)
		st2 := &pmdConn{serverBits: 15, clientBits: 15}
		if got, fe := in.inflate([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, st2, 100); fe != nil || string(got) != "Hello" {
			t.Fatalf("inflater broken after that input: %q %v", got, fe)
		}
	})
}

// FuzzDeflateFrames is FuzzFrames on a connection that negotiated
// permessage-deflate (with or without client context takeover): compressed
// or not, fragmented or not, malformed or bombs, the connection code never
// panics and releases everything.
func FuzzDeflateFrames(f *testing.F) {
	f.Add(rawFrame(true, rsv1, 0x1, true, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), uint16(3), false)
	f.Add(append(rawFrame(false, rsv1, 0x1, true, []byte{0xf2, 0x48, 0xcd}), rawFrame(true, 0, 0x0, true, []byte{0xc9, 0xc9, 0x07, 0x00})...), uint16(7), true)
	f.Add(rawFrame(true, rsv1, 0x9, true, nil), uint16(1), false)
	f.Add(rawFrame(true, rsv1, 0x1, true, []byte{0xff, 0xff}), uint16(100), true)
	f.Add(rawFrame(true, 0, 0x1, true, []byte(`{"op":"nick","name":"a"}`)), uint16(9), true)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, takeover bool) {
		s := offlineServer(t, 64<<10)
		s.cfg.CompressionMinSize = 0
		if takeover {
			s.cfg.CompressionTakeover = 1
		}
		own := &listOwner{}
		c := s.offlineConn(own)
		sc := newScratch()
		var in tlsInput
		in.b = append(in.b, upgradeRequestExt("/echo", "permessage-deflate; client_max_window_bits=9")...)
		c.process(&in)
		if c.state != stOpen || c.pmd == nil || c.pmd.takeover != takeover {
			t.Fatalf("upgrade: state %d, deflate %+v", c.state, c.pmd)
		}
		own.flushAll(sc)
		c.flush(sc)
		feedChunks(c, &in, own, sc, data, chunk)
		if c.pmd.takeover && len(c.pmd.win) > 1<<9 {
			t.Fatalf("window of %d bytes, negotiated 2^9", len(c.pmd.win))
		}
		s.connGone(c)
		if n := s.m.pmd.conns.Load(); n != 0 {
			t.Fatalf("compressed connections gauge %d after the connection is gone", n)
		}
		if n := s.m.pmd.takeover.Load(); n != 0 {
			t.Fatalf("takeover gauge %d after the connection is gone", n)
		}
		if n := s.m.outQueued.Load(); n != 0 {
			t.Fatalf("queued-bytes gauge %d after the connection is gone", n)
		}
	})
}

// FuzzNegotiateDeflate: any Sec-WebSocket-Extensions value either gets no
// answer or an answer that is one well-formed permessage-deflate response
// (gobwas/ws's wsflate parses it) with both context-takeover parameters or
// a takeover place, and window bits the client offered.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, sd := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
		`permessage-deflate; server_max_window_bits="12", permessage-deflate`,
		"x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover",
		"permessage-deflate; mystery, permessage-deflate; server_no_context_takeover",
		"permessage-deflate;;=,",
	} {
		f.Add(sd, false)
	}
	f.Fuzz(func(t *testing.T, value string, takeover bool) {
		s := offlineServer(t, 1<<20)
		if takeover {
			s.cfg.CompressionTakeover = 1
		}
		p, answer := s.negotiateDeflate([][]byte{[]byte(value)})
		if p == nil {
			if answer != "" {
				t.Fatalf("an answer %q without state", answer)
			}
			return
		}
		line, ok := strings.CutPrefix(answer, "Sec-WebSocket-Extensions: ")
		if !ok || !strings.HasSuffix(line, "\r\n") || strings.Count(answer, "\r\n") != 1 {
			t.Fatalf("answer %q is not one header line", answer)
		}
		opts, ok := httphead.ParseOptions([]byte(strings.TrimSuffix(line, "\r\n")), nil)
		if !ok || len(opts) != 1 {
			t.Fatalf("answer %q: %d options", answer, len(opts))
		}
		var prm wsflate.Parameters
		if err := prm.Parse(opts[0]); err != nil {
			t.Fatalf("answer %q: %v", answer, err)
		}
		if !prm.ServerNoContextTakeover || prm.ClientNoContextTakeover == p.takeover {
			t.Fatalf("answer %q with takeover=%v", answer, p.takeover)
		}
		if p.takeover && !takeover {
			t.Fatalf("takeover granted without a place")
		}
		if p.serverBits < 8 || p.serverBits > 15 || p.clientBits < 8 || p.clientBits > 15 {
			t.Fatalf("window bits %d/%d", p.serverBits, p.clientBits)
		}
		if prm.ServerMaxWindowBits.Defined() && int(prm.ServerMaxWindowBits) != int(p.serverBits) {
			t.Fatalf("answer %q, server compresses with %d bits", answer, p.serverBits)
		}
	})
}
