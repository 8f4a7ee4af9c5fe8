package dialer

// head.go bounds what the upgrade may read of the server's response and
// keeps its first bytes, so a hostile or confused server (an endless header
// line, endless headers, an HTTP/1.0 page, not HTTP at all) costs a bounded
// amount of memory and still gets a specific error.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MaxResponseHead is the largest upgrade response head (status line and
// headers) the dialer accepts, like the inspect relay's limit. The upgrade
// reads at most this much plus one read buffer from the socket.
const MaxResponseHead = 64 << 10

// ErrResponseHeadTooLarge is the cause of a *HandshakeError whose response
// head went past MaxResponseHead.
var ErrResponseHeadTooLarge = errors.New("response head larger than " + strconv.Itoa(MaxResponseHead>>10) + " KiB")

// headKeep is how much of a response that does not start as a 101 is kept
// to explain it (status line, headers, the start of a body).
const headKeep = 2 << 10

// upgradePrefix starts every response that may be an upgrade.
const upgradePrefix = "HTTP/1.1 101 "

// headGuard is the reader the upgrade reads the response through: it stops
// with ErrResponseHeadTooLarge after left bytes, and keeps the first
// headKeep bytes of a response that does not start with upgradePrefix (gobwas
// keeps nothing of a failed upgrade). Writes pass through. A 101 costs no
// copy and no allocation here.
type headGuard struct {
	rw    io.ReadWriter
	left  int
	is101 bool
	npre  int
	pre   [len(upgradePrefix)]byte
	kept  []byte
}

func (g *headGuard) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, ErrResponseHeadTooLarge
	}
	if len(p) > g.left {
		p = p[:g.left]
	}
	n, err := g.rw.Read(p)
	g.left -= n
	g.keep(p[:n])
	return n, err
}

func (g *headGuard) keep(b []byte) {
	if g.is101 || len(b) == 0 {
		return
	}
	if g.kept == nil {
		k := copy(g.pre[g.npre:], b)
		g.npre += k
		if string(g.pre[:g.npre]) == upgradePrefix[:g.npre] {
			g.is101 = g.npre == len(upgradePrefix)
			return
		}
		g.kept = append(make([]byte, 0, 256), g.pre[:g.npre]...)
		b = b[k:]
	}
	g.kept = append(g.kept, b[:min(len(b), headKeep-len(g.kept))]...)
}

func (g *headGuard) Write(p []byte) (int, error) { return g.rw.Write(p) }

// startsWith quotes the response's first bytes (up to 64) for an error.
func (g *headGuard) startsWith() string {
	return strconv.QuoteToASCII(string(g.kept[:min(len(g.kept), 64)]))
}

// notUpgrade explains a response that gobwas refused before looking at its
// status (HTTP/1.0, a plain web server): its status and the start of its
// body, from the bytes kept and what more the socket gives within the
// handshake deadline and the head limit.
func (g *headGuard) notUpgrade() (refusal, bool) {
	var more io.Reader = g
	if g.rw == nil {
		more = bytes.NewReader(nil)
	}
	if rf := readRefusal(io.MultiReader(bytes.NewReader(g.kept), more)); rf.status != 0 {
		return rf, true
	}
	// The head is longer than what was kept: the status line alone.
	line, _, _ := bytes.Cut(g.kept, []byte("\n"))
	_, rest, ok := strings.Cut(strings.TrimSuffix(string(line), "\r"), " ")
	code, reason, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !ok || err != nil || status < 100 || status > 999 {
		return refusal{}, false
	}
	return refusal{status: status, reason: reason}, true
}

// refusal is what a response other than a 101 said: its status, reason
// phrase and the start of its body.
type refusal struct {
	status int
	reason string
	body   string
	err    error // ErrResponseHeadTooLarge, or why the response could not be read
}

// readRefusal reads a refused upgrade's response from r (status line
// included) for the error message: its status, and the start of its body
// (what the server said, such as Socket.IO's {"code":0,"message":"Transport
// unknown"}). The handshake deadline and the headGuard bound the read.
func readRefusal(r io.Reader) refusal {
	res, err := http.ReadResponse(bufio.NewReaderSize(r, 1024), nil)
	if err != nil {
		return refusal{err: err}
	}
	defer res.Body.Close()
	rf := refusal{status: res.StatusCode, reason: strings.TrimPrefix(res.Status, strconv.Itoa(res.StatusCode)+" ")}
	if res.ContentLength == 0 {
		return rf
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, refusalBodyMax))
	rf.body = strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	return rf
}
