package web

import (
	"regexp"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	page, cache, ok := s.Lookup("/", "")
	if !ok || cache != CacheRevalidate || page.ContentType != "text/html; charset=utf-8" {
		t.Fatalf("Lookup(/) = %q, %q, %v", page.ContentType, cache, ok)
	}
	for name, ctype := range map[string]string{"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"} {
		a, _, ok := s.Lookup(Prefix+name, "")
		if !ok || a.ContentType != ctype {
			t.Errorf("Lookup(%s) = %q, %v; want %q", name, a.ContentType, ok, ctype)
			continue
		}
		link := Prefix + name + "?v=" + a.version
		if !strings.Contains(string(page.Body), `"`+link+`"`) {
			t.Errorf("the page does not link %s", link)
		}
		if _, cache, _ := s.Lookup(Prefix+name, "v="+a.version); cache != CacheImmutable {
			t.Errorf("%s: cache %q, want %q", link, cache, CacheImmutable)
		}
		if _, cache, _ := s.Lookup(Prefix+name, "v=stale"); cache != CacheRevalidate {
			t.Errorf("%s?v=stale: cache %q, want %q", name, cache, CacheRevalidate)
		}
	}
	for _, p := range []string{"/web/", "/web/index.html", "/web/../app.js", "/app.js", "/web/web.go"} {
		if _, _, ok := s.Lookup(p, ""); ok {
			t.Errorf("Lookup(%q) found a file", p)
		}
	}
}

// TestNoHTMLSinks keeps untrusted text out of the HTML parser: the script
// writes text with textContent only, and evaluates no strings.
func TestNoHTMLSinks(t *testing.T) {
	js, err := files.ReadFile("app.js")
	if err != nil {
		t.Fatal(err)
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(['"]|setInterval\(['"]`)
	if m := sinks.FindString(string(js)); m != "" {
		t.Errorf("app.js uses %s; render untrusted text with textContent", m)
	}
}
