package recgen

// collect.go reads recorded connections from a source file through
// internal/inspect (a trace, a pcap or pcapng capture, a HAR): an
// inspect.Observer that keeps each connection's upgrade and whole data
// messages, with absolute times truncated to the microsecond (the
// precision a HAR keeps, so a trace and its HAR give the same scenario).

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/wsbench/wsbench/internal/inspect"
	"github.com/wsbench/wsbench/internal/trace"
)

// Conn is one recorded connection.
type Conn struct {
	Source string // the file it came from, as given
	N      uint64 // its number in that file (c1, c2…)
	// Start is the upgrade's time (or the first message's, when the
	// source holds no upgrade for it).
	Start     time.Time
	Handshake bool
	Request   inspect.Head
	Response  inspect.Head
	Msgs      []Msg
}

// Msg is one whole data message.
type Msg struct {
	Send    bool // client to server
	At      time.Time
	Binary  bool
	Payload []byte
}

// Name is how comments and reports name the connection: "c2 of x.trace".
func (c *Conn) Name() string { return fmt.Sprintf("c%d of %s", c.N, filepath.Base(c.Source)) }

// collector is the inspect.Observer that gathers Conns.
type collector struct {
	source string
	start  time.Time
	conns  map[uint64]*Conn
}

func (c *collector) Start(at time.Time) { c.start = at }

func (c *collector) at(t time.Duration) time.Time {
	return c.start.Add(t).UTC().Truncate(time.Microsecond)
}

func (c *collector) conn(n uint64, at time.Time) *Conn {
	cn := c.conns[n]
	if cn == nil {
		cn = &Conn{Source: c.source, N: n, Start: at}
		c.conns[n] = cn
	}
	return cn
}

func (c *collector) Handshake(conn uint64, t time.Duration, request, response []byte) {
	at := c.at(t)
	if old := c.conns[conn]; old != nil && old.Handshake {
		// A number used again (a capture reusing a port pair): keep the
		// first connection only.
		return
	}
	cn := c.conn(conn, at)
	cn.Handshake, cn.Start = true, at
	cn.Request, cn.Response = inspect.ParseHead(request), inspect.ParseHead(response)
}

func (c *collector) Message(m *inspect.Message) {
	if m.Opcode != inspect.OpText && m.Opcode != inspect.OpBinary {
		return
	}
	at := c.at(m.Time)
	cn := c.conn(m.Conn, at)
	cn.Msgs = append(cn.Msgs, Msg{Send: m.Dir == trace.ClientToServer, At: at, Binary: m.Opcode == inspect.OpBinary, Payload: append([]byte(nil), m.Payload...)})
}

// Load reads the connections of one source file, in connection order,
// each connection's messages in time order. A source damaged part way is
// read up to the damage: the connections read before it are returned with
// the error (warn, and go on with them), which is nil otherwise.
func Load(ctx context.Context, path string) ([]*Conn, error) {
	f, err := inspect.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	col := &collector{source: path, conns: make(map[uint64]*Conn)}
	_, rerr := inspect.Run(ctx, io.Discard, f, inspect.Options{Render: inspect.RenderOptions{MaxPayload: 1}, Observer: col})
	nums := make([]uint64, 0, len(col.conns))
	for n := range col.conns {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	out := make([]*Conn, 0, len(nums))
	for _, n := range nums {
		cn := col.conns[n]
		// A capture hands over connections' messages flush by flush; one
		// connection's are in order, but keep them so whatever the source.
		slices.SortStableFunc(cn.Msgs, func(a, b Msg) int { return a.At.Compare(b.At) })
		out = append(out, cn)
	}
	return out, rerr
}
