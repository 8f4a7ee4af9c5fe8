package target

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/wsbench/wsbench/internal/chromiumtest"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/chat-page.png from TestChatPageInChromium")

// tab is one browser tab on the chat page, recording what it complains
// about: console errors and warnings, exceptions, log entries (CSP
// violations and failed loads among them).
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu       sync.Mutex
	problems []string
}

func openTab(t *testing.T, browser context.Context, name, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	p := &tab{t: t, name: name, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p.problems = append(p.problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if ex := e.ExceptionDetails.Exception; ex != nil {
				msg += " " + ex.Description
			}
			p.problems = append(p.problems, "exception: "+msg)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				p.problems = append(p.problems, fmt.Sprintf("log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#messages"))); err != nil {
		t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return p
}

func (p *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *tab, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("%s: evaluate %s: %v", p.name, js, err)
	}
	return v
}

// wait polls a JavaScript condition until it holds.
func (p *tab) wait(what, js string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if eval[bool](p, "!!("+js+")") {
			return
		}
		if time.Now().After(deadline) {
			state := eval[string](p, `document.querySelector('#status').textContent + ' | ' + [...document.querySelectorAll('#messages li')].map(l => l.textContent).join(' / ')`)
			p.t.Fatalf("%s: waiting for %s (%s): page shows %s", p.name, what, js, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// submit types value into the input sel and clicks button.
func (p *tab) submit(sel, value, button string) {
	p.t.Helper()
	p.run("type into "+sel, chromedp.SetValue(chromedp.CSS(sel), value), chromedp.Click(chromedp.CSS(button)))
}

func (p *tab) login(nick, room string) {
	p.t.Helper()
	p.submit("#nick", nick, "#nick-form button")
	p.wait("welcome as "+nick, fmt.Sprintf("document.querySelector('#me').textContent === %q", nick))
	p.submit("#join-room", room, "#join-form button")
	p.wait("joined "+room, fmt.Sprintf("document.querySelector('#view-title').textContent === %q && !document.querySelector('#text').disabled", room))
}

func (p *tab) checkQuiet() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		p.t.Errorf("%s: the page complained: %s", p.name, pr)
	}
}

// lineJS finds a message line in the current view by its text.
func lineJS(cls, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#messages li.%s')].find(l => l.querySelector('.text').textContent === %q)`, cls, text)
}

// TestChatPageInChromium drives the chat page in headless Chromium: two
// tabs join a room and talk, one sends the other a private message, a
// third joins late and gets the history, member counts and a live msgs/s
// show while a Go client sends, and every tab reconnects (and rejoins)
// after the server closes its connection. Untrusted text stays text. No
// tab logs an error.
func TestChatPageInChromium(t *testing.T) {
	exe := chromiumtest.Path(t, "test the chat page in a browser")
	s := startTest(t, nil)
	url := "http://" + s.Addr().String() + "/"

	actx, cancelA := chromiumtest.Allocator(exe, chromedp.WindowSize(1000, 560))
	defer cancelA()
	browser, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	browser, cancelT := context.WithTimeout(browser, 3*time.Minute)
	defer cancelT()

	alice := openTab(t, browser, "alice", url)
	bob := openTab(t, browser, "bob", url)
	alice.login("alice", "#demo")
	bob.login("bob", "#demo")
	alice.wait("bob's arrival", `document.querySelector('#members').textContent === '2'`)
	bob.wait("two members", `document.querySelector('#members').textContent === '2'`)

	hostile := `<img src=x onerror=alert(1)><b>bold?</b> & "quotes"`
	alice.submit("#text", "hi bob, the load test starts in a minute", "#send")
	bob.wait("alice's message", lineJS("said", "hi bob, the load test starts in a minute"))
	bob.submit("#text", "ready when you are", "#send")
	alice.wait("bob's answer", lineJS("said", "ready when you are"))
	alice.submit("#text", "I'll keep this tab open and watch #demo", "#send")
	bob.wait("alice's second message", lineJS("said", "I'll keep this tab open and watch #demo"))

	// A private message: bob opens the DM view, alice sees it unread.
	bob.run("open private messages", chromedp.Click(chromedp.CSS("#dm-view")))
	bob.submit("#dm-to", "alice", "#dm-to")
	bob.submit("#text", "psst, only for you", "#send")
	bob.wait("own dm shown after its ack", lineJS("dm", "psst, only for you"))
	bob.run("back to the room", chromedp.Click(chromedp.CSS(`#rooms button[data-room="#demo"]`)))
	bob.wait("the room again", lineJS("said", "ready when you are"))
	alice.wait("an unread dm", `document.querySelector('#dm-unread').textContent === '1'`)
	if eval[bool](alice, "!!"+lineJS("said", "psst, only for you")) {
		t.Errorf("the dm showed up in the room")
	}
	// The screenshot for the docs: alice's view, a dm waiting.
	png, err := chromedp.Run(alice.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	alice.run("open private messages", chromedp.Click(chromedp.CSS("#dm-view")))
	alice.wait("the dm from bob", lineJS("dm", "psst, only for you")+` && document.querySelector('#messages li.dm .from').textContent === 'bob → alice'`)
	alice.run("back to the room", chromedp.Click(chromedp.CSS(`#rooms button[data-room="#demo"]`)))
	alice.wait("the room again", lineJS("said", "ready when you are"))

	bob.submit("#text", hostile, "#send")
	alice.wait("the hostile text, as text", lineJS("said", hostile))
	if injected := eval[int](alice, `document.querySelectorAll('#messages img, #messages b').length`); injected != 0 {
		t.Errorf("message text became %d HTML elements; it must stay text", injected)
	}

	// A late joiner gets the history, marked as such.
	// (carol comes in by a link naming her and the room)
	carol := openTab(t, browser, "carol", url+"?nick=carol&room=%23demo")
	carol.wait("joined by the link", `document.querySelector('#me').textContent === 'carol' && document.querySelector('#view-title').textContent === '#demo'`)
	for _, text := range []string{"hi bob, the load test starts in a minute", "ready when you are", hostile} {
		carol.wait("history: "+text, lineJS("said.history", text))
	}
	alice.wait("three members", `document.querySelector('#members').textContent === '3'`)
	alice.wait("the room list's count", `document.querySelector('#rooms button[data-room="#demo"] .count').textContent === '3'`)

	// Load from a Go client: the rate shows while it lasts.
	d := &websocket.Dialer{}
	load := chatClient(t, d, s.URL("/chat"), "loadgen", "#demo")
	defer load.Close()
	go func() { // drain acks; the reads end when the connection closes
		for {
			if _, _, err := load.ReadMessage(); err != nil {
				return
			}
		}
	}()
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				sent <- nil
				return
			case <-tick.C:
			}
			if err := load.WriteJSON(map[string]any{"op": "say", "room": "#demo", "text": fmt.Sprintf("load %d", i), "exclude_self": true}); err != nil {
				sent <- err
				return
			}
		}
	}()
	alice.wait("a non-zero msgs/s", `parseFloat(document.querySelector('#rate').textContent) > 0`)
	carol.wait("a non-zero msgs/s", `parseFloat(document.querySelector('#rate').textContent) > 0`)
	alice.wait("four members", `document.querySelector('#members').textContent === '4'`)
	close(stop)
	if err := <-sent; err != nil {
		t.Fatalf("load client: %v", err)
	}
	alice.wait("the rate falling back to zero", `parseFloat(document.querySelector('#rate').textContent) === 0`)
	load.Close()

	// The server cuts every connection; each tab reconnects, takes its
	// nickname again, rejoins, and does not show the history twice.
	s.table.mu.RLock()
	var ids []uint64
	for _, c := range s.table.slots {
		if c != nil {
			ids = append(ids, c.id)
		}
	}
	s.table.mu.RUnlock()
	for _, id := range ids {
		s.closeConn(id, 1012, "service restart")
	}
	for _, p := range []*tab{alice, bob, carol} {
		p.wait("the disconnect shown", `[...document.querySelectorAll('#messages li.system')].some(l => l.textContent.includes('disconnected (1012: service restart)'))`)
		// Welcomed under its own name again, so the compose box is
		// enabled (a click on the disabled button would send nothing).
		p.wait("connected again", fmt.Sprintf(`document.querySelector('#status').dataset.state === 'open' && document.querySelector('#me').textContent === %q && !document.querySelector('#send').disabled`, p.name))
	}
	alice.wait("three members after rejoining", `document.querySelector('#members').textContent === '3'`)
	alice.submit("#text", "back after the restart", "#send")
	for _, p := range []*tab{alice, bob, carol} {
		p.wait("a message after the reconnect", lineJS("said", "back after the restart"))
		copies := eval[int](p, fmt.Sprintf(`[...document.querySelectorAll('#messages li')].filter(l => l.querySelector('.text').textContent === %q).length`, "ready when you are"))
		if copies != 1 {
			t.Errorf("%s: a message shows %d times after the rejoin's history, want once", p.name, copies)
		}
	}
	// A nickname still held (as after a reconnect the server has not
	// noticed yet) is asked for again until it is free.
	holder := chatClient(t, d, s.URL("/chat"), "dave", "#elsewhere")
	dave := openTab(t, browser, "dave", url+"?nick=dave&room=%23demo")
	dave.wait("nick_taken shown", `[...document.querySelectorAll('#messages li.error')].some(l => l.textContent.includes('nick_taken'))`)
	holder.Close()
	dave.wait("the nickname once free", `document.querySelector('#me').textContent === 'dave' && document.querySelector('#view-title').textContent === '#demo'`)
	for _, p := range []*tab{alice, bob, carol, dave} {
		p.checkQuiet()
	}
	if t.Failed() {
		return
	}

	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("..", "docs", "chat-page.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChatPageBackoff stops the server under an open page and answers its
// reconnects with a listener that refuses them with 503: the attempts come
// apart by at least the smallest back-off, and further apart as they fail.
func TestChatPageBackoff(t *testing.T) {
	exe := chromiumtest.Path(t, "test the chat page in a browser")
	s := startTest(t, nil)
	addr := s.Addr().String()

	actx, cancelA := chromiumtest.Allocator(exe)
	defer cancelA()
	browser, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	browser, cancelT := context.WithTimeout(browser, 2*time.Minute)
	defer cancelT()
	p := openTab(t, browser, "page", "http://"+addr+"/")
	p.wait("connected", `document.querySelector('#status').dataset.state === 'open'`)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	var ln net.Listener
	waitFor(t, "the port to be free again", func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	defer ln.Close()
	const attempts = 4
	accepted := make(chan time.Time, attempts)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// Count upgrade requests only, when they arrive: Chromium
				// also opens speculative connections that never carry one.
				// Refuse each as a server that is still starting would.
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				at := time.Now()
				c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
				if req.URL.Path == "/chat" && req.Header.Get("Upgrade") != "" {
					select {
					case accepted <- at:
					default:
					}
				}
			}()
		}
	}()
	var at []time.Time
	for len(at) < attempts {
		select {
		case a := <-accepted:
			at = append(at, a)
		case <-time.After(time.Minute):
			t.Fatalf("%d reconnect attempts in a minute, want %d", len(at), attempts)
		}
	}
	p.wait("the back-off shown", `/reconnecting in [0-9.]+ s/.test(document.querySelector('#status').textContent)`)
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]))
	}
	t.Logf("gaps between reconnect attempts: %v", gaps)
	// The n-th delay lies in [d/2, d] with d = 500ms·2^n: never below
	// 250ms, and two failures later at least twice as long (1.5 times
	// leaves room for the time each refused attempt takes).
	for i, g := range gaps {
		if g < 250*time.Millisecond {
			t.Errorf("reconnect %d came %v after the one before; the back-off is at least 250ms", i+2, g)
		}
	}
	if gaps[2] < gaps[0]*3/2 {
		t.Errorf("reconnect gaps %v do not grow: the third should be at least 1.5 times the first", gaps)
	}
}
