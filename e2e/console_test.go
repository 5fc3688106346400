package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/wsclient"
)

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// eval evaluates a JavaScript expression in the page and returns its value.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[T](expr))
}

// clearInput empties a form field.
func clearInput(tb *tab, id string) {
	tb.t.Helper()
	eval[bool](tb, fmt.Sprintf(`(document.getElementById(%s).value = '') === ''`, js(id)))
}

// consoleTab opens a tab for a console test; when the test fails it logs
// what the console showed, to tell a slow wait from a wrong screen.
func consoleTab(t *testing.T) *tab {
	tb := newTab(t)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		defer cancel()
		if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({state: window.parleyConsole && parleyConsole.connState,
			lastClose: window.parleyConsole && parleyConsole.conn && parleyConsole.conn.lastClose, toast: document.getElementById('toast').textContent, status: window.parleyConsole && parleyConsole.status}) + '\n' + document.body.innerText`)); err == nil {
			t.Logf("console page text at failure:\n%s", text)
		}
	})
	return tb
}

// consoleSetup opens a console tab and starts a server. Until the server
// branch with GET /v1/agent/customers/{id}/sessions is merged, the console
// asks for it once and Chromium logs the 404; that one error is expected
// only when the route is missing.
func consoleSetup(t *testing.T, opts ...serverOption) (*tab, *server) {
	tb := consoleTab(t)
	srv := newServer(t, opts...)
	// Without a token the route answers 401; a server without it, 404.
	res, err := http.Get(srv.URL + "/v1/agent/customers/nobody/sessions")
	require.NoError(t, err)
	_ = res.Body.Close()
	if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed {
		tb.allow("/v1/agent/customers/")
	}
	return tb, srv
}

// consoleSignIn opens the console and fills in the sign-in form.
func consoleSignIn(tb *tab, url, email, password string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(url+"/console/"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin-btn")))
}

// consoleStatus picks a status in the console's Status control, as a
// person would, and waits for the server's answer to show.
func consoleStatus(tb *tab, status string) {
	tb.t.Helper()
	tb.waitText("#conn-state", "Connected")
	tb.do(chromedp.WaitEnabled(chromedp.ID("status")))
	eval[bool](tb, fmt.Sprintf(`(() => { const s = document.getElementById('status'); s.value = %s;
		s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, js(status)))
	tb.waitJS(fmt.Sprintf(`document.getElementById('status-dot').classList.contains(%s)`, js(status)))
}

// bubbleCount counts the console's messages whose text is exactly text.
func bubbleCount(tb *tab, text string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf(`Array.from(document.querySelectorAll('#events .bubble')).filter(b => b.textContent === %s).length`, js(text)))
}

// waitBubble waits until the console shows a stored message with text.
func waitBubble(tb *tab, text string) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf(`Array.from(document.querySelectorAll('#events .bubble')).some(b => b.textContent === %s)`, js(text)))
}

// typeReply types text into the Reply box and presses Enter.
func typeReply(tb *tab, text string) {
	tb.t.Helper()
	tb.do(chromedp.SendKeys(chromedp.ID("reply"), text+"\r"))
}

func sendAs(p *peer, text, cmid string) {
	p.t.Helper()
	p.send(wsclient.Frame{"type": "send", "text": text, "client_msg_id": cmid, "req": cmid})
	p.waitFor("sent "+cmid, func(f wsclient.Frame) bool { return f.Str("type") == "sent" && f.Str("re") == cmid })
}

