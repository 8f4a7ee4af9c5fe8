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
