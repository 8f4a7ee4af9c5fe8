package dialer

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"

	"github.com/wsbench/wsbench/internal/wsproto"
)

// errTooBig is returned by inflate when the message exceeds the limit.
var errTooBig = errors.New("inflated message exceeds the size limit")

// flatePool lends flate compressors and decompressors to connections for
// the duration of one message. Pooling is correct because both sides agreed
// on no context takeover: no state survives between messages.
type flatePool struct {
	w sync.Pool // *flate.Writer
	r sync.Pool // io.ReadCloser implementing flate.Resetter
}

// flateConn is a connection's permessage-deflate state.
type flateConn struct {
	pool *flatePool
	out  appendWriter // compressed outgoing message (write side, under wmu)
	in   []byte       // inflated incoming message (read side)
	src  wsproto.TailReader
}

// offerDeflate is the extension offer: no context takeover either way, so
// no flate state lives between messages.
func offerDeflate() httphead.Option {
	return wsflate.Parameters{
		ServerNoContextTakeover: true,
		ClientNoContextTakeover: true,
	}.Option()
}

// acceptDeflate checks the server's permessage-deflate answer. It reports
// whether the extension is in use.
func acceptDeflate(exts []httphead.Option) (bool, error) {
	for _, opt := range exts {
		if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
			continue
		}
		var p wsflate.Parameters
		if err := p.Parse(opt); err != nil {
			return false, fmt.Errorf("permessage-deflate response: %w", err)
		}
		if !p.ServerNoContextTakeover {
			return false, fmt.Errorf("permessage-deflate response lacks server_no_context_takeover, which was offered")
		}
		if p.ClientMaxWindowBits.Defined() && p.ClientMaxWindowBits != 15 {
			return false, fmt.Errorf("permessage-deflate response asks for client_max_window_bits=%d, which was not offered", p.ClientMaxWindowBits)
		}
		return true, nil
	}
	return false, nil
}

// deflate compresses p as one message and returns the compressed bytes
// (without the 00 00 ff ff tail), valid until the next call.
func (f *flateConn) deflate(p []byte) ([]byte, error) {
	f.out.b = f.out.b[:0]
	w, _ := f.pool.w.Get().(*flate.Writer)
	if w == nil {
		var err error
		if w, err = flate.NewWriter(&f.out, flate.BestSpeed); err != nil {
			return nil, fmt.Errorf("permessage-deflate: %w", err)
		}
	} else {
		w.Reset(&f.out)
	}
	_, err := w.Write(p)
	if err == nil {
		err = w.Flush()
	}
	w.Reset(io.Discard) // do not keep this connection's buffer alive in the pool
	f.pool.w.Put(w)
	if err != nil {
		return nil, fmt.Errorf("permessage-deflate: %w", err)
	}
	b, ok := wsproto.TrimSyncTail(f.out.b)
	if !ok {
		return nil, fmt.Errorf("permessage-deflate: compressor output lacks the sync tail")
	}
	return b, nil
}

// inflate decompresses one message into f.in, refusing output beyond limit.
func (f *flateConn) inflate(p []byte, limit int) ([]byte, error) {
	f.src.Reset(p)
	r, _ := f.pool.r.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(&f.src)
	} else if err := r.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, err
	}
	defer func() {
		f.src.Reset(nil)
		f.pool.r.Put(r)
	}()
	out := f.in[:0]
	for {
		if len(out) == cap(out) {
			if len(out) >= limit {
				f.in = out[:0]
				return nil, errTooBig
			}
			out = append(out, 0)[:len(out)]
		}
		n, err := r.Read(out[len(out):min(cap(out), limit+1)])
		out = out[:len(out)+n]
		if len(out) > limit {
			f.in = out[:0]
			return nil, errTooBig
		}
		if err == io.EOF {
			f.in = out
			return out, nil
		}
		if err != nil {
			f.in = out[:0]
			return nil, err
		}
	}
}

// appendWriter is an io.Writer appending to a reusable slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
