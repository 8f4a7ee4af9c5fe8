package chat

// ConnID names one client connection; the server core assigns it.
type ConnID uint64

// Class tells the server core how to treat a frame when the recipient reads
// slowly.
type Class uint8

const (
	// Reply frames (answers to the sender, acks, errors, welcome, joined,
	// history, dm) are never dropped.
	Reply Class = iota
	// Chatter frames (room and shout broadcasts, presence) may be dropped for
	// a slow consumer.
	Chatter
)

// String names the class for logs and metrics.
func (c Class) String() string {
	switch c {
	case Reply:
		return "reply"
	case Chatter:
		return "chatter"
	}
	return "unknown"
}

// Outbox is how the hub sends: it is implemented by the server core.
type Outbox interface {
	// Deliver queues payload as one text frame to each listed connection. The
	// frame is encoded once and its bytes shared by all recipients; neither
	// payload nor to is retained after Deliver returns. Never blocks; safe for
	// concurrent use. The hub calls Deliver while holding a room lock (that is
	// what keeps every member's view of a room in one order), so Deliver must
	// not call back into the Hub.
	Deliver(to []ConnID, payload []byte, class Class)
	// Close starts the close handshake with that code. The hub never calls it
	// while holding one of its locks, so it may call Hub.Closed synchronously.
	Close(id ConnID, code uint16, reason string)
}
