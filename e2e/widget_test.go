package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/wsclient"
)

// TestLandingPage: / says what the server is and gives the snippet with
// this server's address, under the strict CSP, without console errors.
func TestLandingPage(t *testing.T) {
	srv := newServer(t, withDemo)
	tb := newTab(t)
	tb.do(chromedp.Navigate(srv.URL + "/"))
	tb.waitText("h1", "Parley")
	tb.waitText(".snippet", `<script src="`+srv.URL+`/widget.js" async></script>`)
	tb.waitText(".cards", "Try the widget")
	tb.screenshot("landing")
}

// frameSend types text into the message box of the widget and sends it.
func (tb *tab) frameSend(text string) {
	tb.t.Helper()
	tb.frameDo("#msg", func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(sel, text, in)
	})
	tb.frameClick("#send-btn")
}

// bubbles returns the text of every message in the widget's conversation.
func (tb *tab) bubbles() []string { tb.t.Helper(); return tb.frameTexts("#log .msg .bubble") }

// requireOnce fails unless every text is shown exactly once in list.
func requireOnce(t *testing.T, list []string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		n := 0
		for _, s := range list {
			if s == text {
				n++
			}
		}
		require.Equal(t, 1, n, "%q must be shown exactly once in %q", text, list)
	}
}

func (tb *tab) waitBubble(text string) {
	tb.t.Helper()
	tb.frameWaitJS(`Array.from(document.querySelectorAll('#log .msg:not(.pending) .bubble')).some(e => e.textContent === ` + jsString(text) + `)`)
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

// agentSend sends a message (or a whisper) from a Go agent and waits for
// its acknowledgement.
func agentSend(p *peer, sessionID, text, cmid string, whisper bool) {
	p.t.Helper()
	p.send(wsclient.Frame{"type": "send", "session_id": sessionID, "text": text, "client_msg_id": cmid, "whisper": whisper, "req": cmid})
	f := p.waitFor("sent "+cmid, func(f wsclient.Frame) bool { return f.Str("re") == cmid })
	require.Equal(p.t, "sent", f.Str("type"), "%v", f)
}

// TestWidgetChat walks the customer's whole conversation in the widget:
// open, queue, assignment, typing both ways, a whisper that never shows,
// HTML shown as text, read receipts, dropped connections and a server
// restart with every message shown once, a reload that restores the
// chat, the unread badge, the end, and the past conversation.
func TestWidgetChat(t *testing.T) {
	srv := newServer(t)
	tb := newTab(t)
	// The server going away on purpose makes the browser log failed
	// WebSocket connections; nothing else may be logged.
	tb.allow("WebSocket connection to 'ws://" + strings.TrimPrefix(srv.URL, "http://") + "/v1/customer/ws' failed")
	token := srv.customerToken("u-ada", "Ada")
	page := srv.hostPage(token)
	tb.do(chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))

	// The launcher is an accessible button; the frame is made on open.
	attrs := run(tb, chromedp.Attributes(chromedp.CSS("#parley-launcher")))
	require.Equal(t, "Open chat", attrs["aria-label"])
	require.Equal(t, "false", attrs["aria-expanded"])
	require.Zero(t, run(tb, chromedp.Evaluate[int](`document.querySelectorAll('iframe').length`)), "the frame must wait for the first open")
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.waitJS(`document.getElementById('parley-launcher').getAttribute('aria-expanded') === 'true'`)
	tb.frameWaitVisible("#msg")
	tb.frameWaitJS(`document.querySelector('label[for=msg]').textContent === 'Message' && document.getElementById('send-btn').textContent === 'Send' && document.getElementById('log').getAttribute('role') === 'log'`)
	tb.frameWaitText("#subtitle", "Signed in as Ada")
	tb.screenshot("widget-open")

	// Start: the visitor waits in the queue with a position.
	tb.frameSend("Hello, my order is late")
	tb.frameWaitText("#queue-position", "You are next in line")
	tb.frameWaitText("#queue-wait", "No agent is online right now")
	tb.waitBubble("Hello, my order is late")
	tb.screenshot("widget-queued-offline")

	// An agent at capacity comes online: still no free slot, but now there
	// is a wait estimate.
	busyAgentOnline(t, srv, "Bo")
	tb.frameWaitText("#queue-wait", "Estimated wait")
	tb.frameWaitText("#queue-position", "You are next in line")
	tb.screenshot("widget-queued")

	// An agent goes available and is assigned the chat.
	sam, _ := srv.agentWS("Sam")
	sam.send(wsclient.Frame{"type": "status", "status": "available"})
	assigned := sam.expect("assigned")
	sid := assigned.Obj("session").Str("id")
	require.NotEmpty(t, sid)
	tb.frameWaitText("#title", "Chatting with Sam")
	tb.frameWaitJS(`document.getElementById('queue-card').hidden`)

	// Typing both ways.
	sam.send(wsclient.Frame{"type": "typing", "session_id": sid, "active": true})
	tb.frameWaitText("#typing", "Sam is typing")
	tb.frameKeys("#msg", "I")
	typing := sam.waitFor("typing", func(f wsclient.Frame) bool { return f.Str("type") == "typing" })
	require.Equal(t, true, typing["active"])
	require.Equal(t, "customer", typing.Obj("from").Str("role"))
	tb.frameWaitJS(`(document.getElementById('msg').value = '', true)`)

	// A whisper never reaches the widget; the reply after it does, and
	// the open widget tells the agent it was read.
	agentSend(sam, sid, "whisper: she ordered twice", "w-1", true)
	agentSend(sam, sid, "Hi Ada, I am checking your order.", "a-1", false)
	tb.waitBubble("Hi Ada, I am checking your order.")
	tb.frameWaitJS(`document.getElementById('typing').textContent === ''`) // the message ends the indicator
	for _, text := range tb.frameTexts("body") {
		require.NotContains(t, text, "she ordered twice")
	}
	read := sam.waitFor("read", func(f wsclient.Frame) bool { return f.Str("type") == "read" })
	require.Equal(t, sid, read.Str("session_id"))
	require.GreaterOrEqual(t, read.Num("seq"), 1)
	tb.frameWaitText(".msg.agent .who", "Sam")
	// The host page hears the agent's message through Parley('on', 'message').
	tb.waitJS(`window.heard.includes('Sam: Hi Ada, I am checking your order.')`)
	require.NotContains(t, strings.Join(run(tb, chromedp.Evaluate[[]string](`window.heard`)), "\n"), "ordered twice")

	// HTML is text, on both sides.
	const evil = `<img src=x onerror=alert(1)>`
	agentSend(sam, sid, evil, "a-2", false)
	tb.waitBubble(evil)
	mine := "Me too: " + evil
	tb.frameSend(mine)
	got := sam.waitFor("customer's html", isEvent("message", mine))
	require.Equal(t, "customer", got.Obj("event").Obj("from").Str("role"))
	tb.waitBubble(mine)
	tb.waitBubble(evil) // shown as its own text: parsed as HTML, its text would be empty
	tb.frameWaitJS(`document.querySelectorAll('#log img, #log [onerror]').length === 0`)
	tb.screenshot("widget-chatting")

	// The server drops every WebSocket without a close frame: the widget
	// reconnects and resumes, the agent reconnects, nothing is lost or
	// doubled.
	require.Positive(t, srv.dropConns())
	sam, _ = srv.agentWS("Sam")
	agentSend(sam, sid, "Still here after the network blip.", "a-3", false)
	tb.waitBubble("Still here after the network blip.")

	// The server restarts; the visitor writes while it is down: the
	// message waits, is sent once the widget is back, and shows once.
	srv.down()
	tb.frameSend("Typed while you were away")
	tb.frameWaitJS(`document.querySelector('#log .pending') !== null`)
	srv.up()
	sam, _ = srv.agentWS("Sam")
	tb.waitBubble("Typed while you were away")
	tb.frameWaitJS(`document.querySelector('#log .pending') === null`)
	history := fetchHistory(t, sam, sid)
	require.Equal(t, 1, strings.Count(strings.Join(history, "\n"), "Typed while you were away"))
	requireOnce(t, tb.bubbles(), "Hello, my order is late", "Hi Ada, I am checking your order.", evil, mine,
		"Still here after the network blip.", "Typed while you were away")

	// A reload restores the open conversation: the frame is made at
	// once (closed) and shows every message once.
	tb.do(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
	tb.frame()
	require.Equal(t, "false", run(tb, chromedp.Attributes(chromedp.CSS("#parley-launcher")))["aria-expanded"])
	tb.waitBubble("Typed while you were away")
	// While closed, a new reply shows an unread badge.
	agentSend(sam, sid, "Your parcel left the warehouse.", "a-4", false)
	tb.waitText("#parley-badge", "1")
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.waitJS(`document.getElementById('parley-badge').style.display === 'none'`)
	sam.waitFor("read of a-4", func(f wsclient.Frame) bool { return f.Str("type") == "read" && f.Num("seq") >= 9 })
	requireOnce(t, tb.bubbles(), "Hello, my order is late", "Hi Ada, I am checking your order.", evil, mine,
		"Still here after the network blip.", "Typed while you were away", "Your parcel left the warehouse.")

	// Escape closes the widget.
	tb.frameKeys("#msg", kb.Escape)
	tb.waitJS(`document.getElementById('parley-launcher').getAttribute('aria-expanded') === 'false'`)
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))

	// The agent ends the chat.
	sam.send(wsclient.Frame{"type": "end", "session_id": sid, "req": "end"})
	tb.frameWaitJS(`!document.getElementById('ended-card').hidden`)
	tb.frameWaitText("#log", "The chat was ended by Sam")

	// The visitor reads the past conversation.
	tb.frameClick("#past-btn")
	tb.frameWaitText("#past-list", "ended")
	tb.frameClick("#past-list button")
	tb.frameWaitText("#past-log", "Your parcel left the warehouse.")
	requireOnce(t, tb.frameTexts("#past-log .bubble"), "Hi Ada, I am checking your order.", "Typed while you were away")
	for _, text := range tb.frameTexts("#past-log") {
		require.NotContains(t, text, "she ordered twice")
	}

	// The transcript downloads through a fetch with the token in a
	// header; no URL the browser asked for ever held the token.
	dir := t.TempDir()
	tb.downloadTo(dir)
	tb.frameClick("#past-download")
	transcript := waitFile(t, dir)
	require.Contains(t, transcript, "Your parcel left the warehouse.")
	require.NotContains(t, transcript, "she ordered twice")
	urls := tb.requestedURLs()
	joined := strings.Join(urls, "\n")
	require.Contains(t, joined, "/v1/customer/ws", "the WebSocket URLs must be watched too")
	require.Contains(t, joined, "/transcript?format=txt")
	for _, u := range urls {
		require.NotContains(t, u, token)
	}
}

