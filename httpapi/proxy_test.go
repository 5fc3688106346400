package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/internal/wsclient"
)

// lockedBuffer collects logs from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proxied is a harness behind a TLS-terminating reverse proxy: Go's
// httputil.ReverseProxy on 127.0.0.1, which connects to Parley from
// 127.0.0.1 and sets X-Forwarded-For, -Host and -Proto. Visitors connect
// to the proxy from other loopback addresses (127.0.0.2, 127.0.0.3), so
// every address in the test is real.
type proxied struct {
	t     *testing.T
	h     *harness
	front *httptest.Server
	logs  *lockedBuffer
}

func newProxied(t *testing.T, opts ...harnessOption) *proxied {
	t.Helper()
	logs := &lockedBuffer{}
	opts = append([]harnessOption{func(c *httpapi.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}}, opts...)
	h := newHarness(t, opts...)
	target, err := url.Parse(h.srv.URL)
	require.NoError(t, err)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target) // the upstream Host is Parley's own address, as nginx's default
		pr.SetXForwarded()
	}}
	front := httptest.NewUnstartedServer(rp)
	front.StartTLS()
	t.Cleanup(front.Close)
	return &proxied{t: t, h: h, front: front, logs: logs}
}

// trustProxy trusts the proxy's address, 127.0.0.1, and nothing else.
func trustProxy(c *httpapi.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

// dialFrom dials from the loopback address from.
func dialFrom(from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return d.DialContext
}

// client is an HTTPS client of the proxy connecting from address from.
func (p *proxied) client(from string) *http.Client {
	tr := p.front.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = dialFrom(from)
	return &http.Client{Transport: tr, Timeout: waitTime}
}

// login posts a sign-in through the proxy from address from.
func (p *proxied) login(from, email, password string) int {
	p.t.Helper()
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := p.client(from).Post(p.front.URL+"/v1/agent/login", "application/json", bytes.NewReader(b))
	require.NoError(p.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// guessUntilLimited sends wrong passwords through the proxy from address
// from until one is refused with 429.
func (p *proxied) guessUntilLimited(from, email string) {
	p.t.Helper()
	for i := range 100 {
		code := p.login(from, email, fmt.Sprintf("guess-number-%d", i))
		if code == http.StatusTooManyRequests {
			return
		}
		require.Equal(p.t, http.StatusUnauthorized, code, "guess %d", i)
	}
	p.t.Fatalf("100 wrong passwords from %s were never limited", from)
}

// wss opens a customer WebSocket through the proxy from address from, as
// a page at origin on host would, and returns the HTTP status of the
// upgrade (101 when accepted).
func (p *proxied) wss(from, host, origin string) int {
	p.t.Helper()
	d := &websocket.Dialer{
		HandshakeTimeout: waitTime,
		NetDialContext:   dialFrom(from),
		TLSClientConfig:  p.front.Client().Transport.(*http.Transport).TLSClientConfig,
	}
	hdr := http.Header{"Host": {host}, "Origin": {origin}}
	conn, err := wsclient.Dial(context.Background(), "wss"+strings.TrimPrefix(p.front.URL, "https")+"/v1/customer/ws",
		wsclient.Options{Dialer: d, Header: hdr})
	if err != nil {
		require.Contains(p.t, err.Error(), "HTTP ", "dial failed before the upgrade: %v", err)
		_, status, _ := strings.Cut(err.Error(), "(HTTP ")
		var code int
		_, _ = fmt.Sscanf(status, "%d", &code)
		return code
	}
	defer conn.Close()
	c := newClient(p.t, wsclient.Listen[frame](conn, wsclient.ListenOptions{}))
	c.send(frame{"type": "hello", "token": p.h.customerToken("via-proxy"), "req": "h"})
	c.expect("welcome")
	return http.StatusSwitchingProtocols
}

// landing fetches / through the proxy with Host host and returns the page.
func (p *proxied) landing(host string) string {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.front.URL+"/", nil)
	require.NoError(p.t, err)
	req.Host = host
	resp, err := p.client("127.0.0.2").Do(req)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(p.t, err)
	require.Equal(p.t, http.StatusOK, resp.StatusCode)
	return string(b)
}

// TestBehindTrustedProxy: with the proxy in TrustedProxies, the sign-in
// limit, the logs, the Origin check and the widget snippet see the
// visitor and the address the browser used, not the proxy; a visitor
// that skips the proxy cannot claim another address.
func TestBehindTrustedProxy(t *testing.T) {
	p := newProxied(t, trustProxy)
	email := secAgentAccount(t, p.h, "Ada", 1)

	// Sign-in limit: per visitor.
	p.guessUntilLimited("127.0.0.2", email)
	assert.Equal(t, http.StatusOK, p.login("127.0.0.3", email, agentPassword("Ada")), "another visitor is not limited")
	// The limited visitor, straight to Parley with a made-up
	// X-Forwarded-For, is still itself.
	b, _ := json.Marshal(map[string]string{"email": email, "password": agentPassword("Ada")})
	req, err := http.NewRequest(http.MethodPost, p.h.srv.URL+"/v1/agent/login", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	resp, err := (&http.Client{Transport: &http.Transport{DialContext: dialFrom("127.0.0.2")}}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a forged X-Forwarded-For from an untrusted peer was believed")

	// Origin check: the page's origin is the host the browser used,
	// which the proxy forwards in X-Forwarded-Host.
	assert.Equal(t, http.StatusSwitchingProtocols, p.wss("127.0.0.2", "chat.example.com", "https://chat.example.com"))
	assert.Equal(t, http.StatusForbidden, p.wss("127.0.0.3", "chat.example.com", "https://evil.example"))
	// Logs name the visitor.
	assert.Regexp(t, `refused WebSocket from foreign origin" origin=https://evil.example client=127.0.0.3 request_id=\S+`, p.logs.String())

	// Snippet: https and the public host.
	assert.Contains(t, p.landing("chat.example.com"), `&lt;script src=&#34;https://chat.example.com/widget.js&#34;`)
}

// TestBehindUntrustedProxy: the same proxy, not trusted: every visitor is
// the proxy, so one visitor's guessing limits the other, the forwarded
// host is not believed for the Origin check and the snippet shows the
// address the proxy used.
func TestBehindUntrustedProxy(t *testing.T) {
	p := newProxied(t)
	email := secAgentAccount(t, p.h, "Ada", 1)
	p.guessUntilLimited("127.0.0.2", email)
	assert.Equal(t, http.StatusTooManyRequests, p.login("127.0.0.3", email, agentPassword("Ada")))
	assert.Equal(t, http.StatusForbidden, p.wss("127.0.0.3", "chat.example.com", "https://chat.example.com"))
	assert.Contains(t, p.logs.String(), "client=127.0.0.1 ")
	backend := strings.TrimPrefix(p.h.srv.URL, "http://")
	assert.Contains(t, p.landing("chat.example.com"), `&lt;script src=&#34;http://`+backend+`/widget.js&#34;`)
}

// TestPublicURLBehindProxy: --public-url states the address outright:
// the snippet uses it and pages from it may connect, whatever the proxy
// forwards.
func TestPublicURLBehindProxy(t *testing.T) {
	p := newProxied(t, func(c *httpapi.Config) { c.PublicURL = "https://chat.example.com/" })
	assert.Contains(t, p.landing("chat.example.com"), `&lt;script src=&#34;https://chat.example.com/widget.js&#34;`)
	assert.Equal(t, http.StatusSwitchingProtocols, p.wss("127.0.0.2", "chat.example.com", "https://chat.example.com"))
	assert.Equal(t, http.StatusForbidden, p.wss("127.0.0.2", "chat.example.com", "https://other.example.com"))
}
