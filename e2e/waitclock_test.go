package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/wsclient"
)

// movableClock lets a test move the browser's Date.now forward in every
// frame of the page (window.__parleyAdvance(ms) in the frame).
const movableClock = `(() => {
  const real = Date.now.bind(Date);
  let offset = 0;
  Date.now = () => real() + offset;
  window.__parleyAdvance = (ms) => { offset += ms; return true; };
})();`

// TestWidgetWaitCountsDown: the widget counts the server's wait estimate
// down from when it came, instead of showing the same figure however long
// the customer has waited, and says so plainly once the estimate has
// passed. The browser's clock is moved; the server's is not.
func TestWidgetWaitCountsDown(t *testing.T) {
	srv := newServer(t)
	tb := newTab(t)
	_, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: movableClock})
	require.NoError(t, err)

	// One agent online with its only slot taken: the customer waits with
	// an estimate.
	busyAgentOnline(t, srv, "Bo")

	tb.do(chromedp.Navigate(srv.hostPage(srv.customerToken("u-waits", "Wen"))), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.frameWaitVisible("#msg")
	tb.frameSend("Is anyone there?")
	tb.frameWaitText("#queue-position", "You are next in line")
	tb.frameWaitText("#queue-wait", "Estimated wait")

	// Ten minutes later by the browser's clock. The clock moves on with
	// every poll: a new estimate the server pushes meanwhile (its drift
	// push) starts the count again, and must run out as well.
	tb.frameWaitJS(`window.__parleyAdvance(10 * 60 * 1000) &&
		document.getElementById('queue-wait').textContent === 'It is taking longer than we estimated; you keep your place in line.'`)
	tb.screenshot("widget-wait-overrun")
}

// busyAgentOnline brings an agent of capacity 1 online with its one slot
// taken: it accepts another customer's chat by hand while offline, then
// goes available. Customers who wait then get a wait estimate, though no
// slot is free.
func busyAgentOnline(t *testing.T, srv *server, name string) {
	t.Helper()
	other, _ := srv.customerWS(srv.customerToken("u-before-"+strings.ToLower(name), "Other"))
	other.send(wsclient.Frame{"type": "start"})
	otherID := other.expect("session").Obj("session").Str("id")
	email, pw := srv.addAgent(name, 1)
	agent := srv.dial("/v1/agent/ws")
	agent.send(wsclient.Frame{"type": "hello", "token": srv.agentToken(email, pw)})
	agent.expect("welcome")
	agent.send(wsclient.Frame{"type": "accept", "session_id": otherID})
	require.Equal(t, otherID, agent.expect("assigned").Obj("session").Str("id"))
	agent.available()
}
