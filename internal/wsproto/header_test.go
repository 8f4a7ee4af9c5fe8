package wsproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzHeader checks ParseHeader against gobwas/ws's ws.ReadHeader,
// AppendHeader against ws.WriteHeader, and ControlFault against
// ws.CheckHeader, on the same bytes.
func FuzzHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x05})
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0x02, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0xc1, 0x85, 9, 8, 7, 6})
	f.Add([]byte{0x88, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})
	f.Add([]byte{0x09, 0x7e, 0x00, 0x7e})
	f.Add([]byte{0x8a, 0xfe})
	f.Add([]byte{0x81, 0x7e, 0x00, 0x05})
	f.Add([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, n, ok := ParseHeader(b)
		want, err := ws.ReadHeader(bytes.NewReader(b))
		if !ok {
			if len(b) >= 2 && len(b) >= HeaderSize(b[1]) {
				t.Fatalf("ParseHeader % x: incomplete, but HeaderSize says %d bytes", b, HeaderSize(b[1]))
			}
			if err == nil {
				t.Fatalf("ParseHeader % x: incomplete, ws.ReadHeader = %+v", b, want)
			}
			return
		}
		if n != HeaderSize(b[1]) {
			t.Fatalf("ParseHeader % x: size %d, HeaderSize %d", b, n, HeaderSize(b[1]))
		}
		if LengthMSBSet(got) {
			if !errors.Is(err, ws.ErrHeaderLengthMSB) {
				t.Fatalf("ParseHeader % x: length MSB set, ws.ReadHeader error %v", b, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ws.ReadHeader rejects what ParseHeader accepts (% x): %v", b, err)
		}
		if got != want {
			t.Fatalf("ParseHeader % x = %+v, ws.ReadHeader = %+v", b, got, want)
		}

		// Encoding: the same header as gobwas writes it (shortest form).
		h := got
		h.Length = min(h.Length, 1<<40)
		out := AppendHeader(nil, FirstByte(h.Fin, h.Rsv<<4, h.OpCode), h.Masked, int(h.Length))
		if h.Masked {
			out = append(out, h.Mask[:]...)
		}
		var ref bytes.Buffer
		if err := ws.WriteHeader(&ref, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, ref.Bytes()) {
			t.Fatalf("AppendHeader(%+v) = % x, ws.WriteHeader % x", h, out, ref.Bytes())
		}
		if shorter := len(out) < n; shorter != NonMinimalLength(b[1], uint64(got.Length)) {
			t.Fatalf("% x: shortest encoding %d bytes of %d, NonMinimalLength %v", b, len(out), n, !shorter)
		}
		back, bn, ok := ParseHeader(out)
		if !ok || bn != len(out) || back != h {
			t.Fatalf("round trip of %+v: % x decodes to %+v (%d bytes, ok %v)", h, out, back, bn, ok)
		}

		// Control-frame rules: gobwas checks the length before FIN, we
		// check FIN first; both must find a fault in the same frames.
		if h.OpCode.IsReserved() {
			return
		}
		h.Rsv, h.Masked = 0, true
		ref2 := ws.CheckHeader(h, ws.StateServerSide|ws.StateFragmented)
		gobwasControl := errors.Is(ref2, ws.ErrProtocolControlNotFinal) || errors.Is(ref2, ws.ErrProtocolControlPayloadOverflow)
		if fault := ControlFault(h); (fault != FaultNone) != gobwasControl {
			t.Fatalf("ControlFault(%+v) = %d, ws.CheckHeader = %v", h, fault, ref2)
		}
	})
}

func TestHeaderSizes(t *testing.T) {
	for _, tc := range []struct {
		n      int
		masked bool
		size   int
	}{
		{0, false, 2}, {125, false, 2}, {126, false, 4}, {0xffff, false, 4}, {0x10000, false, 10},
		{0, true, 6}, {125, true, 6}, {126, true, 8}, {0x10000, true, 14}, {1 << 40, true, 14},
	} {
		b := AppendHeader(nil, FirstByte(true, 0, ws.OpBinary), tc.masked, tc.n)
		if len(b) != HeaderSize(b[1])-4*btoi(tc.masked) {
			t.Errorf("n=%d masked=%v: %d bytes, HeaderSize says %d with key", tc.n, tc.masked, len(b), HeaderSize(b[1]))
		}
		if tc.masked {
			b = append(b, 1, 2, 3, 4)
		}
		if len(b) != tc.size {
			t.Errorf("n=%d masked=%v: header of %d bytes, want %d", tc.n, tc.masked, len(b), tc.size)
		}
		h, n, ok := ParseHeader(b)
		if !ok || n != tc.size || h.Length != int64(tc.n) || h.Masked != tc.masked || !h.Fin || h.OpCode != ws.OpBinary {
			t.Errorf("n=%d masked=%v: parsed %+v, %d bytes, ok %v", tc.n, tc.masked, h, n, ok)
		}
		if _, _, ok := ParseHeader(b[:len(b)-1]); ok {
			t.Errorf("n=%d masked=%v: a header short of one byte parsed", tc.n, tc.masked)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestLengthMSB(t *testing.T) {
	b := []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1}
	h, n, ok := ParseHeader(b)
	if !ok || n != 10 || !LengthMSBSet(h) {
		t.Fatalf("ParseHeader % x = %+v, %d, %v; want a length with its MSB set", b, h, n, ok)
	}
	b[2] = 0x7f
	if h, _, _ := ParseHeader(b); LengthMSBSet(h) {
		t.Fatalf("ParseHeader % x: MSB clear, but LengthMSBSet", b)
	}
	if got := FaultLengthMSB.CloseCode(); got != CloseProtocolError {
		t.Fatalf("FaultLengthMSB.CloseCode() = %d, want 1002", got)
	}
}

func TestControlFault(t *testing.T) {
	for _, tc := range []struct {
		h    ws.Header
		want Fault
	}{
		{ws.Header{Fin: true, OpCode: ws.OpPing, Length: 125}, FaultNone},
		{ws.Header{Fin: true, OpCode: ws.OpPong, Length: 126}, FaultLongControl},
		{ws.Header{Fin: false, OpCode: ws.OpClose, Length: 2}, FaultFragmentedControl},
		{ws.Header{Fin: false, OpCode: ws.OpClose, Length: 200}, FaultFragmentedControl},
		{ws.Header{Fin: false, OpCode: ws.OpText, Length: 1 << 20}, FaultNone},
	} {
		if got := ControlFault(tc.h); got != tc.want {
			t.Errorf("ControlFault(%+v) = %d, want %d", tc.h, got, tc.want)
		}
	}
}

// TestHeaderAllocs: decoding and encoding a header never allocate.
func TestHeaderAllocs(t *testing.T) {
	buf := make([]byte, 0, MaxHeaderSize)
	in := []byte{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}
	n := testing.AllocsPerRun(100, func() {
		h, _, _ := ParseHeader(in)
		buf = AppendHeader(buf[:0], FirstByte(h.Fin, h.Rsv<<4, h.OpCode), h.Masked, int(h.Length))
		buf = AppendCloseBody(buf[:0], 1000, "bye")
	})
	if n != 0 {
		t.Fatalf("%v allocs per header round trip", n)
	}
}

func TestParseCloseBody(t *testing.T) {
	body := func(code uint16, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, code), reason...)
	}
	for _, tc := range []struct {
		name   string
		p      []byte
		code   uint16
		reason string
		fault  Fault
		close  uint16
	}{
		{"empty", nil, CloseNoStatus, "", FaultNone, 0},
		{"one byte", []byte{3}, 0, "", FaultCloseLen1, 1002},
		{"normal", body(1000, "bye"), 1000, "bye", FaultNone, 0},
		{"1012", body(1012, ""), 1012, "", FaultNone, 0},
		{"private", body(4999, "x"), 4999, "x", FaultNone, 0},
		{"1005 sent", body(1005, ""), 1005, "", FaultCloseCode, 1002},
		{"2000", body(2000, ""), 2000, "", FaultCloseCode, 1002},
		{"5000", body(5000, ""), 5000, "", FaultCloseCode, 1002},
		{"bad utf8", body(1000, "caf\xc3"), 1000, "caf\xc3", FaultCloseUTF8, 1007},
	} {
		code, reason, fault := ParseCloseBody(tc.p)
		if code != tc.code || string(reason) != tc.reason || fault != tc.fault || fault.CloseCode() != tc.close {
			t.Errorf("%s: ParseCloseBody = %d %q fault %d (close %d), want %d %q fault %d (close %d)",
				tc.name, code, reason, fault, fault.CloseCode(), tc.code, tc.reason, tc.fault, tc.close)
		}
		// gobwas agrees on which bodies are acceptable, but for 1012-1014,
		// which it predates, and above 4999, which it does not look at.
		if len(tc.p) >= 2 && !(tc.code >= 1012 && tc.code <= 1014) && tc.code <= 4999 {
			gobwas := ws.CheckCloseFrameData(ws.StatusCode(code), string(reason)) == nil
			if gobwas != (fault == FaultNone) {
				t.Errorf("%s: gobwas/ws says valid=%v, fault %d", tc.name, gobwas, fault)
			}
		}
	}
}

func TestAppendCloseBody(t *testing.T) {
	if b := AppendCloseBody(nil, CloseNoStatus, "x"); len(b) != 0 {
		t.Fatalf("1005 gave % x", b)
	}
	if b := AppendCloseBody(nil, 0, "x"); len(b) != 0 {
		t.Fatalf("code 0 gave % x", b)
	}
	long := string(bytes.Repeat([]byte("é"), 100)) // 200 bytes
	b := AppendCloseBody(nil, 1000, long)
	if len(b) > MaxControlPayload || binary.BigEndian.Uint16(b) != 1000 {
		t.Fatalf("body of %d bytes, code %d", len(b), binary.BigEndian.Uint16(b))
	}
	if r := b[2:]; len(r) != 122 || string(r) != long[:122] {
		t.Fatalf("reason cut to %d bytes, want 122 (a rune boundary)", len(r))
	}
	ascii := string(bytes.Repeat([]byte("a"), 200))
	if r := TrimCloseReason(ascii); len(r) != MaxCloseReason {
		t.Fatalf("ASCII reason cut to %d bytes, want %d", len(r), MaxCloseReason)
	}
	if r := TrimCloseReason("short"); r != "short" {
		t.Fatalf("short reason changed to %q", r)
	}
}
