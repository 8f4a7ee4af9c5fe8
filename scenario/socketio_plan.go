package scenario

// socketio_plan.go holds the Plan types of Socket.IO targets: the
// connect options that select the protocol and the emit step.

import (
	"strings"
	"time"

	"github.com/wsbench/wsbench/internal/socketio"
)

// Protocol is what a connection speaks over its WebSocket.
type Protocol int

const (
	ProtoDefault   Protocol = iota // not set: inherit, else raw WebSocket
	ProtoWebSocket                 // raw WebSocket messages
	ProtoSocketIO                  // Socket.IO v4 (Engine.IO 4) over the WebSocket transport
)

func (p Protocol) String() string {
	if p == ProtoSocketIO {
		return "socketio"
	}
	return "websocket"
}

// DefaultSocketIOPath is the path Socket.IO servers serve by default.
const DefaultSocketIOPath = "/socket.io/"

// DefaultAckTimeout bounds an emit's wait for its acknowledgement.
const DefaultAckTimeout = 10 * time.Second

// EmitStep sends a Socket.IO event on the connection's namespace.
type EmitStep struct {
	Name  string // ack latency metric; default the event name
	Event string
	// Args are the event's arguments (JSON values; strings are templates).
	Args []any
	// Attachment, when set (or AttachRandom > 0), is sent as one binary
	// attachment after Args: a BINARY_EVENT with a placeholder.
	Attachment   []byte
	AttachRandom int
	// Ack asks the server for an acknowledgement and waits up to Timeout
	// for it, recording its latency under Name. AckMatch, when it has
	// conditions, must match the ack's first argument.
	Ack       bool
	AckMatch  Matcher
	Timeout   time.Duration
	OnTimeout OnTimeout

	body *Template // ["event", args..., placeholder], built by compile
}

// binary reports whether the emit carries an attachment.
func (e *EmitStep) binary() bool { return e.Attachment != nil || e.AttachRandom > 0 }

// mergeSocketIO merges the Socket.IO connect options of over into out.
func mergeSocketIO(out *ConnectOptions, over ConnectOptions) {
	if over.Protocol != ProtoDefault {
		out.Protocol = over.Protocol
	}
	if over.Namespace != "" {
		out.Namespace = over.Namespace
	}
	if over.Auth != nil {
		out.Auth = over.Auth
	}
	if over.EngineIO != 0 {
		out.EngineIO = over.EngineIO
	}
}

// socketIOPath returns the request path (with the Engine.IO query) of a
// Socket.IO connection whose configured path is path.
func socketIOPath(path string) string {
	if path == "" {
		path = DefaultSocketIOPath
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "EIO=4&transport=websocket"
}

// eventArg checks that msg, a Socket.IO event payload (`["name", args…]`),
// names event, and returns its first argument (empty when it has none).
// It does not allocate unless the name holds JSON escapes.
func eventArg(msg []byte, event string) ([]byte, bool) {
	name, esc, ok := socketio.EventName(msg)
	if !ok || !socketio.NameEqual(name, esc, event) {
		return nil, false
	}
	arg, _ := socketio.Arg(msg, 1)
	return arg, true
}

// subject is the part of a matched message that dot paths and captures
// look into: an event's first argument for event matchers, else msg.
func (m *Matcher) subject(msg []byte) []byte {
	if m.Event == "" {
		return msg
	}
	arg, _ := socketio.Arg(msg, 1)
	return arg
}
