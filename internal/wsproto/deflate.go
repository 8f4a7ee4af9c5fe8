package wsproto

import "io"

// deflate.go holds the framing rules of permessage-deflate (RFC 7692) that
// both ends need; the negotiation and the compressors stay with each end
// (dialer/deflate.go, target/deflate.go).

// DeflateTail is the end RFC 7692 §7.2.1 has the sender strip from each
// compressed message, the empty stored block 00 00 ff ff of a sync flush,
// followed by an empty final stored block (01 00 00 ff ff) so that an
// inflater reading one message ends with io.EOF instead of waiting for
// more input.
var DeflateTail = [...]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// TrimSyncTail strips the 00 00 ff ff a sync-flushed compressor's output
// ends with, as the sender must (RFC 7692 §7.2.1). ok is false when the
// output does not end with it.
func TrimSyncTail(b []byte) (msg []byte, ok bool) {
	n := len(b)
	if n < 4 || b[n-4] != 0 || b[n-3] != 0 || b[n-2] != 0xff || b[n-1] != 0xff {
		return b, false
	}
	return b[:n-4], true
}

// TailReader reads one compressed message followed by DeflateTail, for an
// inflater (RFC 7692 §7.2.2). It implements io.ByteReader, so that
// compress/flate and klauspost's flate read it directly, without a
// bufio.Reader that would read past the message. The zero value reads
// nothing but the tail; Reset points it at the next message.
type TailReader struct {
	p    []byte
	tail int
}

// Reset makes r read p and then DeflateTail.
func (r *TailReader) Reset(p []byte) { r.p, r.tail = p, 0 }

// Unread is how many bytes of the message the inflater has not read. After
// the inflater met the end of its stream it must be 0: data after a final
// block (RFC 7692 §7.2.3.1) breaks the message.
func (r *TailReader) Unread() int { return len(r.p) }

func (r *TailReader) Read(b []byte) (int, error) {
	if len(r.p) > 0 {
		n := copy(b, r.p)
		r.p = r.p[n:]
		return n, nil
	}
	if r.tail >= len(DeflateTail) {
		return 0, io.EOF
	}
	n := copy(b, DeflateTail[r.tail:])
	r.tail += n
	return n, nil
}

// ReadByte implements io.ByteReader.
func (r *TailReader) ReadByte() (byte, error) {
	if len(r.p) > 0 {
		c := r.p[0]
		r.p = r.p[1:]
		return c, nil
	}
	if r.tail >= len(DeflateTail) {
		return 0, io.EOF
	}
	c := DeflateTail[r.tail]
	r.tail++
	return c, nil
}
