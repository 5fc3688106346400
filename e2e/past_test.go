package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/wsclient"
)

// TestConsolePastConversation checks that an agent reads a returning
// customer's earlier conversation, served by another agent, from the
// customer pane: read-only, every event once and in order (older pages
// with Load older), whispers included; the header's PDF and Text buttons
// download its transcript without the token ever going into a URL; and
// then goes back to the open chat, which still works.
func TestConsolePastConversation(t *testing.T) {
	tb, srv := consoleSetup(t)
	email, password := srv.addAgent("Bo", 2)

	// Ann served Cal earlier; the conversation is long enough for two
	// pages, and Cal ended it.
	ann, _ := srv.agentWS("Ann")
	ann.available()
	cal, _ := srv.customerWS(srv.customerToken("u-cal", "Cal"))
	cal.send(wsclient.Frame{"type": "start"})
	cal.expect("session")
	sid := ann.expect("assigned").Obj("session").Str("id")
	var old []string
	agentSay := func(text string, whisper bool) {
		t.Helper()
		cmid := fmt.Sprintf("a-%d", len(old))
		ann.send(wsclient.Frame{"type": "send", "session_id": sid, "text": text, "whisper": whisper, "client_msg_id": cmid, "req": cmid})
		ann.waitFor("sent "+cmid, func(f wsclient.Frame) bool { return f.Str("type") == "sent" && f.Str("re") == cmid })
		old = append(old, text)
	}
	sendAs(cal, "My parcel never came", "c-0")
	old = append(old, "My parcel never came")
	agentSay("Sorry to hear that, Cal. Let me check.", false)
	agentSay("Courier lost it; resend approved.", true)
	for i := 1; len(old) < 58; i++ {
		text := fmt.Sprintf("Tracking update %d", i)
		sendAs(cal, text, fmt.Sprintf("c-%d", i))
		old = append(old, text)
	}
	agentSay("It ships again today.", false)
	cal.send(wsclient.Frame{"type": "end", "req": "end"})
	cal.waitFor("ended", isEvent("ended", ""))
	ann.send(wsclient.Frame{"type": "status", "status": "offline", "req": "off"})
	ann.waitFor("offline", func(f wsclient.Frame) bool { return f.Str("re") == "off" })

	// Cal comes back, and Bo, who never saw the first conversation, takes
	// the new chat.
	consoleSignIn(tb, srv.URL, email, password)
	consoleStatus(tb, "available")
	cal.send(wsclient.Frame{"type": "start"})
	cal.expect("session")
	tb.waitText("#convo-name", "Cal")
	sendAs(cal, "Hi again, about my parcel", "c-new")
	waitBubble(tb, "Hi again, about my parcel")

	// The customer pane lists the earlier conversation; Bo opens it.
	tb.waitText("#customer-previous", "ended")
	require.Len(t, tb.texts("#customer-previous li"), 1)
	tb.do(chromedp.Click(fmt.Sprintf(`#customer-previous li[data-session=%q] button`, sid)))
	tb.waitText("#past-title", "Past conversation")
	tb.waitText("#past-sub", "the customer ended it")
	tb.waitText("#past-note", "Read-only")
	tb.do(chromedp.WaitNotVisible(chromedp.ID("convo")))
	require.True(t, eval[bool](tb, `!document.querySelector('#past textarea, #past input, #past form')`), "no composer")

	// The latest page first, then older pages back to the start.
	tb.waitJS(`Array.from(document.querySelectorAll('#past-events .bubble')).some(b => b.textContent === 'It ships again today.')`)
	pastBubbles := func() []string { return tb.texts("#past-events .bubble") }
	require.NotContains(t, pastBubbles(), old[0], "only the latest page at first")
	tb.do(chromedp.WaitVisible(chromedp.ID("past-older")))
	for i := 0; i < 3 && eval[bool](tb, `!document.getElementById('past-older').hidden`); i++ {
		before := eval[int](tb, `document.querySelectorAll('#past-events li').length`)
		tb.do(chromedp.Click(chromedp.ID("past-older")))
		tb.waitJS(fmt.Sprintf(`document.querySelectorAll('#past-events li').length > %d`, before))
	}
	tb.do(chromedp.WaitNotVisible(chromedp.ID("past-older")))
	require.Equal(t, old, pastBubbles(), "every message once, in order, the whisper included")
	seqs := eval[[]int](tb, `Array.from(document.querySelectorAll('#past-events li'), li => Number(li.dataset.seq))`)
	for i, s := range seqs {
		require.Equal(t, i+1, s, "events in seq order without gaps")
	}
	require.Equal(t, []string{"Whisper · agents only"}, tb.texts("#past-events .whisper-tag"))
	require.Zero(t, bubbleCount(tb, old[0]), "the open chat's log is untouched")
	eval[bool](tb, `(document.getElementById('past-log').scrollTop = 0, true)`)
	tb.screenshot("console-past")

	// The header's PDF and Text buttons download this session's
	// transcript, as the open chat's PDF button does (TestConsoleFiles),
	// with the token in a header and never in a URL.
	atok := eval[string](tb, `sessionStorage.getItem('parley.console.token') || ''`)
	require.NotEmpty(t, atok, "the console's token")
	pdfs := t.TempDir()
	tb.downloadTo(pdfs)
	tb.do(chromedp.Click(chromedp.ID("past-pdf")))
	require.Equal(t, "transcript-"+sid+".pdf", waitPDF(t, pdfs))
	texts := t.TempDir()
	tb.downloadTo(texts)
	tb.do(chromedp.Click(chromedp.ID("past-txt")))
	_, b := awaitDownload(t, texts, "transcript-"+sid+".txt", func(name string, b []byte) bool {
		return name == "transcript-"+sid+".txt" && len(b) > 0
	})
	txt := string(b)
	require.Contains(t, txt, old[0])
	require.Contains(t, txt, old[len(old)-1])
	for _, format := range []string{"pdf", "txt"} {
		require.Contains(t, tb.requestedURLs(), srv.URL+"/v1/customer/sessions/"+sid+"/transcript?format="+format)
	}
	noTokenInURLs(t, tb, atok)

	// While Bo reads, Cal writes in the open chat: with the past
	// conversation covering it, the message counts as unread (headless
	// Chromium never has focus, so the page is told it has).
	eval[bool](tb, `(document.hasFocus = () => true, true)`)
	sendAs(cal, "Are you still there?", "c-wait")
	tb.waitJS(`!!document.querySelector('#chats .chat-item.has-unread')`)
	require.Equal(t, []string{"1"}, tb.texts("#chats .unread"))

	// Back to the open chat, which still works; the message is read now.
	tb.do(chromedp.Click(chromedp.ID("past-back")))
	tb.do(chromedp.WaitVisible(chromedp.ID("convo")), chromedp.WaitNotVisible(chromedp.ID("past")))
	tb.waitText("#convo-name", "Cal")
	waitBubble(tb, "Hi again, about my parcel")
	waitBubble(tb, "Are you still there?")
	tb.waitJS(`!document.querySelector('#chats .chat-item.has-unread')`)
	require.Zero(t, eval[int](tb, `document.querySelectorAll('#past-events li').length`))
	typeReply(tb, "Welcome back, Cal. I can see what happened.")
	cal.waitFor("reply", isEvent("message", "Welcome back, Cal. I can see what happened."))
}
