package target

// permessage-deflate (RFC 7692) for /chat and /echo.
//
// The server never keeps a compression context: every response carries
// server_no_context_takeover, so an outgoing message compresses the same
// for every recipient and a broadcast is compressed once per window size
// asked (in practice once), not once per member. A compressed frame is a
// shared, reference-counted frame like any other.
//
// The client keeps no context either unless --compression-takeover allows
// it: past that many connections (0 by default) the response carries
// client_no_context_takeover, so inflating needs no state between messages
// and an idle compressed connection costs what an uncompressed one does.
// A connection allowed to keep its context holds the last 2^client_max_window_bits
// bytes it sent (32 KiB unless negotiated smaller), used as the dictionary
// of a pooled decompressor for its next message.

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/klauspost/compress/flate"

	"github.com/wsbench/wsbench/internal/wsproto"
)

const (
	pmdName = "permessage-deflate"
	// rsv1 is RSV1 as ws.Header.Rsv holds it: the per-message compressed bit.
	rsv1 = 0x4
	// maxWindowBits is DEFLATE's largest LZ77 window, 32 KiB.
	maxWindowBits = 15
	// maxExtensionHeaders bounds the Sec-WebSocket-Extensions headers read
	// from one request; offers in further headers are declined.
	maxExtensionHeaders = 4
)

var (
	errRSV1Control = &frameError{ws.StatusProtocolError, "RSV1 set on a control frame"}
	errRSV1Cont    = &frameError{ws.StatusProtocolError, "RSV1 set on a continuation frame"}
	errInflate     = &frameError{ws.StatusInvalidFramePayloadData, "invalid compressed data"}
	errInflateBig  = &frameError{ws.StatusMessageTooBig, "inflated message too big"}
)

// pmdConn is the permessage-deflate state of one connection; nil on a
// connection that did not negotiate it.
type pmdConn struct {
	serverBits uint8  // window the server compresses with (server_max_window_bits; 15 unless asked)
	clientBits uint8  // window the client compresses with (client_max_window_bits; 15 unless offered)
	takeover   bool   // the client keeps its LZ77 context across messages
	inMsg      bool   // the data message being read is compressed (RSV1 on its first frame)
	win        []byte // takeover: the last 2^clientBits bytes inflated, the next message's dictionary
}

// pmdOffer is one parsed permessage-deflate offer.
type pmdOffer struct {
	serverNoCtx, clientNoCtx bool
	serverBits               uint8 // 0 = not asked
	clientBits               uint8 // client_max_window_bits' value; 0 = absent or without a value
}

// parsePMDOffer reads the parameters of one offer. It reports false for an
// offer the server must decline (RFC 7692 §5.1, §7.1): an unknown
// parameter, a duplicate, or a bad value.
func parsePMDOffer(opt httphead.Option) (o pmdOffer, ok bool) {
	var seen uint8
	ok = true
	opt.Parameters.ForEach(func(key, val []byte) bool {
		var bit uint8
		switch string(key) {
		case "server_no_context_takeover":
			bit = 1
			o.serverNoCtx = true
			ok = len(val) == 0
		case "client_no_context_takeover":
			bit = 2
			o.clientNoCtx = true
			ok = len(val) == 0
		case "server_max_window_bits":
			bit = 4
			o.serverBits, ok = windowBits(val)
		case "client_max_window_bits":
			bit = 8
			if len(val) > 0 {
				o.clientBits, ok = windowBits(val)
			}
		default:
			ok = false
		}
		if seen&bit != 0 {
			ok = false
		}
		seen |= bit
		return ok
	})
	return o, ok
}

// windowBits parses a max_window_bits value: a decimal 8 to 15 (RFC 7692
// §7.1.2), without sign or leading zeros.
func windowBits(v []byte) (uint8, bool) {
	if len(v) == 1 && v[0] >= '8' && v[0] <= '9' {
		return v[0] - '0', true
	}
	if len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
		return 10 + v[1] - '0', true
	}
	return 0, false
}

// negotiateDeflate accepts the first permessage-deflate offer the server
// can honour among the Sec-WebSocket-Extensions values exts, and returns
// the connection's state and the response header line (with CRLF). It
// returns nil when compression is off, nothing was offered, or every offer
// had to be declined; the upgrade then goes on without the extension.
func (s *Server) negotiateDeflate(exts [][]byte) (*pmdConn, string) {
	if !s.cfg.Compression {
		return nil, ""
	}
	for _, value := range exts {
		var store [8]httphead.Option
		opts, ok := httphead.ParseOptions(value, store[:0])
		if !ok {
			continue // a malformed header holds no offer we can read
		}
		for _, opt := range opts {
			if !bytes.Equal(opt.Name, []byte(pmdName)) {
				continue
			}
			o, ok := parsePMDOffer(opt)
			if !ok {
				continue
			}
			return s.acceptOffer(o)
		}
	}
	return nil, ""
}

