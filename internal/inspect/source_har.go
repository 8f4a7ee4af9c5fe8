package inspect

// source_har.go is `wsbench inspect SESSION.har`: the WebSocket messages a
// browser exported (har.go) rendered like any other source. A HAR holds
// messages, not frames: each becomes one frame (FIN set, client frames
// masked with the key 00000000, since a HAR keeps no keys), and the
// upgrade heads are rebuilt from the entry's URL and headers.

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsbench/wsbench/internal/trace"
)

// HARSource is a HAR file read from R.
type HARSource struct{ R io.Reader }

// harEvent is a handshake (msg == nil) or a message of connection conn.
type harEvent struct {
	at   time.Time
	conn uint64
	sock *HARSocket
	msg  *HARMessage
}

// Inspect renders the WebSocket entries of the HAR, connections c1, c2…
// in file order, every event in time order. A file that cannot be read is
// shown as an error line and returned (a *HARError).
func (h HARSource) Inspect(_ context.Context, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.flushLocked()
	creator, socks, err := ReadHAR(h.R)
	if err != nil {
		s.rd.errorLine(err)
		return err
	}
	var evs []harEvent
	for i := range socks {
		sk := &socks[i]
		conn := uint64(i + 1)
		evs = append(evs, harEvent{at: sk.Started, conn: conn, sock: sk})
		for j := range sk.Messages {
			m := &sk.Messages[j]
			at := m.At
			if at.Before(sk.Started) {
				at = sk.Started // a message cannot precede its upgrade
			}
			evs = append(evs, harEvent{at: at, conn: conn, sock: sk, msg: m})
		}
	}
	// Stable: a connection's handshake stays before its messages.
	slices.SortStableFunc(evs, func(a, b harEvent) int { return a.at.Compare(b.at) })
	var start time.Time
	if len(evs) > 0 {
		start = evs[0].at
	}
	s.start = start
	s.rd.observeStart(start)
	if creator == "" {
		creator = "an unnamed program"
	}
	s.noteLocked(0, "HAR written by "+creator+": "+strconv.Itoa(len(socks))+" WebSocket connection(s), first event at "+start.UTC().Format(time.RFC3339Nano))
	offs := make(map[streamKey]uint64)
	var raw []byte
	for _, ev := range evs {
		t := ev.at.Sub(start)
		if ev.msg == nil {
			req, rsp := harHeads(ev.sock)
			rec := trace.Record{Kind: trace.KindHandshake, Conn: ev.conn, Time: t, Request: req, Response: rsp}
			s.rd.handshake(&rec)
			continue
		}
		dir := trace.ServerToClient
		if ev.msg.Send {
			dir = trace.ClientToServer
		}
		raw = appendHARFrame(raw[:0], ev.msg.Opcode, ev.msg.Send, ev.msg.Payload)
		k := streamKey{ev.conn, dir}
		rec := trace.Record{Kind: trace.KindFrame, Conn: ev.conn, Dir: dir, Time: t, StreamOffset: offs[k], Raw: raw}
		offs[k] += uint64(len(raw))
		s.rd.frame(&rec)
	}
	return nil
}

// appendHARFrame builds the one frame of a HAR message.
func appendHARFrame(b []byte, op uint8, masked bool, p []byte) []byte {
	b = append(b, 0x80|op&0xf)
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(p); {
	case n < 126:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, 0, 0, 0, 0) // XOR with zeros: the payload as is
	}
	return append(b, p...)
}

// harHeads rebuilds the upgrade heads of a HAR entry. The request gets a
// Host header from the URL when the entry lists none (HTTP/2 pseudo
// headers such as :authority are left out).
func harHeads(sk *HARSocket) (req, rsp []byte) {
	var b bytes.Buffer
	target, host := "/", ""
	if u, err := url.Parse(sk.URL); err == nil {
		target, host = u.RequestURI(), u.Host
	}
	b.WriteString("GET " + target + " HTTP/1.1\r\n")
	hasHost := false
	for _, h := range sk.Request {
		if strings.EqualFold(h.Name, "host") {
			hasHost = true
		}
	}
	if !hasHost && host != "" {
		b.WriteString("Host: " + host + "\r\n")
	}
	writeHARHeaders(&b, sk.Request)
	b.WriteString("\r\n")
	req = bytes.Clone(b.Bytes())
	if sk.Status == 0 {
		return req, nil
	}
	b.Reset()
	reason := sk.Reason
	if reason == "" && sk.Status == 101 {
		reason = "Switching Protocols"
	}
	b.WriteString("HTTP/1.1 " + strconv.Itoa(sk.Status) + " " + reason + "\r\n")
	writeHARHeaders(&b, sk.Response)
	b.WriteString("\r\n")
	return req, b.Bytes()
}

func writeHARHeaders(b *bytes.Buffer, hs []HARNameValue) {
	for _, h := range hs {
		if h.Name == "" || strings.HasPrefix(h.Name, ":") || strings.ContainsAny(h.Name, "\r\n:") {
			continue
		}
		b.WriteString(h.Name + ": " + strings.NewReplacer("\r", " ", "\n", " ").Replace(h.Value) + "\r\n")
	}
}
