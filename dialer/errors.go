package dialer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// ErrorKind names a class of failure that reports count
// (conn.failed.<kind>, errors.<kind>).
type ErrorKind string

// Error kinds returned by Kind.
const (
	KindRefused   ErrorKind = "refused"   // TCP connection refused
	KindTimeout   ErrorKind = "timeout"   // connect, handshake, read or write deadline
	KindDNS       ErrorKind = "dns"       // name resolution failed
	KindTLS       ErrorKind = "tls"       // TLS handshake or certificate failure
	KindHandshake ErrorKind = "handshake" // HTTP upgrade refused or malformed (*HandshakeError)
	KindReset     ErrorKind = "reset"     // connection reset or broken pipe
	KindClosed    ErrorKind = "closed"    // peer closed (*CloseError, EOF) or we closed the connection
	KindProtocol  ErrorKind = "protocol"  // the peer broke RFC 6455 (*ProtocolError)
	KindStall     ErrorKind = "stall"     // a control frame could not be written in time: the peer stopped reading (*StallError)
	KindOther     ErrorKind = "other"

	// KindAddr: no local address or port to connect from (a source
	// address this machine does not have, ephemeral ports used up).
	KindAddr ErrorKind = "addr_unavailable"
)

// ErrCloseSent is returned by writes after SendClose (or the answer to the
// peer's close frame): RFC 6455 allows no data frame after a close frame.
// Kind reports it as "closed".
var ErrCloseSent = fmt.Errorf("dialer: close frame already sent: %w", net.ErrClosed)

// HandshakeError is a failed HTTP upgrade: the server answered with another
// status than 101 (Status is that status), or a 101 answer was not a valid
// WebSocket upgrade (Status 101, Err says what was wrong), or the server
// closed the connection before answering (Status 0).
type HandshakeError struct {
	Status int
	Reason string // the status line's reason phrase, or what was wrong
	Body   string // the start of a refusal's response body (what the server said), if any
	Err    error  // underlying error when there is one
}

func (e *HandshakeError) Error() string {
	switch {
	case e.Status == 0:
		return "websocket upgrade failed: " + e.Reason
	case e.Status == 101:
		return "bad websocket upgrade response: " + e.Reason
	}
	msg := "websocket upgrade refused: HTTP " + strconv.Itoa(e.Status) + " " + e.Reason
	switch {
	case e.Body != "":
		msg += ": " + e.Body
	case e.Err != nil:
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// CloseError is the peer's close frame. Code is 1005 (no status) when the
// frame carried no code.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "websocket closed by peer: " + strconv.Itoa(int(e.Code))
	}
	return "websocket closed by peer: " + strconv.Itoa(int(e.Code)) + " " + strconv.Quote(e.Reason)
}

// ProtocolError is a violation of RFC 6455 (or RFC 7692) by the peer. The
// connection has been failed with a close frame carrying Code (1002 protocol
// error, 1007 invalid data, 1009 message too big).
type ProtocolError struct {
	Code   uint16
	Reason string
}

func (e *ProtocolError) Error() string {
	return "websocket protocol error (close " + strconv.Itoa(int(e.Code)) + "): " + e.Reason
}

// StallError is a control frame (pong, close, ping) that could not be
// written within Options.ControlWriteTimeout: the peer stopped reading
// while it kept sending (a ping flood). The connection has been closed, and
// every later read and write returns the same error.
type StallError struct {
	Frame  ws.OpCode
	Waited time.Duration
	Addr   net.Addr
	ID     uint64
}

func (e *StallError) Error() string {
	return fmt.Sprintf("dialer: conn %d to %s stalled: a %s frame waited %s to be written (the server is not reading); connection closed",
		e.ID, e.Addr, opName(e.Frame), e.Waited.Round(time.Millisecond))
}

func opName(op ws.OpCode) string {
	switch op {
	case ws.OpPing:
		return "ping"
	case ws.OpPong:
		return "pong"
	case ws.OpClose:
		return "close"
	}
	return "frame"
}

// Kind classifies an error returned by this package. nil has kind "".
func Kind(err error) ErrorKind {
	if err == nil {
		return ""
	}
	var (
		pe  *ProtocolError
		he  *HandshakeError
		ce  *CloseError
		dns *net.DNSError
	)
	var se *StallError
	switch {
	case errors.As(err, &pe):
		return KindProtocol
	case errors.As(err, &se):
		return KindStall
	case errors.Is(err, ErrHandshakeTimeout):
		return KindTimeout
	case errors.As(err, &ce):
		return KindClosed
	case errors.As(err, &dns):
		return KindDNS
	case isTLSError(err):
		return KindTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return KindAddr
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return KindReset
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return KindTimeout
	case errors.As(err, &he):
		return KindHandshake
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.Canceled):
		return KindClosed
	}
	return KindOther
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isTLSError(err error) bool {
	var (
		rh  tls.RecordHeaderError
		al  tls.AlertError
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		ci  x509.CertificateInvalidError
		hn  x509.HostnameError
		ech *tls.ECHRejectionError
	)
	return errors.As(err, &rh) || errors.As(err, &al) || errors.As(err, &cv) ||
		errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn) || errors.As(err, &ech)
}