// acceptOffer builds the state and the response for an acceptable offer.
// Every parameter value the server can be asked for it can honour:
// server_max_window_bits by compressing with a window that small, either
// way of client context takeover, and any client window.
func (s *Server) acceptOffer(o pmdOffer) (*pmdConn, string) {
	p := &pmdConn{serverBits: maxWindowBits, clientBits: maxWindowBits}
	takeover := !o.clientNoCtx && s.grantTakeover()
	s.m.pmd.conns.Add(1)
	if o.serverBits == 0 && !takeover {
		return p, pmdAnswer // the usual answer, without building it
	}
	resp := []byte("Sec-WebSocket-Extensions: " + pmdName + "; server_no_context_takeover")
	if o.serverBits != 0 {
		p.serverBits = o.serverBits
		resp = append(resp, "; server_max_window_bits="...)
		resp = strconv.AppendUint(resp, uint64(o.serverBits), 10)
	}
	if takeover {
		p.takeover = true
		if o.clientBits != 0 {
			// The client will use at most this window; saying it back
			// keeps the dictionary it needs from us that small.
			p.clientBits = o.clientBits
			resp = append(resp, "; client_max_window_bits="...)
			resp = strconv.AppendUint(resp, uint64(o.clientBits), 10)
		}
	} else {
		// Either the client offered it or the server asks it (RFC 7692
		// §7.1.1.2 lets a response include it unasked): no state lives
		// between the client's messages.
		resp = append(resp, "; client_no_context_takeover"...)
	}
	return p, string(append(resp, "\r\n"...))
}

// pmdAnswer is the answer to an offer without server_max_window_bits from a
// connection without a takeover place.
const pmdAnswer = "Sec-WebSocket-Extensions: " + pmdName + "; server_no_context_takeover; client_no_context_takeover\r\n"

// grantTakeover takes one of the --compression-takeover places.
func (s *Server) grantTakeover() bool {
	limit := int64(s.cfg.CompressionTakeover)
	if limit <= 0 {
		return false
	}
	if s.m.pmd.takeover.Add(1) > limit {
		s.m.pmd.takeover.Add(-1)
		return false
	}
	return true
}

// pmdGone releases a closed connection's share of the compression gauges.
func (s *Server) pmdGone(c *wsConn) {
	if c.pmd == nil {
		return
	}
	s.m.pmd.conns.Add(-1)
	if c.pmd.takeover {
		s.m.pmd.takeover.Add(-1)
	}
	c.pmd.win = nil
}

// withExtension inserts header (a full line with CRLF) into the 101
// response resp built by appendAccept.
func withExtension(resp []byte, header string) []byte {
	if len(header) == 0 {
		return resp
	}
	resp = resp[:len(resp)-2] // the blank line
	resp = append(resp, header...)
	return append(resp, "\r\n"...)
}

// checkRSV validates the RSV bits of a client frame on a connection with
// permessage-deflate, and returns the header with RSV1 cleared where it is
// allowed (the first frame of a data message), for checkHeader.
func (p *pmdConn) checkRSV(h ws.Header) (ws.Header, *frameError) {
	if h.Rsv&rsv1 == 0 {
		return h, nil
	}
	if h.OpCode.IsControl() {
		return h, errRSV1Control
	}
	if h.OpCode == ws.OpContinuation {
		return h, errRSV1Cont
	}
	h.Rsv &^= rsv1
	return h, nil
}

// inflatedMessage inflates the compressed message p and hands it to
// message. The inflater is pooled: no memory stays with the connection
// unless it keeps its context (takeover), then only its window.
func (c *wsConn) inflatedMessage(op ws.OpCode, p []byte) {
	s := c.srv
	c.pmd.inMsg = false
	in := s.pmdPools.getInflater()
	out, fe := in.inflate(p, c.pmd, s.cfg.MaxMessage)
	if fe != nil {
		s.pmdPools.putInflater(in)
		s.m.pmd.inflateFailed.Add(1)
		c.fail(fe)
		return
	}
	s.m.pmd.inflatedIn.Add(1)
	c.message(op, out)
	s.pmdPools.putInflater(in)
}

// deflateTail is what RFC 7692 §7.2.2 strips from each compressed message,
// followed by an empty final stored block so the decompressor ends on EOF
// rather than waiting for more input.
var deflateTail = [...]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// inflater is a pooled decompressor with its output buffer.
type inflater struct {
	fr  io.ReadCloser // klauspost flate reader; implements flate.Resetter
	src tailReader
	out []byte
}

