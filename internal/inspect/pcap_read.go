package inspect

// pcap_read.go reads tcpdump captures — classic pcap (micro- or nanosecond,
// either byte order) and pcapng — packet by packet, keeping the exact byte
// offset of every field so that a damaged file is reported precisely. It
// is the first stage of `wsbench inspect capture.pcap` (pcap.go).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Capture file magic numbers (as the first four bytes read little-endian).
const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	pcapngBlockSHB   = 0x0a0d0d0a
	pcapngByteOrder  = 0x1a2b3c4d
	pcapngBlockIDB   = 1
	pcapngBlockOPB   = 2 // obsolete Packet Block
	pcapngBlockSPB   = 3
	pcapngBlockEPB   = 6
	maxCapturePacket = 1 << 20  // largest captured packet accepted
	maxPcapngBlock   = 16 << 20 // largest pcapng block accepted
)

// IsCapture reports whether b, the first bytes of a file, start a pcap or
// pcapng capture (rather than a trace, which starts with "WSBTRACE").
func IsCapture(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	le, be := binary.LittleEndian.Uint32(b), binary.BigEndian.Uint32(b)
	return le == pcapMagicMicro || be == pcapMagicMicro || le == pcapMagicNano || be == pcapMagicNano || le == pcapngBlockSHB
}

// CaptureError says where a capture file stops making sense.
type CaptureError struct {
	Format   string // "pcap" or "pcapng"
	Offset   int64  // byte offset in the file
	Expected string // what should have been there
	Err      error  // what was found (io.ErrUnexpectedEOF when the file ends early)
}

func (e *CaptureError) Error() string {
	return fmt.Sprintf("%s: at byte %d: expected %s: %v", e.Format, e.Offset, e.Expected, e.Err)
}

func (e *CaptureError) Unwrap() error { return e.Err }

// capturePacket is one captured link-layer frame.
type capturePacket struct {
	Data   []byte // valid until the next call to next
	Time   time.Time
	Link   layers.LinkType
	Offset int64 // where its record starts in the file
}

type ngIface struct {
	link    layers.LinkType
	snaplen uint32
	unit    float64 // seconds per timestamp unit
}

// captureReader reads a pcap or pcapng file.
type captureReader struct {
	br     *bufio.Reader
	off    int64
	format string
	order  binary.ByteOrder
	buf    []byte

	// pcap
	nano    bool
	link    layers.LinkType
	snaplen uint32

	// pcapng
	ifaces []ngIface
	last   time.Time // timestamp for Simple Packet Blocks, which have none
}

func newCaptureReader(r io.Reader) (*captureReader, error) {
	c := &captureReader{br: bufio.NewReaderSize(r, 64<<10), format: "capture"}
	magic, err := c.read(4, "a pcap or pcapng magic number (a1b2c3d4, a1b23c4d or 0a0d0d0a)")
	if err != nil {
		return nil, err
	}
	switch {
	case binary.LittleEndian.Uint32(magic) == pcapngBlockSHB:
		c.format = "pcapng"
		if err := c.sectionHeader(0); err != nil {
			return nil, err
		}
		return c, nil
	case binary.LittleEndian.Uint32(magic) == pcapMagicMicro:
		c.order = binary.LittleEndian
	case binary.BigEndian.Uint32(magic) == pcapMagicMicro:
		c.order = binary.BigEndian
	case binary.LittleEndian.Uint32(magic) == pcapMagicNano:
		c.order, c.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(magic) == pcapMagicNano:
		c.order, c.nano = binary.BigEndian, true
	default:
		return nil, &CaptureError{Format: c.format, Offset: 0, Expected: "a pcap or pcapng magic number (a1b2c3d4, a1b23c4d or 0a0d0d0a)", Err: fmt.Errorf("found %x", magic)}
	}
	c.format = "pcap"
	h, err := c.read(20, "the rest of the 24-byte pcap file header")
	if err != nil {
		return nil, err
	}
	if major := c.order.Uint16(h[0:]); major != 2 {
		return nil, &CaptureError{Format: c.format, Offset: 4, Expected: "pcap major version 2", Err: fmt.Errorf("found %d", major)}
	}
	c.snaplen = c.order.Uint32(h[12:])
	c.link = layers.LinkType(c.order.Uint32(h[16:]) & 0xffff)
	return c, nil
}

