package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
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
}
