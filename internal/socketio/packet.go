package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wsbench/wsbench/internal/jsonscan"
)

// Engine.IO packet types: the first byte of every text frame.
const (
	EngineOpen    byte = '0'
	EngineClose   byte = '1'
	EnginePing    byte = '2'
	EnginePong    byte = '3'
	EngineMessage byte = '4'
	EngineUpgrade byte = '5'
	EngineNoop    byte = '6'
)

// Type is a Socket.IO packet type.
type Type byte

// Socket.IO packet types (protocol v5, used by Socket.IO v3 and v4).
const (
	Connect      Type = 0
	Disconnect   Type = 1
	Event        Type = 2
	Ack          Type = 3
	ConnectError Type = 4
	BinaryEvent  Type = 5
	BinaryAck    Type = 6
)

var typeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// NoID marks a packet without an acknowledgement id.
const NoID int64 = -1

// maxAttachments bounds the attachment count a decoder accepts, so a
// hostile header cannot make a receiver wait for millions of frames.
const maxAttachments = 1 << 10

// Packet is one Socket.IO packet. Its byte slices alias the decoded input.
type Packet struct {
	Type        Type
	Attachments int    // binary frames that follow a BinaryEvent or BinaryAck
	Namespace   []byte // "" for the main namespace "/"
	ID          int64  // acknowledgement id, NoID when absent
	Data        []byte // raw JSON payload (an array for events and acks), possibly empty
}

// Errors of the decoders; match them with errors.Is.
var (
	ErrEmpty     = errors.New("socketio: empty packet")
	ErrMalformed = errors.New("socketio: malformed packet")
)

// SplitEngine splits an Engine.IO text frame into its packet type and data.
// It does not allocate.
func SplitEngine(frame []byte) (typ byte, data []byte, err error) {
	if len(frame) == 0 {
		return 0, nil, ErrEmpty
	}
	typ = frame[0]
	if typ < EngineOpen || typ > EngineNoop {
		return 0, nil, fmt.Errorf("%w: engine.io packet type %q", ErrMalformed, typ)
	}
	return typ, frame[1:], nil
}

// Decode parses a Socket.IO packet: the data of an Engine.IO message
// packet, `<type>[<attachments>-][<namespace>,][<id>][<json>]`. The JSON
// payload is checked for its first byte only; use SplitEvent or the
// caller's own scanner to look inside. It does not allocate.
func Decode(p []byte) (Packet, error) {
	pk := Packet{ID: NoID}
	if len(p) == 0 {
		return pk, ErrEmpty
	}
	if p[0] < '0' || p[0] > '6' {
		return pk, fmt.Errorf("%w: socket.io packet type %q", ErrMalformed, p[0])
	}
	pk.Type = Type(p[0] - '0')
	i := 1
	if pk.Type == BinaryEvent || pk.Type == BinaryAck {
		n, j := digits(p, i)
		if j == i || j >= len(p) || p[j] != '-' || n < 0 || n > maxAttachments {
			return pk, fmt.Errorf("%w: binary packet without a valid attachment count", ErrMalformed)
		}
		pk.Attachments, i = int(n), j+1
	}
	if i < len(p) && p[i] == '/' {
		j := i
		for j < len(p) && p[j] != ',' {
			j++
		}
		pk.Namespace = p[i:j]
		if j < len(p) {
			j++ // the comma
		}
		i = j
	}
	if n, j := digits(p, i); j > i {
		if n < 0 {
			return pk, fmt.Errorf("%w: acknowledgement id out of range", ErrMalformed)
		}
		pk.ID, i = n, j
	}
	pk.Data = p[i:]
	if len(pk.Data) > 0 {
		switch c := pk.Data[0]; {
		case c == '[' || c == '{' || c == '"':
		default:
			return pk, fmt.Errorf("%w: payload starts with %q", ErrMalformed, c)
		}
	}
	switch pk.Type {
	case Event, BinaryEvent, Ack, BinaryAck:
		// One scan of the payload: a whole array, and for events one that
		// starts with the event name.
		if end, ok := jsonscan.SkipValue(pk.Data, 0); !ok || pk.Data[0] != '[' || jsonscan.SkipWS(pk.Data, end) != len(pk.Data) {
			return pk, fmt.Errorf("%w: %v payload is not a JSON array", ErrMalformed, pk.Type)
		}
		if _, _, ok := EventName(pk.Data); !ok && (pk.Type == Event || pk.Type == BinaryEvent) {
			return pk, fmt.Errorf("%w: %v payload does not start with an event name", ErrMalformed, pk.Type)
		}
	}
	if (pk.Type == Ack || pk.Type == BinaryAck) && pk.ID == NoID {
		return pk, fmt.Errorf("%w: %v without an id", ErrMalformed, pk.Type)
	}
	return pk, nil
}