// read returns the next n bytes (valid until the next read), or a
// CaptureError at their offset.
func (c *captureReader) read(n int, what string) ([]byte, error) {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	got, err := io.ReadFull(c.br, b)
	if err != nil {
		at := c.off
		c.off += int64(got)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("the file ends after %d of %d bytes: %w", got, n, io.ErrUnexpectedEOF)
		}
		return nil, &CaptureError{Format: c.format, Offset: at, Expected: what, Err: err}
	}
	c.off += int64(n)
	return b, nil
}

// atEOF reports whether the file ends cleanly here.
func (c *captureReader) atEOF() (bool, error) {
	_, err := c.br.Peek(1)
	if err == io.EOF {
		return true, nil
	}
	if err != nil {
		return false, &CaptureError{Format: c.format, Offset: c.off, Expected: "the next record", Err: err}
	}
	return false, nil
}

// next returns the next packet, or io.EOF at the clean end of the file.
func (c *captureReader) next() (capturePacket, error) {
	if eof, err := c.atEOF(); eof || err != nil {
		if eof {
			return capturePacket{}, io.EOF
		}
		return capturePacket{}, err
	}
	if c.format == "pcapng" {
		return c.nextBlock()
	}
	start := c.off
	h, err := c.read(16, "a 16-byte pcap packet record header")
	if err != nil {
		return capturePacket{}, err
	}
	sec, frac := c.order.Uint32(h[0:]), c.order.Uint32(h[4:])
	incl, orig := c.order.Uint32(h[8:]), c.order.Uint32(h[12:])
	limit := uint32(maxCapturePacket)
	if incl > limit {
		return capturePacket{}, &CaptureError{Format: c.format, Offset: start + 8, Expected: fmt.Sprintf("a captured length of at most %d bytes (snaplen %d)", limit, c.snaplen), Err: fmt.Errorf("found %d", incl)}
	}
	if incl > orig {
		return capturePacket{}, &CaptureError{Format: c.format, Offset: start + 8, Expected: fmt.Sprintf("a captured length no larger than the original length %d", orig), Err: fmt.Errorf("found %d", incl)}
	}
	ns := int64(frac)
	if !c.nano {
		ns *= 1000
	}
	data, err := c.read(int(incl), fmt.Sprintf("%d bytes of packet data (record at byte %d)", incl, start))
	if err != nil {
		return capturePacket{}, err
	}
	return capturePacket{Data: data, Time: time.Unix(int64(sec), ns).UTC(), Link: c.link, Offset: start}, nil
}

// sectionHeader reads a pcapng Section Header Block whose type field
// (already read) started at start.
func (c *captureReader) sectionHeader(start int64) error {
	h, err := c.read(8, "the length and byte-order magic of a pcapng Section Header Block")
	if err != nil {
		return err
	}
	switch {
	case binary.LittleEndian.Uint32(h[4:]) == pcapngByteOrder:
		c.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[4:]) == pcapngByteOrder:
		c.order = binary.BigEndian
	default:
		return &CaptureError{Format: c.format, Offset: start + 8, Expected: "the pcapng byte-order magic 1a2b3c4d", Err: fmt.Errorf("found %x", h[4:8])}
	}
	total := c.order.Uint32(h[0:])
	if err := c.checkBlockLen(start, total, 28); err != nil {
		return err
	}
	if _, err := c.read(int(total)-12, "the rest of a pcapng Section Header Block"); err != nil {
		return err
	}
	c.ifaces = c.ifaces[:0]
	return nil
}

func (c *captureReader) checkBlockLen(start int64, total uint32, least uint32) error {
	if total < least || total%4 != 0 || total > maxPcapngBlock {
		return &CaptureError{Format: c.format, Offset: start + 4, Expected: fmt.Sprintf("a pcapng block length that is a multiple of 4 between %d and %d", least, maxPcapngBlock), Err: fmt.Errorf("found %d", total)}
	}
	return nil
}

