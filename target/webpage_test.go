package target

import (
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/wsbench/wsbench/target/web"
)

// TestChatPageHTTP fetches the chat page and its assets over a real socket:
// content types, the CSP on every answer, immutable caching only for the
// hashed asset URLs the page links, 304 on a matching ETag, HEAD, and the
// errors (404, 405, an upgrade to /).
func TestChatPageHTTP(t *testing.T) {
	s := startTest(t, nil)
	base := "http://" + s.Addr().String()
	get := func(method, path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: read body: %v", method, path, err)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != web.CSP {
			t.Errorf("%s %s: CSP %q, want %q", method, path, got, web.CSP)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no X-Content-Type-Options: nosniff", method, path)
		}
		return resp, string(b)
	}

	resp, page := get("GET", "/")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("Cache-Control") != web.CacheRevalidate {
		t.Fatalf("GET /: %s, %q, cache %q", resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	if inline := regexp.MustCompile(`<script>|<style|\sstyle=|\son[a-z]+=`).FindString(page); inline != "" {
		t.Errorf("the page has inline script, style or a handler (%q), which the CSP refuses", inline)
	}
	links := regexp.MustCompile(`"(/web/[a-z]+\.([a-z]+))\?(v=[0-9a-f]{16})"`).FindAllStringSubmatch(page, -1)
	types := map[string]string{"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "svg": "image/svg+xml"}
	if len(links) != len(types) {
		t.Fatalf("the page links %d hashed assets, want %d: %q", len(links), len(types), links)
	}
	for _, l := range links {
		path, ext, v := l[1], l[2], l[3]
		resp, body := get("GET", path+"?"+v)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != types[ext] || resp.Header.Get("Cache-Control") != web.CacheImmutable || len(body) == 0 {
			t.Errorf("GET %s?%s: %s, %q, cache %q, %d bytes", path, v, resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), len(body))
		}
		etag := resp.Header.Get("ETag")
		// Another (older) version's URL must not be cached for ever.
		if resp, _ := get("GET", path+"?v=0000000000000000"); resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != web.CacheRevalidate {
			t.Errorf("GET %s with a stale version: %s, cache %q, want 200 and %q", path, resp.Status, resp.Header.Get("Cache-Control"), web.CacheRevalidate)
		}
		if resp, body := get("GET", path, "If-None-Match", `"other", W/`+etag); resp.StatusCode != 304 || body != "" {
			t.Errorf("GET %s with If-None-Match %s: %s with %d bytes, want 304 and none", path, etag, resp.Status, len(body))
		}
		if resp, body := get("HEAD", path); resp.StatusCode != 200 || body != "" || resp.ContentLength <= 0 {
			t.Errorf("HEAD %s: %s, %d bytes, Content-Length %d", path, resp.Status, len(body), resp.ContentLength)
		}
	}
	if resp, _ := get("GET", "/web/missing.js"); resp.StatusCode != 404 {
		t.Errorf("GET /web/missing.js: %s, want 404", resp.Status)
	}
	if resp, _ := get("POST", "/"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %s, Allow %q, want 405 and GET, HEAD", resp.Status, resp.Header.Get("Allow"))
	}
	rc := dialRaw(t, s)
	rc.write([]byte(upgradeRequest("/")))
	if r := rc.response(); r.StatusCode != 404 {
		t.Errorf("WebSocket upgrade on /: %s, want 404", r.Status)
	}
	if got := metricValue(s, `wsbench_upgrade_failures_total{reason="not_found"}`); got != "1" {
		t.Errorf("not_found upgrade failures = %s, want 1", got)
	}
}
