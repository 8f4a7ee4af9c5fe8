// Package ceilingws holds what the Go programs of bench/ceiling share: the
// smallest WebSocket client upgrade, as the C programs' ws-handshake.h
// does it. It is not used by wsbench itself.
package ceilingws

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
)

// Upgrade dials 127.0.0.1:port (from local when it is not nil), sends the
// upgrade request for path and checks the 101 and its
// Sec-WebSocket-Accept. Nothing may follow the response before the first
// frame.
func Upgrade(port, path string, local net.Addr) (net.Conn, error) {
	d := net.Dialer{LocalAddr: local}
	c, err := d.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		return nil, err
	}
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	rsp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("upgrade response: %w", err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if rsp.StatusCode != 101 || rsp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) || br.Buffered() != 0 {
		c.Close()
		return nil, fmt.Errorf("bad upgrade response: %s", rsp.Status)
	}
	return c, nil
}