func TestConsoleFirstSignInSetsNewPassword(t *testing.T) {
	tb, srv := consoleSetup(t)
	otp := srv.firstAgent("admin@localhost")
	// Chromium logs every refused sign-in (401, 403) as a console error.
	tb.allow("/v1/agent/login")

	tb.do(chromedp.Navigate(srv.URL + "/console/"))
	tb.do(chromedp.WaitVisible(chromedp.ID("email")))
	tb.screenshot("console-signin")

	// A wrong password is refused and says so.
	tb.do(chromedp.SendKeys(chromedp.ID("email"), "admin@localhost"),
		chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
		chromedp.Click(chromedp.ID("signin-btn")))
	tb.waitText("#login-error", "Wrong email or password.")

	// The one-time password leads to the New password form.
	clearInput(tb, "password")
	tb.do(chromedp.SendKeys(chromedp.ID("password"), otp),
		chromedp.Click(chromedp.ID("signin-btn")),
		chromedp.WaitVisible(chromedp.ID("new-password")))
	require.Equal(t, []string{"New password"}, tb.texts(`label[for="new-password"]`))
	tb.screenshot("console-new-password")

	// Too short: refused in the page, nothing sent.
	tb.do(chromedp.SendKeys(chromedp.ID("new-password"), "short"), chromedp.Click(chromedp.ID("newpw-btn")))
	tb.waitText("#newpw-error", "at least 12 characters")

	const newPassword = "a calm new password"
	clearInput(tb, "new-password")
	tb.do(chromedp.SendKeys(chromedp.ID("new-password"), newPassword),
		chromedp.Click(chromedp.ID("newpw-btn")))
	tb.waitText("#conn-state", "Connected")
	tb.waitText("#agent-name", "admin")

	// The token is in sessionStorage and in no URL.
	token := eval[string](tb, `sessionStorage.getItem('parley.console.token') || ''`)
	require.NotEmpty(t, token)
	require.NotContains(t, eval[string](tb, `location.href`), token)

	// The new password works and the one-time password no longer does.
	srv.agentToken("admin@localhost", newPassword)
	tb.do(chromedp.Click(chromedp.ID("signout-btn")), chromedp.WaitVisible(chromedp.ID("email")))
	require.Empty(t, eval[string](tb, `sessionStorage.getItem('parley.console.token') || ''`))
	clearInput(tb, "password")
	tb.do(chromedp.SendKeys(chromedp.ID("password"), otp),
		chromedp.Click(chromedp.ID("signin-btn")))
	tb.waitText("#login-error", "Wrong email or password.")
	clearInput(tb, "password")
	tb.do(chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.Click(chromedp.ID("signin-btn")))
	tb.waitText("#conn-state", "Connected")

	// Signing out and in as someone else starts from that agent's own
	// status: the console does not carry "available" over.
	consoleStatus(tb, "available")
	tb.do(chromedp.Click(chromedp.ID("signout-btn")), chromedp.WaitVisible(chromedp.ID("email")))
	email, password := srv.addAgent("Second", 2)
	clearInput(tb, "email")
	clearInput(tb, "password")
	tb.do(chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin-btn")))
	tb.waitText("#agent-name", "Second")
	cust, _ := srv.customerWS(srv.customerToken("u-1", "Bea"))
	cust.send(wsclient.Frame{"type": "start"})
	cust.expect("session")
	tb.waitText("#queue", "1 customer waiting")
	require.Equal(t, "offline", eval[string](tb, `document.getElementById('status').value`))
}

func TestConsoleChat(t *testing.T) {
	tb, srv := consoleSetup(t)
	email, password := srv.addAgent("Dana", 2)
	consoleSignIn(tb, srv.URL, email, password)
	tb.waitText("#conn-state", "Connected")
	tb.waitText("#load", "0/2")
	consoleStatus(tb, "available")
	tb.waitText("#queue", "No one is waiting.")

	// A verified customer starts a chat: routing assigns it to Dana.
	tok := srv.customerToken("u-42", "Ada Lovelace")
	cust, _ := srv.customerWS(tok)
	cust.send(wsclient.Frame{"type": "start", "req": "s"})
	sess := cust.expect("session").Obj("session")
	sid := sess.Str("id")
	tb.waitText("#convo-name", "Ada Lovelace")
	tb.waitText("#load", "1/2")
	tb.waitText("#chats", "Ada Lovelace")

	// The customer pane: name, email, verified, the token's profile.
	tb.waitText("#customer-name", "Ada Lovelace")
	tb.waitText("#customer-email", "u-42@example.com")
	tb.waitText("#customer-identity", "Verified customer")
	require.Equal(t, []string{"plan", "pro"}, tb.texts("#customer-profile dt, #customer-profile dd"))

	// The customer writes; the console shows it.
	sendAs(cust, "Hello, my order is late.", "c-1")
	waitBubble(tb, "Hello, my order is late.")

	// Typing, customer to agent: shown, then cleared by the message.
	cust.send(wsclient.Frame{"type": "typing", "active": true})
	tb.waitText("#typing", "Ada Lovelace is typing")
	sendAs(cust, "Order 1234.", "c-2")
	waitBubble(tb, "Order 1234.")
	tb.waitJS(`document.getElementById('typing').textContent === ''`)

	// Typing, agent to customer, then Enter sends the reply.
	tb.do(chromedp.SendKeys(chromedp.ID("reply"), "Hi Ada, let me check"))
	cust.waitFor("agent typing", func(f wsclient.Frame) bool {
		return f.Str("type") == "typing" && f.Obj("from").Str("role") == "agent" && f["active"] == true
	})
	tb.do(chromedp.KeyEvent("\r"))
	ev := cust.waitFor("reply", isEvent("message", "Hi Ada, let me check")).Obj("event")
	require.Equal(t, "Dana", ev.Obj("from").Str("name"))
	waitBubble(tb, "Hi Ada, let me check")
	require.Equal(t, "", eval[string](tb, `document.getElementById('reply').value`))

	// Shift+Enter is a new line, Enter sends both lines as one message.
	tb.do(chromedp.SendKeys(chromedp.ID("reply"), "Line one"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys(chromedp.ID("reply"), "line two\r"))
	cust.waitFor("two lines", isEvent("message", "Line one\nline two"))

	// A whisper: shown differently, never sent to the customer.
	const whisper = "Ada is on the pro plan; refund is fine."
	tb.do(chromedp.Click(chromedp.ID("whisper")))
	tb.waitJS(`document.getElementById('reply-form').classList.contains('whispering')`)
	typeReply(tb, whisper)
	waitBubble(tb, whisper)
	require.False(t, eval[bool](tb, `document.getElementById('whisper').checked`), "whisper is for the next message only")
	require.Equal(t, []string{"Whisper · agents only"}, tb.texts("#events li.msg.whisper .whisper-tag"))
	whisperBG := eval[string](tb, `getComputedStyle(document.querySelector('#events li.msg.whisper .bubble')).backgroundColor`)
	replyBG := eval[string](tb, `getComputedStyle(document.querySelector('#events li.msg.me:not(.whisper) .bubble')).backgroundColor`)
	require.NotEqual(t, replyBG, whisperBG, "a whisper looks different from a reply")
	typeReply(tb, "Refund is on its way.")
	refund := cust.waitFor("reply after the whisper", func(f wsclient.Frame) bool {
		require.NotContains(t, fmt.Sprint(f), whisper, "the customer got the whisper")
		return isEvent("message", "Refund is on its way.")(f)
	})

	// The customer's read receipt marks the reply as seen.
	cust.send(wsclient.Frame{"type": "read", "seq": refund.Obj("event").Num("seq")})
	tb.waitText("#events li.msg.me:last-child .seen-mark", "Seen")

	// Only http(s) URLs become links, opened without a referrer.
	sendAs(cust, "See https://example.com/order?id=1 and javascript:alert(1)", "c-link")
	waitBubble(tb, "See https://example.com/order?id=1 and javascript:alert(1)")
	links := eval[[]string](tb, `Array.from(document.querySelectorAll('#events a'), a => a.href + ' ' + a.rel + ' ' + a.target)`)
	require.Equal(t, []string{"https://example.com/order?id=1 noopener noreferrer _blank"}, links)

	// Markup from the customer is text.
	const xss = `<img src=x onerror=alert(1)>`
	sendAs(cust, xss, "c-3")
	waitBubble(tb, xss)
	require.Zero(t, eval[int](tb, `document.querySelectorAll('img').length`))
	cust.send(wsclient.Frame{"type": "typing", "active": true})
	tb.waitText("#typing", "Ada Lovelace is typing")
	tb.screenshot("console-chat")

	// The network drops every WebSocket. While the console is cut off the
	// agent writes, and the customer writes from a new connection.
	require.GreaterOrEqual(t, srv.dropConns(), 2)
	<-cust.c.Done()
	typeReply(tb, "Sorry, my connection dropped.")
	cust2, w := srv.customerWS(tok)
	require.Equal(t, sid, w.Obj("open_session").Str("id"))
	sendAs(cust2, "Are you still there?", "c-4")
	sendAs(cust2, "Hello?", "c-5")

	// The console reconnects by itself and shows everything exactly once.
	tb.waitText("#conn-state", "Connected")
	waitBubble(tb, "Hello?")
	tb.waitJS(`document.querySelectorAll('#pending li').length === 0`)
	waitBubble(tb, "Sorry, my connection dropped.")
	for _, text := range []string{"Hello, my order is late.", "Order 1234.", "Hi Ada, let me check",
		"See https://example.com/order?id=1 and javascript:alert(1)",
		"Line one\nline two", whisper, "Refund is on its way.", xss, "Sorry, my connection dropped.",
		"Are you still there?", "Hello?"} {
		require.Equal(t, 1, bubbleCount(tb, text), "console shows %q once", text)
	}
	cust2.send(wsclient.Frame{"type": "history", "session_id": sid, "limit": 200, "req": "h"})
	hist := cust2.waitFor("history", func(f wsclient.Frame) bool { return f.Str("re") == "h" })
	var stored []string
	last := 0
	for _, e := range hist.List("events") {
		if e.Str("kind") == "message" {
			stored = append(stored, e.Str("text"))
		}
		last = max(last, e.Num("seq"))
	}
	require.Equal(t, 1, strings.Count(strings.Join(stored, "\x00"), "Sorry, my connection dropped."), "stored once")
	seqs := eval[[]int](tb, `Array.from(document.querySelectorAll('#events li'), li => Number(li.dataset.seq))`)
	want := make([]int, last)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, seqs, "every event once, in order")
	require.NotContains(t, strings.ToLower(eval[string](tb, `document.body.textContent`)), "refresh")

	// The agent ends the chat.
	tb.do(chromedp.Click(chromedp.ID("end-btn")), chromedp.Click(chromedp.ID("end-confirm-yes")))
	end := cust2.waitFor("ended", isEvent("ended", "")).Obj("event")
	require.Equal(t, "agent", end.Str("reason"))
	tb.waitText("#closed-note", "This chat has ended.")
	tb.waitText("#load", "0/2")
	tb.do(chromedp.WaitNotVisible(chromedp.ID("reply")))
}

func TestConsoleQueueUnreadAndKeyboard(t *testing.T) {
	tb, srv := consoleSetup(t, withAnonymous)
	email, password := srv.addAgent("Lee", 2)
	consoleSignIn(tb, srv.URL, email, password)
	tb.waitText("#conn-state", "Connected")

	// Offline: customers wait in the queue, the console shows the summary.
	bea, _ := srv.customerWS(srv.customerToken("u-1", "Bea"))
	bea.send(wsclient.Frame{"type": "start"})
	bea.expect("session")
	vis, vw := srv.customerWS("")
	require.True(t, vw.Obj("customer")["visitor"] == true)
	vis.send(wsclient.Frame{"type": "start"})
	vis.expect("session")
	tb.waitText("#queue", "2 customers waiting")

	// Accept next takes the longest-waiting customer.
	tb.do(chromedp.Click(chromedp.ID("accept-next")))
	tb.waitText("#convo-name", "Bea")
	tb.waitText("#queue", "1 customer waiting")
	tb.do(chromedp.Click(chromedp.ID("accept-next")))
	tb.waitText("#convo-name", "Visitor")
	tb.waitText("#customer-identity", "Anonymous visitor")
	tb.waitText("#queue", "No one is waiting.")
	tb.waitText("#load", "2/2")

	// A message in the chat not shown counts as unread, in the list and
	// in the title.
	sendAs(bea, "Anyone there?", "b-1")
	tb.waitJS(`document.title === '(1) Parley console'`)
	tb.waitText(`#chats .unread`, "1")

	// Alt+ArrowUp/Down move between chats; opening Bea's clears the count.
	order := tb.texts("#chats .chat-name")
	require.Equal(t, []string{"Bea", "Visitor"}, order)
	tb.do(chromedp.KeyEvent(kb.ArrowUp, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	tb.waitText("#convo-name", "Bea")
	waitBubble(tb, "Anyone there?")
	tb.waitJS(`document.title === 'Parley console'`)
	tb.do(chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	tb.waitText("#convo-name", "Visitor")

	// Leave gives the visitor back to the queue.
	tb.do(chromedp.Click(chromedp.ID("leave-btn")))
	tb.waitText("#closed-note", "You left this chat")
	tb.waitText("#load", "1/2")
	tb.waitText("#queue", "1 customer waiting")
	require.True(t, slices.Contains(tb.texts("#chats .chip"), "Left"))

	// Break with a chat still open is draining; ending the last chat
	// finishes it.
	eval[bool](tb, `(() => { const s = document.getElementById('status'); s.value = 'break';
		s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	tb.waitJS(`document.getElementById('status-dot').classList.contains('draining')`)
	require.Equal(t, "Draining", eval[string](tb, `document.getElementById('status').selectedOptions[0].textContent`))
	tb.do(chromedp.Click(`#chats button[data-session]:not(.closed)`))
	tb.waitText("#convo-name", "Bea")
	tb.do(chromedp.Click(chromedp.ID("end-btn")), chromedp.Click(chromedp.ID("end-confirm-yes")))
	bea.waitFor("ended", isEvent("ended", ""))
	tb.waitJS(`document.getElementById('status-dot').classList.contains('break')`)
	require.Equal(t, "break", eval[string](tb, `document.getElementById('status').value`))
	tb.waitText("#load", "0/2")
}

func TestConsoleReloadResumesAndLoadsOlder(t *testing.T) {
	tb, srv := consoleSetup(t)
	email, password := srv.addAgent("Kim", 2)

	// A customer writes a long story while waiting in the queue.
	tok := srv.customerToken("u-7", "Cleo")
	cust, _ := srv.customerWS(tok)
	cust.send(wsclient.Frame{"type": "start"})
	cust.expect("session")
	const n = 70
	for i := 1; i <= n; i++ {
		sendAs(cust, fmt.Sprintf("Line %d of my story", i), fmt.Sprintf("s-%d", i))
	}

	consoleSignIn(tb, srv.URL, email, password)
	consoleStatus(tb, "available")
	tb.waitText("#convo-name", "Cleo")
	waitBubble(tb, fmt.Sprintf("Line %d of my story", n))
	typeReply(tb, "Thanks Cleo, reading it now.")
	cust.waitFor("reply", isEvent("message", "Thanks Cleo, reading it now."))

	// A reload keeps the sign-in and the chat, shows the latest page and
	// what arrived during the reload, and keeps the token's profile.
	tb.do(chromedp.Reload())
	sendAs(cust, "Did you get all of it?", "s-last")
	tb.waitText("#convo-name", "Cleo")
	waitBubble(tb, "Did you get all of it?")
	tb.waitText("#customer-profile", "pro")
	require.Zero(t, bubbleCount(tb, "Line 1 of my story"), "only the latest page after a reload")
	tb.do(chromedp.WaitVisible(chromedp.ID("older-btn")))

	// Load older pages back to the start; every event exactly once.
	for i := 0; i < 5 && eval[bool](tb, `!document.getElementById('older-btn').hidden`); i++ {
		before := eval[int](tb, `document.querySelectorAll('#events li').length`)
		tb.do(chromedp.Click(chromedp.ID("older-btn")))
		tb.waitJS(fmt.Sprintf(`document.querySelectorAll('#events li').length > %d`, before))
	}
	tb.do(chromedp.WaitNotVisible(chromedp.ID("older-btn")))
	seqs := eval[[]int](tb, `Array.from(document.querySelectorAll('#events li'), li => Number(li.dataset.seq))`)
	require.Len(t, seqs, n+4) // queued, n lines, joined, reply, last
	for i, s := range seqs {
		require.Equal(t, i+1, s)
	}
	require.Equal(t, 1, bubbleCount(tb, "Line 1 of my story"))

	// The server restarts: the console reconnects, resumes, and puts its
	// status back (a restarted server starts every agent offline), so a
	// new customer is routed to it again.
	srv.restart()
	cust2, w := srv.customerWS(tok)
	require.Equal(t, "active", w.Obj("open_session").Str("state"))
	sendAs(cust2, "Hello after the restart", "s-restart")
	waitBubble(tb, "Hello after the restart")
	tb.waitText("#conn-state", "Connected")
	dan, _ := srv.customerWS(srv.customerToken("u-8", "Dan"))
	dan.send(wsclient.Frame{"type": "start"})
	dan.waitFor("assigned to Kim", isEvent("agent_joined", ""))
	tb.waitText("#chats", "Dan")
	tb.waitText("#load", "2/2")
	require.Equal(t, 1, bubbleCount(tb, "Hello after the restart"))

	// Narrower windows keep the conversation and put the customer in a
	// drawer.
	tb.viewport(900, 700)
	tb.do(chromedp.WaitVisible(chromedp.ID("customer-toggle")), chromedp.WaitNotVisible(chromedp.ID("customer")))
	tb.do(chromedp.Click(chromedp.ID("customer-toggle")), chromedp.WaitVisible(chromedp.ID("customer")))
	tb.screenshot("console-narrow")
}

// fakeNotifications replaces the page's Notification API (which headless
// Chromium does not show) with a recorder, and lets the test decide
// whether the page has focus.
const fakeNotifications = `(() => {
  const rec = window.__notify = { asked: 0, shown: [], perm: 'default', focused: true };
  window.Notification = class {
    constructor(title, opts) { rec.shown.push({ title, body: (opts && opts.body) || '' }); }
    addEventListener() {}
    close() {}
    static get permission() { return rec.perm; }
    static requestPermission() { rec.asked++; rec.perm = 'granted'; return Promise.resolve('granted'); }
  };
  document.hasFocus = () => rec.focused;
})();`

func TestConsoleNotifiesNewChats(t *testing.T) {
	tb, srv := consoleSetup(t)
	_, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: fakeNotifications})
	require.NoError(t, err)
	email, password := srv.addAgent("Noor", 2)
	consoleSignIn(tb, srv.URL, email, password)
	tb.waitText("#conn-state", "Connected")

	// Nothing is asked on load; a click asks.
	require.Zero(t, eval[int](tb, `window.__notify.asked`))
	tb.waitText("#notify-btn", "Enable notifications")
	tb.do(chromedp.Click(chromedp.ID("notify-btn")))
	tb.waitText("#notify-btn", "Notifications on")
	require.Equal(t, 1, eval[int](tb, `window.__notify.asked`))
	consoleStatus(tb, "available")

	// A routed chat while the tab has no focus raises a notification.
	eval[bool](tb, `(window.__notify.focused = false) === false`)
	eve, _ := srv.customerWS(srv.customerToken("u-5", "Eve"))
	eve.send(wsclient.Frame{"type": "start"})
	tb.waitText("#chats", "Eve")
	tb.waitJS(`window.__notify.shown.length === 1`)
	require.Equal(t, "New chat in Parley", eval[string](tb, `window.__notify.shown[0].title`))
	require.Contains(t, eval[string](tb, `window.__notify.shown[0].body`), "Eve")

	// With focus, a new chat raises none.
	eval[bool](tb, `window.__notify.focused = true`)
	fay, _ := srv.customerWS(srv.customerToken("u-6", "Fay"))
	fay.send(wsclient.Frame{"type": "start"})
	tb.waitText("#chats", "Fay")
	require.Equal(t, 1, eval[int](tb, `window.__notify.shown.length`))
}

// cutSockets lets a test lose the console's WebSocket at the moment it
// sends a message: window.__cut = 'before' closes the socket just before
// the frame (the frame is lost), 'after' right after it (the frame
// arrives, the answers are lost). window.__sendIDs records the
// client_msg_id of every send frame the page wrote.
const cutSockets = `(() => {
  window.__cut = null;
  window.__sendIDs = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    let f = null;
    try { f = JSON.parse(data); } catch { f = null; }
    if (!f || f.type !== 'send') return send.call(this, data);
    window.__sendIDs.push(f.client_msg_id);
    const mode = window.__cut;
    window.__cut = null;
    if (mode === 'before') { this.__deaf = true; this.close(); return; }
    send.call(this, data);
    if (mode === 'after') { this.__deaf = true; this.close(); }
  };
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, fn, opts) {
    if (type !== 'message') return add.call(this, type, fn, opts);
    return add.call(this, type, function (ev) { if (!this.__deaf) fn.call(this, ev); }, opts);
  };
})();`

func TestConsoleRetriesUnackedSends(t *testing.T) {
	tb, srv := consoleSetup(t)
	_, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cutSockets})
	require.NoError(t, err)
	email, password := srv.addAgent("Ravi", 2)
	consoleSignIn(tb, srv.URL, email, password)
	consoleStatus(tb, "available")
	cust, _ := srv.customerWS(srv.customerToken("u-9", "Gus"))
	cust.send(wsclient.Frame{"type": "start"})
	tb.waitText("#convo-name", "Gus")

	// seen collects the customer's message events by text until want
	// arrives, so a duplicate before it would be counted.
	seen := map[string]int{}
	waitCustomer := func(want string) {
		t.Helper()
		cust.waitFor(want, func(f wsclient.Frame) bool {
			if isEvent("message", "")(f) {
				seen[f.Obj("event").Str("text")]++
			}
			return isEvent("message", want)(f)
		})
	}

	for _, mode := range []string{"before", "after"} {
		text := "Sent with the socket cut " + mode + " the frame"
		eval[bool](tb, fmt.Sprintf(`(window.__cut = %s) !== null`, js(mode)))
		typeReply(tb, text)
		waitCustomer(text)
		tb.waitJS(`document.querySelectorAll('#pending li').length === 0`)
		waitBubble(tb, text)
		require.Equal(t, 1, bubbleCount(tb, text))
		ids := eval[[]string](tb, `window.__sendIDs`)
		require.NotEmpty(t, ids)
		if mode == "before" {
			// The lost frame was sent again, with the same client_msg_id.
			require.Len(t, ids, 2)
			require.Equal(t, ids[0], ids[1])
		}
		eval[bool](tb, `(window.__sendIDs = []).length === 0`)
	}
	typeReply(tb, "Last one")
	waitCustomer("Last one")
	for text, n := range seen {
		require.Equal(t, 1, n, "customer got %q %d times", text, n)
	}
	require.Len(t, seen, 3)
}

// requireQueueList skips a test on a server without the queue_list agent
// command and the agent's customer sessions route (they come from the
// main branch; this branch's tests then run them after the merge).
func requireQueueList(t *testing.T, srv *server) {
	t.Helper()
	agent, _ := srv.agentWS("Probe")
	agent.send(wsclient.Frame{"type": "queue_list", "req": "probe"})
	f := agent.waitFor("queue_list answer", func(f wsclient.Frame) bool { return f.Str("re") == "probe" })
	if f.Str("type") == "error" {
		t.Skipf("this server has no queue_list yet (%s)", f.Str("message"))
	}
}

func TestConsoleQueueListTakeAndPreviousSessions(t *testing.T) {
	tb, srv := consoleSetup(t)
	requireQueueList(t, srv)
	email, password := srv.addAgent("Mia", 2)

	// Cal chatted before: that session ended while queued.
	calTok := srv.customerToken("u-2", "Cal")
	cal, _ := srv.customerWS(calTok)
	cal.send(wsclient.Frame{"type": "start"})
	cal.expect("session")
	cal.send(wsclient.Frame{"type": "end", "req": "e"})
	cal.waitFor("ended", isEvent("ended", ""))

	bea, _ := srv.customerWS(srv.customerToken("u-1", "Bea"))
	bea.send(wsclient.Frame{"type": "start"})
	bea.expect("session")
	cal.send(wsclient.Frame{"type": "start"})
	cal.expect("session")

	// Offline, the agent sees who waits, next first, each with Take.
	consoleSignIn(tb, srv.URL, email, password)
	tb.waitText("#conn-state", "Connected")
	tb.waitJS(`document.querySelectorAll('#queue-list .queue-item').length === 2`)
	require.Equal(t, []string{"Bea", "Cal"}, tb.texts("#queue-list .q-name"))
	require.Equal(t, []string{"Take", "Take"}, tb.texts("#queue-list button"))
	// Nobody takes chats (Mia is offline): the console says so per queue.
	tb.waitText("#queue-queues", "default · 2 waiting · no agent available")
	tb.screenshot("console-queue")

	// Take picks that customer, not the next in line.
	tb.do(chromedp.Click(`#queue-list li:nth-child(2) button`))
	tb.waitText("#convo-name", "Cal")
	tb.waitJS(`document.querySelectorAll('#queue-list .queue-item').length === 1`)
	require.Equal(t, []string{"Bea"}, tb.texts("#queue-list .q-name"))

	// The customer pane lists Cal's earlier conversation.
	tb.waitText("#customer-previous", "ended")
	require.Len(t, tb.texts("#customer-previous li"), 1)

	// After a reload without the page's own profile cache, the profile
	// comes from the welcome.
	eval[bool](tb, `(sessionStorage.removeItem('parley.console.profiles'), true)`)
	tb.do(chromedp.Reload())
	tb.waitText("#convo-name", "Cal")
	tb.waitText("#customer-profile", "pro")
	tb.waitText("#customer-identity", "Verified customer")
}
