package target

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/netip"
	"strconv"

	"github.com/gobwas/ws"
	"github.com/wsbench/wsbench/target/web"
)

// maxRequestSize caps the HTTP upgrade request; a longer one gets 431.
const maxRequestSize = 8 << 10

const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// route is what a request asks for.
type route uint8

const (
	routeNone route = iota
	routeChat
	routeEcho
	routeHealth
	routeMetrics
	routeWeb     // the chat page (target/web): "/" and web.Prefix
	routeSIO     // Socket.IO (target/sio): polling requests and WebSocket transports
	routeSIOPoll // a Socket.IO long-poll GET parked until its session answers it
	numRoutes
)

// endpoint is what the server does on one route. The table endpoints is the
// one place that lists them: a new endpoint is its route, its path (in
// parseRequest) and its row here, plus its logic in a file of its own.
type endpoint struct {
	// answer answers a plain HTTP request (ip: the client's address). nil
	// for a route that upgrades to WebSocket.
	answer func(c *wsConn, req *request, body []byte, ip netip.Addr)
	// opened runs once the 101 is queued (nil: nothing to do).
	opened func(c *wsConn)
	// message handles one whole, valid data message of an upgraded
	// connection.
	message func(c *wsConn, op ws.OpCode, p []byte)
	// gone runs when the connection's socket has closed (nil: nothing
	// to do).
	gone func(c *wsConn)
}

// endpoints is indexed by route. It is filled by init because its handlers
// reach code that reads it (a handler may close its connection).
var endpoints [numRoutes]endpoint

func init() {
	endpoints = [numRoutes]endpoint{
		routeNone:    {answer: answerNotFound},
		routeChat:    {opened: chatOpened, message: chatMessage, gone: chatGone},
		routeEcho:    {message: echoMessage},
		routeHealth:  {answer: answerStatus},
		routeMetrics: {answer: answerStatus},
		routeWeb:     {answer: answerWeb},
		routeSIO:     {answer: (*wsConn).answerSIO, message: (*wsConn).sioMessage, gone: (*wsConn).sioGone},
		routeSIOPoll: {gone: (*wsConn).sioGone},
	}
}

// request is an HTTP/1.1 request head parsed in place: its byte slices point
// into the connection's input buffer and are valid only until it is consumed.
type request struct {
	method, target []byte
	route          route
	upgrade        bool // Upgrade header holds the websocket token
	connUpgrade    bool // Connection header holds the upgrade token
	hasUpgradeHdr  bool
	version        []byte
	key            []byte
	host           bool
	ifNoneMatch    []byte // for the chat page's revalidation (304)
	contentLength  int64  // -1: no or a bad Content-Length header
	chunked        bool   // Transfer-Encoding present (refused on the routes that read a body)
	// Sec-WebSocket-Extensions values, in order (permessage-deflate offers)
	extensions [maxExtensionHeaders][]byte
	nExtension int
}

// rejection is a handshake answer other than 101.
type rejection struct {
	status int
	reason string
	extra  string // additional header lines, each ending in \r\n
}

// findRequestEnd returns the length of the request head (through the blank
// line) in b, or -1 when it is not complete yet.
func findRequestEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// parseRequest parses the request head in b (which ends with the blank line).
// It never allocates.
func parseRequest(b []byte) (req request, rej *rejection) {
	req.contentLength = -1
	line, rest := cutLine(b)
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return req, &rejection{status: 400, reason: "malformed request line"}
	}
	req.method = line[:sp]
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return req, &rejection{status: 400, reason: "malformed request line"}
	}
	req.target = line[:sp]
	proto := line[sp+1:]
	if string(proto) != "HTTP/1.1" {
		// RFC 6455 §4.1 asks for HTTP/1.1; HTTP/1.0 has no Upgrade and
		// anything else is not a version this parser knows.
		return req, &rejection{status: 400, reason: "unsupported protocol " + strconv.Quote(string(proto)) + ", want HTTP/1.1"}
	}
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return req, &rejection{status: 400, reason: "malformed header line"}
		}
		name := bytes.TrimSpace(line[:colon])
		value := bytes.TrimSpace(line[colon+1:])
		if i := ctlIndex(line); i >= 0 {
			return req, &rejection{status: 400, reason: "control byte " + strconv.QuoteRune(rune(line[i])) + " in header " + strconv.Quote(string(name))}
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			req.host = true
		case bytes.EqualFold(name, []byte("Upgrade")):
			req.hasUpgradeHdr = true
			if hasToken(value, "websocket") {
				req.upgrade = true
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if hasToken(value, "upgrade") {
				req.connUpgrade = true
			}
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Version")):
			req.version = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Key")):
			req.key = value
		case bytes.EqualFold(name, []byte("If-None-Match")):
			req.ifNoneMatch = value
		case bytes.EqualFold(name, []byte("Content-Length")):
			req.contentLength = parseContentLength(value)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			req.chunked = true
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			if req.nExtension < len(req.extensions) {
				req.extensions[req.nExtension] = value
				req.nExtension++
			}
		}
	}
	path := req.target
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	switch string(path) {
	case "/chat":
		req.route = routeChat
	case "/echo":
		req.route = routeEcho
	case "/healthz":
		req.route = routeHealth
	case "/metrics":
		req.route = routeMetrics
	case "/", "/index.html":
		req.route = routeWeb
	case sioPath, sioPath[:len(sioPath)-1]:
		req.route = routeSIO
	default:
		if bytes.HasPrefix(path, []byte(web.Prefix)) {
			req.route = routeWeb
		}
	}
	return req, nil
}