// awaitDownload waits until a file in dir satisfies done (a complete
// download: browsers write partial files first) and returns its name and
// contents.
func awaitDownload(t *testing.T, dir, what string, done func(name string, b []byte) bool) (string, []byte) {
	t.Helper()
	deadline := time.After(waitTime)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && done(e.Name(), b) {
				return e.Name(), b
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no %s downloaded in %s within %s (found: %s)", what, dir, waitTime, strings.Join(names, ", "))
		}
	}
}

// waitFile waits for a downloaded text file in dir and returns its text.
func waitFile(t *testing.T, dir string) string {
	t.Helper()
	_, b := awaitDownload(t, dir, "text file", func(name string, _ []byte) bool { return strings.HasSuffix(name, ".txt") })
	return string(b)
}

// fetchHistory returns the texts of a session's messages, as the agent
// sees them (whispers included).
func fetchHistory(t *testing.T, p *peer, sid string) []string {
	t.Helper()
	p.send(wsclient.Frame{"type": "history", "session_id": sid, "limit": 200, "req": "hist"})
	f := p.waitFor("history", func(f wsclient.Frame) bool { return f.Str("re") == "hist" })
	var out []string
	for _, ev := range f.List("events") {
		if ev.Str("kind") == "message" {
			out = append(out, ev.Str("text"))
		}
	}
	return out
}

