package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/wsclient"
)

// TestConsoleTransfer: an agent transfers an open chat from the console to
// a colleague it picks from the list, with a note. The colleague gets the
// chat with the note as a whisper, the customer sees the transfer and not
// the note, and the console shows the chat as handed on.
func TestConsoleTransfer(t *testing.T) {
	tb, srv := consoleSetup(t)
	email, password := srv.addAgent("Mia", 2)
	bea, _ := srv.customerWS(srv.customerToken("u-1", "Bea"))
	bea.send(wsclient.Frame{"type": "start"})
	bea.expect("session")

	consoleSignIn(tb, srv.URL, email, password)
	consoleStatus(tb, "available")
	tb.waitText("#convo-name", "Bea")
	bea.waitFor("Mia joined", isEvent("agent_joined", ""))

	bob, w := srv.agentWS("Bob")
	bob.available()
	bobID := w.Obj("agent").Str("id")

	tb.do(chromedp.WaitVisible(chromedp.ID("transfer-btn")), chromedp.Click(chromedp.ID("transfer-btn")))
	tb.waitJS(fmt.Sprintf(`Array.from(document.querySelectorAll('#transfer-to option')).some(o => o.value === %s && !o.disabled && o.textContent.startsWith('Bob'))`, js(bobID)))
	eval[bool](tb, fmt.Sprintf(`(document.getElementById('transfer-to').value = %s) !== ''`, js(bobID)))
	tb.do(chromedp.SendKeys(chromedp.ID("transfer-note"), "Wants a refund"),
		chromedp.Click(chromedp.ID("transfer-go")))

	as := bob.expect("assigned")
	var note string
	for _, e := range as.List("events") {
		if e["whisper"] == true {
			note = e.Str("text")
		}
	}
	require.Equal(t, "Wants a refund", note)
	tr := bea.waitFor("transferred", isEvent("transferred", ""))
	require.Equal(t, "Bob", tr.Obj("event").Obj("to").Str("name"))

	tb.waitText("#toast", "Transferred to Bob.")
	tb.waitJS(`Array.from(document.querySelectorAll('#events .sys')).some(li => li.textContent.includes('You transferred the chat to Bob'))`)
	tb.waitText("#convo-sub", "You left this chat")
	tb.waitJS(`document.getElementById('transfer-btn').hidden`)
	tb.screenshot("console-transfer")
}
