package e2e

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/testcert"
	"github.com/parley-chat/parley/internal/wsclient"
)

var (
	certOnce sync.Once
	cert     *testcert.Cert
	certErr  error
)

// withTLS serves Parley and the host site over HTTPS (and WSS) with a
// certificate the test makes for localhost and 127.0.0.1.
func withTLS(o *serverOptions) {
	certOnce.Do(func() { cert, certErr = testcert.New("parley e2e") })
	if certErr != nil {
		panic(certErr) // only in tests: crypto/rand failed
	}
	o.tls = cert
}

func (s *server) scheme() string {
	if s.opts.tls != nil {
		return "https"
	}
	return "http"
}

// wrapTLS makes ln a TLS listener when the server runs withTLS.
func (s *server) wrapTLS(ln net.Listener) net.Listener {
	c := s.opts.tls
	if c == nil {
		return ln
	}
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	require.NoError(s.t, err)
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
}

// wsDialer trusts the test certificate when the server runs withTLS.
func (s *server) wsDialer() *websocket.Dialer {
	if s.opts.tls == nil {
		return nil
	}
	return &websocket.Dialer{HandshakeTimeout: waitTime, TLSClientConfig: s.opts.tls.ClientConfig()}
}

// TestWidgetOverTLS is the widget on an HTTPS web site: the host page and
// Parley are both served over HTTPS, so the widget must load its frame
// from https:// and open its WebSocket over wss:// (a page on HTTPS may
// not use ws://). The browser accepts the test's certificate; a customer
// and a Go agent on WSS chat both ways.
func TestWidgetOverTLS(t *testing.T) {
	srv := newServer(t, withTLS)
	require.True(t, strings.HasPrefix(srv.URL, "https://"))
	tb := newTab(t)
	// The browser accepts the test's own certificate (a real site's is
	// signed by a CA it trusts).
	_, err := chromedp.Call(tb.ctx, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true})
	require.NoError(t, err)
	page := srv.hostPage(srv.customerToken("u-tls", "Tess"))
	require.True(t, strings.HasPrefix(page, "https://localhost:"))
	tb.do(chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.frameWaitVisible("#msg")
	tb.frameWaitText("#subtitle", "Signed in as Tess")

	tb.frameSend("Hello over TLS")
	tb.waitBubble("Hello over TLS")
	sam, _ := srv.agentWS("Sam")
	sam.available()
	sid := sam.expect("assigned").Obj("session").Str("id")
	tb.frameWaitText("#title", "Chatting with Sam")
	sam.send(wsclient.Frame{"type": "send", "session_id": sid, "text": "Secure hello back", "client_msg_id": "tls-1"})
	tb.waitBubble("Secure hello back")
	tb.frameSend("Thanks")
	sam.waitFor("customer's message", isEvent("message", "Thanks"))

	var wss, plain int
	for _, u := range tb.requestedURLs() {
		switch {
		case strings.HasPrefix(u, "wss://"+srv.addr+"/v1/customer/ws"):
			wss++
		case strings.HasPrefix(u, "ws://"), strings.HasPrefix(u, "http://"):
			plain++
		}
	}
	require.Positive(t, wss, "the widget opened no wss:// socket; requests: %v", tb.requestedURLs())
	require.Zero(t, plain, "nothing may go over plain HTTP from an HTTPS page: %v", tb.requestedURLs())
}
