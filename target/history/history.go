// Package history keeps the recent messages of each chat room for the
// reference server (`wsbench serve`): the chat hub (package target/chat)
// keeps the last N messages of a room in a Ring and, when a Store is
// configured, appends every message to it so history survives a restart.
//
// Data flow: client `say` → chat.Hub → Ring (memory) + Store.Append (disk,
// batched) → done callback → ack to the sender. On the first join of a room
// after a start the hub calls Store.Load to refill its Ring.
package history

import "errors"

// ErrClosed is passed to done (or returned) when the store is already closed.
var ErrClosed = errors.New("history store closed")

// Store persists room history. Implementations must be safe for concurrent
// use.
type Store interface {
	// Append queues msg as the newest message of room. msg is copied before
	// Append returns, so the caller may reuse it. done, if not nil, is called
	// exactly once, from another goroutine, after the message is durable (nil)
	// or failed to persist. Appends to one room are stored in call order.
	Append(room string, msg []byte, done func(error))
	// Load returns up to the n newest messages of room, oldest first. It sees
	// every append whose done callback has run.
	Load(room string, n int) ([][]byte, error)
	// Close persists every pending append (running their done callbacks) and
	// releases the store. Appends after Close fail with ErrClosed.
	Close() error
}
