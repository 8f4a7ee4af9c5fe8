package target

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/wsbench/wsbench/target/web"
)

// webHeaders go with every answer of the chat page's routes (errors too):
// the strict CSP, no MIME sniffing, no referrer.
const webHeaders = "Content-Security-Policy: " + web.CSP + "\r\n" +
	"X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"

// answerWeb answers a plain HTTP request for the chat page or one of its
// assets (route routeWeb) with a complete response that closes the
// connection.
func (s *Server) answerWeb(req *request) []byte {
	s.m.httpRequests.Add(1)
	if req.hasUpgradeHdr {
		s.m.upgradeFailed("not_found")
		return appendWebError(nil, 404, "no WebSocket endpoint at "+string(req.target)+" (the chat is at /chat)", "")
	}
	method := string(req.method)
	if method != "GET" && method != "HEAD" {
		return appendWebError(nil, 405, "use GET", "Allow: GET, HEAD\r\n")
	}
	path, query, _ := bytes.Cut(req.target, []byte("?"))
	a, cache, ok := s.web.Lookup(string(path), string(query))
	if !ok {
		return appendWebError(nil, 404, "not found: "+string(req.target), "")
	}
	status := 200
	body := a.Body
	if etagMatches(req.ifNoneMatch, a.ETag) {
		status, body = 304, nil
	} else if method == "HEAD" {
		body = nil
	}
	dst := append([]byte(nil), "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, a.ContentType...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(a.Body)), 10) // the GET length, for HEAD and 304 too
	dst = append(dst, "\r\nCache-Control: "...)
	dst = append(dst, cache...)
	dst = append(dst, "\r\nETag: "...)
	dst = append(dst, a.ETag...)
	dst = append(dst, "\r\nConnection: close\r\n"...)
	dst = append(dst, webHeaders...)
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

func appendWebError(dst []byte, status int, reason, extra string) []byte {
	return appendResponse(dst, status, "text/plain; charset=utf-8", webHeaders+"Cache-Control: no-store\r\n"+extra, []byte(reason+"\n"))
}

// etagMatches reports whether an If-None-Match value (a list of entity
// tags, or *) holds etag, compared weakly as RFC 9110 §13.1.2 asks.
func etagMatches(ifNoneMatch []byte, etag string) bool {
	for len(ifNoneMatch) > 0 {
		var tag []byte
		tag, ifNoneMatch, _ = bytes.Cut(ifNoneMatch, []byte(","))
		tag = bytes.TrimSpace(tag)
		if string(tag) == "*" || string(bytes.TrimPrefix(tag, []byte("W/"))) == etag {
			return true
		}
	}
	return false
}

// answerWeb is the chat page's endpoint.
func answerWeb(c *wsConn, req *request, _ []byte, _ netip.Addr) {
	c.writeRaw(c.srv.answerWeb(req))
}