// nextBlock reads pcapng blocks until a packet.
func (c *captureReader) nextBlock() (capturePacket, error) {
	for {
		if eof, err := c.atEOF(); eof || err != nil {
			if eof {
				return capturePacket{}, io.EOF
			}
			return capturePacket{}, err
		}
		start := c.off
		h, err := c.read(4, "a pcapng block type")
		if err != nil {
			return capturePacket{}, err
		}
		if binary.LittleEndian.Uint32(h) == pcapngBlockSHB {
			if err := c.sectionHeader(start); err != nil {
				return capturePacket{}, err
			}
			continue
		}
		typ := c.order.Uint32(h)
		h, err = c.read(4, "a pcapng block length")
		if err != nil {
			return capturePacket{}, err
		}
		total := c.order.Uint32(h)
		if err := c.checkBlockLen(start, total, 12); err != nil {
			return capturePacket{}, err
		}
		body, err := c.read(int(total)-8, fmt.Sprintf("the %d-byte pcapng block of type %d started at byte %d", total, typ, start))
		if err != nil {
			return capturePacket{}, err
		}
		if trailer := c.order.Uint32(body[len(body)-4:]); trailer != total {
			return capturePacket{}, &CaptureError{Format: c.format, Offset: c.off - 4, Expected: fmt.Sprintf("the block's length %d repeated at its end", total), Err: fmt.Errorf("found %d", trailer)}
		}
		body = body[:len(body)-4]
		bad := func(what string) error {
			return &CaptureError{Format: c.format, Offset: start + 8, Expected: what, Err: errors.New("the block is too short or inconsistent")}
		}
		switch typ {
		case pcapngBlockIDB:
			if len(body) < 8 {
				return capturePacket{}, bad("an Interface Description Block of at least 8 bytes")
			}
			c.ifaces = append(c.ifaces, ngIface{link: layers.LinkType(c.order.Uint16(body[0:])), snaplen: c.order.Uint32(body[4:]), unit: c.tsresol(body[8:])})
		case pcapngBlockEPB, pcapngBlockOPB:
			if len(body) < 20 {
				return capturePacket{}, bad("a packet block of at least 20 bytes")
			}
			var ifc uint32
			if typ == pcapngBlockEPB {
				ifc = c.order.Uint32(body[0:])
			} else {
				ifc = uint32(c.order.Uint16(body[0:]))
			}
			incl := c.order.Uint32(body[12:])
			if int(ifc) >= len(c.ifaces) {
				return capturePacket{}, bad(fmt.Sprintf("an interface id below %d (the interfaces described so far)", len(c.ifaces)))
			}
			if uint64(incl) > uint64(len(body)-20) {
				return capturePacket{}, bad(fmt.Sprintf("a captured length of at most %d bytes (what the block holds)", len(body)-20))
			}
			iface := c.ifaces[ifc]
			ts := uint64(c.order.Uint32(body[4:]))<<32 | uint64(c.order.Uint32(body[8:]))
			secs := float64(ts) * iface.unit
			whole, frac := math.Modf(secs)
			at := time.Unix(int64(whole), int64(frac*1e9)).UTC()
			if iface.unit == 1e-9 {
				at = time.Unix(0, int64(ts)).UTC()
			} else if iface.unit == 1e-6 {
				at = time.Unix(int64(ts/1e6), int64(ts%1e6)*1000).UTC()
			}
			c.last = at
			return capturePacket{Data: body[20 : 20+incl], Time: at, Link: iface.link, Offset: start}, nil
		case pcapngBlockSPB:
			if len(body) < 4 || len(c.ifaces) == 0 {
				return capturePacket{}, bad("a Simple Packet Block after an Interface Description Block")
			}
			orig := int(c.order.Uint32(body[0:]))
			data := body[4:]
			if orig < len(data) {
				data = data[:orig]
			}
			return capturePacket{Data: data, Time: c.last, Link: c.ifaces[0].link, Offset: start}, nil
		}
	}
}

// tsresol reads the if_tsresol option of an Interface Description Block
// (seconds per unit; microseconds when absent).
func (c *captureReader) tsresol(opts []byte) float64 {
	for len(opts) >= 4 {
		code, n := c.order.Uint16(opts[0:]), int(c.order.Uint16(opts[2:]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		if code == 9 && n >= 1 {
			v := opts[4]
			if v&0x80 != 0 {
				return math.Pow(2, -float64(v&0x7f))
			}
			return math.Pow(10, -float64(v))
		}
		adv := 4 + (n+3)&^3
		if adv > len(opts) {
			break
		}
		opts = opts[adv:]
	}
	return 1e-6
}