// maxPooledInflate is the largest output buffer an inflater keeps when it
// goes back to the pool.
const maxPooledInflate = 64 << 10

// inflate decompresses the message p (tail stripped) into in.out, refusing
// more than limit bytes of output: a deflate bomb stops at limit+1 bytes
// read, with 1009. Corrupt data gets 1007.
func (in *inflater) inflate(p []byte, st *pmdConn, limit int) ([]byte, *frameError) {
	in.src.reset(p)
	var dict []byte
	if st.takeover {
		dict = st.win
	}
	if in.fr == nil {
		in.fr = flate.NewReaderDict(&in.src, dict)
	} else if err := in.fr.(flate.Resetter).Reset(&in.src, dict); err != nil {
		return nil, errInflate
	}
	out := in.out[:0]
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := in.fr.Read(out[len(out):min(cap(out), limit+1)])
		out = out[:len(out)+n]
		if len(out) > limit {
			in.out = out[:0]
			return nil, errInflateBig
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			in.out = out[:0]
			return nil, errInflate
		}
	}
	in.out = out
	if len(in.src.p) > 0 {
		// Data after the final block (RFC 7692 §7.2.3.1 allows a BFINAL
		// block, but nothing after it in the same message).
		return nil, errInflate
	}
	if st.takeover {
		st.keepWindow(out)
	}
	return out, nil
}

// keepWindow appends out to the connection's dictionary, keeping its last
// 2^clientBits bytes.
func (p *pmdConn) keepWindow(out []byte) {
	size := 1 << p.clientBits
	if len(out) >= size {
		if cap(p.win) < size {
			p.win = make([]byte, 0, size)
		}
		p.win = append(p.win[:0], out[len(out)-size:]...)
		return
	}
	if drop := len(p.win) + len(out) - size; drop > 0 {
		n := copy(p.win, p.win[drop:])
		p.win = p.win[:n]
	}
	if cap(p.win) < size && len(p.win)+len(out) > cap(p.win) {
		w := make([]byte, len(p.win), min(size, max(2*cap(p.win), len(p.win)+len(out), 512)))
		copy(w, p.win)
		p.win = w
	}
	p.win = append(p.win, out...)
}

// tailReader reads a message followed by deflateTail. It implements
// io.ByteReader so that flate reads it directly, without a bufio.Reader.
type tailReader struct {
	p    []byte
	tail int
}

func (r *tailReader) reset(p []byte) { r.p, r.tail = p, 0 }

func (r *tailReader) Read(b []byte) (int, error) {
	if len(r.p) > 0 {
		n := copy(b, r.p)
		r.p = r.p[n:]
		return n, nil
	}
	if r.tail == len(deflateTail) {
		return 0, io.EOF
	}
	n := copy(b, deflateTail[r.tail:])
	r.tail += n
	return n, nil
}

func (r *tailReader) ReadByte() (byte, error) {
	if len(r.p) > 0 {
		b := r.p[0]
		r.p = r.p[1:]
		return b, nil
	}
	if r.tail == len(deflateTail) {
		return 0, io.EOF
	}
	b := deflateTail[r.tail]
	r.tail++
	return b, nil
}

// pmdPools lends decompressors, windowed compressors and scratch buffers
// to whichever goroutine needs one for the length of one message.
type pmdPools struct {
	inflaters sync.Pool                    // *inflater
	scratch   sync.Pool                    // *appendWriter
	windowed  [maxWindowBits - 8]sync.Pool // *flate.Writer for window bits 8..14
}

func (pp *pmdPools) getInflater() *inflater {
	if v, _ := pp.inflaters.Get().(*inflater); v != nil {
		return v
	}
	return &inflater{}
}

func (pp *pmdPools) putInflater(in *inflater) {
	in.src.reset(nil)
	if cap(in.out) > maxPooledInflate {
		in.out = nil
	}
	pp.inflaters.Put(in)
}

// appendWriter is an io.Writer appending to a reusable slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// deflate compresses payload as one message with an LZ77 window of at most
// 2^bits bytes and returns the bytes to send (the 00 00 ff ff tail
// stripped) in w. Window 15 uses the stateless encoder (no state at all);
// a smaller window a pooled windowed compressor.
func (pp *pmdPools) deflate(w *appendWriter, payload []byte, bits uint8) error {
	w.b = w.b[:0]
	if bits >= maxWindowBits {
		if err := flate.StatelessDeflate(w, payload, false, nil); err != nil {
			return err
		}
	} else {
		pool := &pp.windowed[bits-8]
		fw, _ := pool.Get().(*flate.Writer)
		if fw == nil {
			var err error
			if fw, err = flate.NewWriterWindow(w, 1<<bits); err != nil {
				return err
			}
		} else {
			fw.Reset(w)
		}
		_, err := fw.Write(payload)
		if err == nil {
			err = fw.Flush()
		}
		fw.Reset(io.Discard)
		pool.Put(fw)
		if err != nil {
			return err
		}
	}
	if !bytes.HasSuffix(w.b, deflateTail[:4]) {
		return errNoSyncTail
	}
	w.b = w.b[:len(w.b)-4]
	return nil
}

