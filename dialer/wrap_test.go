package dialer

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// countingConn keeps what the dialer read from and wrote to the socket.
type countingConn struct {
	net.Conn
	mu          sync.Mutex
	read, wrote bytes.Buffer
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.wrote.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestWrapConn: the wrapper carries the upgrade and every frame both ways.
func TestWrapConn(t *testing.T) {
	s := gorillaServer(t, websocket.Upgrader{}, echo)
	var w *countingConn
	c := dial(t, Options{WrapConn: func(nc net.Conn) net.Conn { w = &countingConn{Conn: nc}; return w }}, wsURL(s))
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteText([]byte("wrapped")); err != nil {
		t.Fatal(err)
	}
	m, err := c.ReadMessage()
	if err != nil || string(m.Payload) != "wrapped" {
		t.Fatalf("echo: %q %v", m.Payload, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !bytes.HasPrefix(w.wrote.Bytes(), []byte("GET ")) || !bytes.HasSuffix(w.read.Bytes(), []byte("\x81\x07wrapped")) ||
		!bytes.HasPrefix(w.read.Bytes(), []byte("HTTP/1.1 101 ")) || w.wrote.Len() < len("GET / HTTP/1.1\r\n\r\n")+13 {
		t.Errorf("the wrapper saw %q written and %q read", w.wrote.Bytes(), w.read.Bytes())
	}
}