// digits parses the decimal digits at p[i:]; it returns −1 when they
// overflow 2^53 (ids are JavaScript numbers).
func digits(p []byte, i int) (int64, int) {
	var n int64
	over := false
	j := i
	for j < len(p) && p[j] >= '0' && p[j] <= '9' {
		if n > 1<<53 {
			over = true
		} else {
			n = n*10 + int64(p[j]-'0')
		}
		j++
	}
	if over || n > 1<<53 {
		return -1, j
	}
	return n, j
}

// IsMain reports whether ns names the main namespace "/".
func IsMain(ns []byte) bool { return len(ns) == 0 || (len(ns) == 1 && ns[0] == '/') }

// Append appends pk as an Engine.IO message frame ('4' + the Socket.IO
// packet). It allocates only when dst must grow.
func Append(dst []byte, pk Packet) []byte {
	dst = append(dst, EngineMessage, '0'+byte(pk.Type))
	if pk.Type == BinaryEvent || pk.Type == BinaryAck {
		dst = strconv.AppendInt(dst, int64(pk.Attachments), 10)
		dst = append(dst, '-')
	}
	if !IsMain(pk.Namespace) {
		dst = append(dst, pk.Namespace...)
		dst = append(dst, ',')
	}
	if pk.ID >= 0 {
		dst = strconv.AppendInt(dst, pk.ID, 10)
	}
	return append(dst, pk.Data...)
}

// AppendConnect appends a namespace CONNECT packet ('40' or '40/ns,')
// with an optional auth object (raw JSON; nil or empty for none).
func AppendConnect(dst []byte, ns string, auth []byte) []byte {
	return Append(dst, Packet{Type: Connect, Namespace: []byte(ns), ID: NoID, Data: auth})
}

// AppendDisconnect appends a namespace DISCONNECT packet ('41').
func AppendDisconnect(dst []byte, ns string) []byte {
	return Append(dst, Packet{Type: Disconnect, Namespace: []byte(ns), ID: NoID})
}

// Open is the Engine.IO open packet's handshake data.
type Open struct {
	SID          string
	Upgrades     []string
	PingInterval time.Duration
	PingTimeout  time.Duration
	MaxPayload   int64
}

// ParseOpen parses the JSON of an open packet (the data after '0').
func ParseOpen(data []byte) (Open, error) {
	var raw struct {
		SID          *string  `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval *int64   `json:"pingInterval"`
		PingTimeout  *int64   `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Open{}, fmt.Errorf("%w: open packet: %w", ErrMalformed, err)
	}
	if raw.SID == nil || raw.PingInterval == nil || raw.PingTimeout == nil {
		return Open{}, fmt.Errorf("%w: open packet lacks sid, pingInterval or pingTimeout", ErrMalformed)
	}
	if *raw.PingInterval < 0 || *raw.PingTimeout < 0 || *raw.PingInterval > 1<<40 || *raw.PingTimeout > 1<<40 {
		return Open{}, fmt.Errorf("%w: open packet timing out of range", ErrMalformed)
	}
	return Open{
		SID:          *raw.SID,
		Upgrades:     raw.Upgrades,
		PingInterval: time.Duration(*raw.PingInterval) * time.Millisecond,
		PingTimeout:  time.Duration(*raw.PingTimeout) * time.Millisecond,
		MaxPayload:   raw.MaxPayload,
	}, nil
}

// ConnectReply is the server's answer to a namespace CONNECT.
type ConnectReply struct {
	Message []byte // the refusal message of a CONNECT_ERROR (unescaped when plain)
	Data    []byte // the raw error data, when the server attached any
}

// ParseConnectError extracts the message of a CONNECT_ERROR payload
// (`{"message":"…","data":…}`; Socket.IO v2 servers sent a bare string).
// It does not allocate unless the message contains escapes.
func ParseConnectError(data []byte) ConnectReply {
	var r ConnectReply
	if len(data) > 0 && data[0] == '"' {
		if s, ok := unquote(data); ok {
			r.Message = s
		}
		return r
	}
	if raw, ok := member(data, "message"); ok {
		if s, ok := unquote(raw); ok {
			r.Message = s
		} else {
			r.Message = raw
		}
	}
	if raw, ok := member(data, "data"); ok {
		r.Data = raw
	}
	return r
}

// AppendOpen appends the Engine.IO open packet ('0' + its JSON) a server
// sends first on a new session; ParseOpen reads it back.
func AppendOpen(dst []byte, o Open) []byte {
	dst = append(dst, EngineOpen)
	dst = append(dst, `{"sid":`...)
	dst = strconv.AppendQuote(dst, o.SID)
	dst = append(dst, `,"upgrades":[`...)
	for i, u := range o.Upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, u)
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, o.PingInterval.Milliseconds(), 10)
	dst = append(dst, `,"pingTimeout":`...)
	dst = strconv.AppendInt(dst, o.PingTimeout.Milliseconds(), 10)
	dst = append(dst, `,"maxPayload":`...)
	dst = strconv.AppendInt(dst, o.MaxPayload, 10)
	return append(dst, '}')
}
