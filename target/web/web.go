// Package web is the chat page of `wsbench serve`: a small page without
// dependencies (index.html, app.js, style.css, favicon.svg, embedded in the
// binary) that speaks the /chat protocol (docs/protocol.md) through the
// browser's own WebSocket, so a person can join a room during a load test
// and watch it. The server core (target) routes `/` and `/web/…` here and
// writes the response; this package only knows the files and their headers.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
)

//go:embed index.html app.js style.css favicon.svg
var files embed.FS

// Prefix is the path under which the page's assets are served; the page
// itself is at "/".
const Prefix = "/web/"

// CSP is the Content-Security-Policy of every response: scripts, styles and
// images only from the server itself, WebSockets to it, nothing inline, no
// framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Cache-Control values: the page is revalidated on every load, so a new
// binary's page is seen at once; it links the assets with their content
// hash (?v=…), and those URLs never change their content.
const (
	CacheRevalidate = "no-cache"
	CacheImmutable  = "public, max-age=31536000, immutable"
)

// Asset is one file ready to send.
type Asset struct {
	Body        []byte
	ContentType string
	ETag        string // strong, quoted
	version     string // the ?v= value the page links it with
}

// Site holds the page and its assets. It is immutable once built.
type Site struct {
	index  Asset
	assets map[string]Asset // by name under Prefix
}

// New builds the site from the embedded files.
func New() (*Site, error) {
	s := &Site{assets: make(map[string]Asset)}
	for _, name := range []string{"app.js", "style.css", "favicon.svg"} {
		a, err := load(name)
		if err != nil {
			return nil, err
		}
		s.assets[name] = a
	}
	idx, err := files.ReadFile("index.html")
	if err != nil {
		return nil, fmt.Errorf("chat page: %w", err)
	}
	page := string(idx)
	for name, a := range s.assets {
		link := `"` + Prefix + name + `"`
		if !strings.Contains(page, link) {
			return nil, fmt.Errorf("chat page: index.html does not link %s", Prefix+name)
		}
		page = strings.ReplaceAll(page, link, `"`+Prefix+name+"?v="+a.version+`"`)
	}
	s.index = newAsset("index.html", []byte(page))
	return s, nil
}

func load(name string) (Asset, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return Asset{}, fmt.Errorf("chat page: %w", err)
	}
	return newAsset(name, b), nil
}

func newAsset(name string, body []byte) Asset {
	sum := sha256.Sum256(body)
	v := hex.EncodeToString(sum[:8])
	ctype := "application/octet-stream"
	switch path.Ext(name) { // not mime.TypeByExtension: it reads the host's mime.types
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	return Asset{Body: body, ContentType: ctype, ETag: `"` + v + `"`, version: v}
}

// Lookup returns the file for a request path and query (without the '?')
// and the Cache-Control it is sent with; ok is false when there is none.
func (s *Site) Lookup(p, query string) (a Asset, cacheControl string, ok bool) {
	if p == "/" || p == "/index.html" {
		return s.index, CacheRevalidate, true
	}
	name, found := strings.CutPrefix(p, Prefix)
	if !found {
		return Asset{}, "", false
	}
	a, ok = s.assets[name]
	if !ok {
		return Asset{}, "", false
	}
	if query == "v="+a.version {
		return a, CacheImmutable, true
	}
	return a, CacheRevalidate, true
}
