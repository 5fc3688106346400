package e2e

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
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

// offsetClock is a clock ahead of the real one by a settable offset.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// TestWidgetInactivityWarning: when the customer has not answered an
// agent for the warning time, the widget says until when the chat stays
// open, and the console shows the warning too; at the timeout the widget
// shows why the chat ended. The hub's clock is injected and its timers
// swept by the test.
func TestWidgetInactivityWarning(t *testing.T) {
	clk := &offsetClock{}
	srv := newServer(t, func(o *serverOptions) {
		o.hub = func(c *chat.Config) {
			c.Now = clk.now
			c.TimerInterval = time.Hour
			c.InactivityWarning, c.InactivityTimeout = 5*time.Minute, 10*time.Minute
		}
	})
	tb := newTab(t)
	tb.do(chromedp.Navigate(srv.hostPage(srv.customerToken("u-ida", "Ida"))), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")),
		chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.frameWaitVisible("#msg")
	tb.frameSend("Hi, quick question")
	tb.waitBubble("Hi, quick question")
	sam, _ := srv.agentWS("Sam")
	sam.send(wsclient.Frame{"type": "status", "status": "available"})
	sid := sam.expect("assigned").Obj("session").Str("id")
	sam.send(wsclient.Frame{"type": "send", "session_id": sid, "text": "Sure, what is it?", "client_msg_id": "s-1", "req": "s-1"})
	sam.waitFor("sent", func(f wsclient.Frame) bool { return f.Str("re") == "s-1" })
	tb.waitBubble("Sure, what is it?")

	clk.advance(5 * time.Minute)
	require.Equal(t, chat.TimerSweep{Warned: 1}, srv.hub.SweepTimers())
	tb.frameWaitText("#log .sys.warn", "This chat will end at")
	clk.advance(5 * time.Minute)
	require.Equal(t, chat.TimerSweep{Ended: 1}, srv.hub.SweepTimers())
	tb.frameWaitText("#log", "The chat ended because there was no reply")
	tb.frameWaitJS(`!document.getElementById('ended-card').hidden`)
	tb.screenshot("widget-inactivity")
}