var errNoSyncTail = errors.New("permessage-deflate: compressor output lacks the sync tail")

// outMsg builds the frames of one outgoing data message lazily: the plain
// frame, and one compressed frame per window size that a recipient needs.
// Each is encoded once however many recipients share it, so the cost of a
// broadcast does not grow with the room. Not safe for concurrent use.
type outMsg struct {
	s       *Server
	op      ws.OpCode
	payload []byte
	born    int64
	plain   *frame
	comp    [maxWindowBits - 7]*frame // by window bits - 8; may be plain when compressing does not pay
}

// frameFor returns the frame to queue to c (the outMsg keeps the
// reference; release drops them all).
func (m *outMsg) frameFor(c *wsConn) *frame {
	if c.pmd == nil || len(m.payload) < m.s.cfg.CompressionMinSize {
		return m.plainFrame()
	}
	bits := c.pmd.serverBits
	if len(m.payload) <= 1<<bits {
		// No match can reach further back than the message is long, so
		// any window at least this long complies: share the 32 KiB one.
		bits = maxWindowBits
	}
	i := bits - 8
	if m.comp[i] == nil {
		m.comp[i] = m.compressed(bits)
	}
	return m.comp[i]
}

func (m *outMsg) plainFrame() *frame {
	if m.plain == nil {
		m.plain = m.s.frames.encode(m.op, m.payload)
		m.plain.born = m.born
	}
	return m.plain
}

// compressed encodes the message with RSV1 set, or falls back to the plain
// frame (RFC 7692 lets each message choose) when deflate does not make it
// smaller or fails.
func (m *outMsg) compressed(bits uint8) *frame {
	pp := &m.s.pmdPools
	w, _ := pp.scratch.Get().(*appendWriter)
	if w == nil {
		w = &appendWriter{}
	}
	defer func() {
		if cap(w.b) > maxPooledFrame {
			w.b = nil
		}
		pp.scratch.Put(w)
	}()
	if err := pp.deflate(w, m.payload, bits); err != nil || len(w.b) >= len(m.payload) {
		f := m.plainFrame()
		f.retain()
		return f
	}
	f := m.s.frames.get(len(w.b) + wsproto.MaxHeaderSize)
	f.b = wsproto.AppendHeader(f.b, wsproto.FirstByte(true, 0x40, m.op), false, len(w.b))
	f.b = append(f.b, w.b...)
	f.born = m.born
	m.s.m.pmd.deflated.Add(1)
	return f
}

// release drops the outMsg's references.
func (m *outMsg) release() {
	if m.plain != nil {
		m.plain.release()
		m.plain = nil
	}
	for i, f := range m.comp {
		if f != nil {
			f.release()
			m.comp[i] = nil
		}
	}
}

// pmdMetrics are the compression series of /metrics.
type pmdMetrics struct {
	conns         atomic.Int64 // open connections with permessage-deflate
	takeover      atomic.Int64 // of those, keeping client context (--compression-takeover)
	deflated      atomic.Int64 // compressed frames built (once per message and window, not per recipient)
	inflatedIn    atomic.Int64 // compressed messages received
	inflateFailed atomic.Int64 // closed for bad or oversized compressed data
}

func (pm *pmdMetrics) appendPrometheus(dst []byte) []byte {
	line := func(kind, name, help string, v int64) {
		dst = append(dst, "# HELP "+name+" "+help+"\n# TYPE "+name+" "+kind+"\n"+name+" "...)
		dst = strconv.AppendInt(dst, v, 10)
		dst = append(dst, '\n')
	}
	line("gauge", "wsbench_compressed_connections", "Open connections with permessage-deflate negotiated.", pm.conns.Load())
	line("gauge", "wsbench_compression_takeover_connections", "Compressed connections whose client keeps its LZ77 context (each holds up to a 32 KiB window; limit --compression-takeover).", pm.takeover.Load())
	line("counter", "wsbench_compressed_frames_total", "Compressed frames built: once per outgoing message and window size, shared by every recipient.", pm.deflated.Load())
	line("counter", "wsbench_compressed_messages_in_total", "Compressed messages received and inflated.", pm.inflatedIn.Load())
	line("counter", "wsbench_inflate_failures_total", "Connections closed for invalid (1007) or oversized (1009) compressed data.", pm.inflateFailed.Load())
	return dst
}