// parseContentLength reads a Content-Length value: decimal digits only,
// -1 for anything else (or past 2^40).
func parseContentLength(v []byte) int64 {
	if len(v) == 0 || len(v) > 12 {
		return -1
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// checkUpgrade validates a WebSocket upgrade request (RFC 6455 §4.2.1).
func checkUpgrade(req *request) *rejection {
	switch {
	case string(req.method) != "GET":
		return &rejection{status: 405, reason: "method " + strconv.Quote(string(req.method)) + " not allowed, use GET", extra: "Allow: GET\r\n"}
	case !req.host:
		return &rejection{status: 400, reason: "missing Host header"}
	case !req.upgrade:
		return &rejection{status: 400, reason: "missing or bad Upgrade header (want websocket)"}
	case !req.connUpgrade:
		return &rejection{status: 400, reason: "missing upgrade token in Connection header"}
	case string(req.version) != "13":
		return &rejection{status: 426, reason: "unsupported Sec-WebSocket-Version " + strconv.Quote(string(req.version)) + ", want 13", extra: "Sec-WebSocket-Version: 13\r\n"}
	case len(req.key) == 0:
		return &rejection{status: 400, reason: "missing Sec-WebSocket-Key"}
	}
	var raw [18]byte
	if len(req.key) != 24 {
		return &rejection{status: 400, reason: "bad Sec-WebSocket-Key (want 16 bytes in base64)"}
	}
	if n, err := base64.StdEncoding.Decode(raw[:], req.key); err != nil || n != 16 {
		return &rejection{status: 400, reason: "bad Sec-WebSocket-Key (want 16 bytes in base64)"}
	}
	return nil
}

// appendAccept appends the 101 response for key onto dst.
func appendAccept(dst, key []byte) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(websocketGUID))
	var sum [sha1.Size]byte
	var enc [28]byte
	base64.StdEncoding.Encode(enc[:], h.Sum(sum[:0]))
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, enc[:]...)
	return append(dst, "\r\n\r\n"...)
}

// appendResponse appends a complete non-upgrade HTTP response that closes
// the connection.
func appendResponse(dst []byte, status int, contentType, extra string, body []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nConnection: close\r\n"...)
	dst = append(dst, extra...)
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

func appendRejection(dst []byte, r *rejection) []byte {
	return appendResponse(dst, r.status, "text/plain; charset=utf-8", r.extra, []byte(r.reason+"\n"))
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}

// cutLine splits b at the first CRLF.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+2:]
}

// ctlIndex returns the index of the first control byte in a header line
// (RFC 9110 §5.5 allows none but horizontal tab), or -1. A NUL or a bare CR
// or LF in a header is how request smuggling starts; net/http refuses them
// too. (httpguts.ValidHeaderFieldValue says the same but takes a string,
// which would cost an allocation per header here.)
func ctlIndex(line []byte) int {
	for i, b := range line {
		if (b < 0x20 && b != '\t') || b == 0x7f {
			return i
		}
	}
	return -1
}

// hasToken reports whether the comma-separated header value holds token
// (case-insensitive).
func hasToken(value []byte, token string) bool {
	for len(value) > 0 {
		var part []byte
		if i := bytes.IndexByte(value, ','); i >= 0 {
			part, value = value[:i], value[i+1:]
		} else {
			part, value = value, nil
		}
		if bytes.EqualFold(bytes.TrimSpace(part), []byte(token)) {
			return true
		}
	}
	return false
}