// TestWidgetMobileAnonymous: an anonymous visitor on a phone-sized screen
// gets a full-screen chat with a 16px input; the visitor token lands in
// the host page's localStorage, and Escape closes the chat.
func TestWidgetMobileAnonymous(t *testing.T) {
	srv := newServer(t, withAnonymous)
	tb := newTab(t)
	tb.viewport(375, 740)
	tb.do(chromedp.Navigate(srv.hostPage("")), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.frameWaitVisible("#msg")
	tb.waitJS(`(() => { const r = document.getElementById('parley-box').getBoundingClientRect(); return r.width === 375 && r.height === 740; })()`)
	tb.frameWaitJS(`parseFloat(getComputedStyle(document.getElementById('msg')).fontSize) >= 16`)
	tb.frameSend("Do you ship to Norway?")
	tb.frameWaitText("#queue-position", "in line")
	key := "parley:" + srv.URL + ":visitor"
	tb.waitJS(`(localStorage.getItem(` + jsString(key) + `) || '').split('.').length === 3`)
	tb.screenshot("widget-mobile")
	tb.frameKeys("#msg", kb.Escape)
	tb.waitJS(`document.getElementById('parley-box').style.display === 'none'`)

	// Parley('reset') (the host's sign-out) forgets the visitor.
	tb.do(chromedp.Evaluate[chromedp.Void](`Parley('reset')`))
	tb.waitJS(`localStorage.getItem(` + jsString(key) + `) === null && document.querySelectorAll('iframe').length === 0`)
}

// TestWidgetSignInRequired: without --allow-anonymous and without a
// customer token the widget says so instead of failing silently.
func TestWidgetSignInRequired(t *testing.T) {
	srv := newServer(t)
	tb := newTab(t)
	tb.do(chromedp.Navigate(srv.hostPage("")), chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.frameWaitText("#banner", "Sign in on this site to chat with us.")
	tb.frameWaitJS(`document.getElementById('msg').disabled`)
}

// TestDemoPage: /demo on 127.0.0.1 embeds the widget from localhost (a
// cross-origin frame), signs a demo token for the name typed, and the
// person chats as that customer.
func TestDemoPage(t *testing.T) {
	srv := newServer(t, withDemo)
	tb := newTab(t)
	tb.do(chromedp.Navigate(srv.URL+"/demo"), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	tb.waitJS(`document.querySelector('script[src$="/widget.js"]').src === 'http://localhost` + port + `/widget.js'`)
	tb.do(chromedp.SetValue(chromedp.CSS("#demo-name"), "Grace Hopper"), chromedp.Click(chromedp.CSS("#demo-form button")))
	tb.waitText("#demo-status", "Chatting as Grace Hopper")
	tb.frameWaitText("#subtitle", "Signed in as Grace Hopper")
	tb.frameSend("Is this the demo?")
	tb.frameWaitText("#queue-position", "in line")
	sam, _ := srv.agentWS("Sam")
	sam.send(wsclient.Frame{"type": "status", "status": "available"})
	assigned := sam.expect("assigned")
	require.Equal(t, "Grace Hopper", assigned.Obj("customer_profile").Str("name"))
	agentSend(sam, assigned.Obj("session").Str("id"), "Yes, welcome!", "d-1", false)
	tb.waitBubble("Yes, welcome!")
	tb.screenshot("demo")
}
