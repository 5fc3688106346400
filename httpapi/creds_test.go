package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
)

// behindProxy trusts the loopback peer as a proxy, so tests can speak for
// any client address through X-Forwarded-For.
func behindProxy(c *httpapi.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// loginFrom posts a login as if from client address ip (X-Forwarded-For)
// and returns the status and the decoded answer.
func loginFrom(t *testing.T, h *harness, ip, email, password string) (int, frame) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/agent/login", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var f frame
	_ = json.NewDecoder(resp.Body).Decode(&f)
	return resp.StatusCode, f
}

// guessUntilLimited sends wrong passwords from ip until one is rate
// limited and returns that answer.
func guessUntilLimited(t *testing.T, h *harness, ip, email string) frame {
	t.Helper()
	for i := range 100 {
		code, f := loginFrom(t, h, ip, email, fmt.Sprintf("guess-number-%d", i))
		if code == http.StatusTooManyRequests {
			return f
		}
		require.Equal(t, http.StatusUnauthorized, code, "guess %d: %v", i, f)
	}
	t.Fatalf("100 wrong passwords from %s were never limited", ip)
	return nil
}

// TestLoginThrottledAddressDoesNotLockOutOthers: one address guessing
// gets itself limited (with retry_after_ms), and the right password from
// another address still gets in. Before, the limit was per peer, and
// behind a proxy every agent shares the proxy's address.
func TestLoginThrottledAddressDoesNotLockOutOthers(t *testing.T) {
	h := newHarness(t, behindProxy)
	email := secAgentAccount(t, h, "Ada", 1)
	f := guessUntilLimited(t, h, "203.0.113.9", email)
	assert.Equal(t, "rate_limited", f.str("code"))
	assert.Positive(t, f.num("retry_after_ms"), "%v", f)

	code, _ := loginFrom(t, h, "203.0.113.9", email, agentPassword("Ada"))
	assert.Equal(t, http.StatusTooManyRequests, code, "the guessing address stays limited, even with the right password")
	code, f = loginFrom(t, h, "198.51.100.7", email, agentPassword("Ada"))
	require.Equal(t, http.StatusOK, code, "the right password from another address: %v", f)
	assert.NotEmpty(t, f.str("token"))
}

// TestLoginForwardedForIgnoredFromUntrustedPeers: without trusted
// proxies, a client cannot pick a fresh address per guess by sending
// X-Forwarded-For.
func TestLoginForwardedForIgnoredFromUntrustedPeers(t *testing.T) {
	h := newHarness(t)
	email := secAgentAccount(t, h, "Bo", 1)
	limited := false
	for i := range 60 {
		code, _ := loginFrom(t, h, fmt.Sprintf("192.0.2.%d", i+1), email, fmt.Sprintf("guess-number-%d", i))
		if code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	assert.True(t, limited, "spoofed X-Forwarded-For escaped the limit")
}

// TestLoginAccountLimitLetsKnownAddressesIn: guesses from many addresses
// throttle the account, yet its owner signs in from an address used
// before; an unknown address is told to wait.
func TestLoginAccountLimitLetsKnownAddressesIn(t *testing.T) {
	h := newHarness(t, behindProxy)
	email := secAgentAccount(t, h, "Cy", 1)
	code, _ := loginFrom(t, h, "198.51.100.20", email, agentPassword("Cy"))
	require.Equal(t, http.StatusOK, code)

	limited := false
	for i := range 200 {
		code, f := loginFrom(t, h, fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), email, fmt.Sprintf("guess-number-%d", i))
		if code == http.StatusTooManyRequests {
			assert.Contains(t, f.str("message"), "account")
			limited = true
			break
		}
	}
	require.True(t, limited, "a distributed guess was never limited per account")
	code, _ = loginFrom(t, h, "10.9.9.9", email, "yet-another-guess")
	assert.Equal(t, http.StatusTooManyRequests, code)
	code, f := loginFrom(t, h, "198.51.100.20", email, agentPassword("Cy"))
	assert.Equal(t, http.StatusOK, code, "the owner's usual address: %v", f)
}

// TestAgentLogoutRevokesTokens: agent logout, a password change and
// disabling close the agent's sockets with 4401 and make its earlier
// tokens useless, on the socket and over HTTP; signing in again works.
func TestAgentLogoutRevokesTokens(t *testing.T) {
	h := newHarness(t)
	email := secAgentAccount(t, h, "Eve", 1)
	ctx := context.Background()
	newPw := "a-brand-new-password"
	cur := agentPassword("Eve")
	for _, step := range []struct {
		name   string
		revoke func()
		text   string
		pw     string
	}{
		{"logout", func() {
			_, err := h.admin.Do(ctx, "agent.logout", json.RawMessage(`{"email":"`+email+`"}`))
			require.NoError(t, err)
		}, "signed out; sign in again", agentPassword("Eve")},
		{"password change", func() {
			_, err := h.admin.SetAgent(ctx, admin.AgentSetArgs{Email: email, Password: &newPw})
			require.NoError(t, err)
		}, "signed out; sign in again", newPw},
		{"disable", func() {
			_, err := h.admin.DisableAgent(ctx, admin.AgentDisableArgs{Email: email})
			require.NoError(t, err)
		}, "agent account disabled", ""},
	} {
		t.Run(step.name, func(t *testing.T) {
			code, f := loginFrom(t, h, "", email, cur)
			require.Equal(t, http.StatusOK, code, "%v", f)
			token := f.str("token")
			ag, _ := h.agentConn(token)
			step.revoke()
			code2, text := ag.expectClose()
			assert.Equal(t, httpapi.CloseUnauthorized, code2)
			assert.Equal(t, step.text, text)
			secRefused(t, h, "/v1/agent/ws", token)
			status, body := secGet(t, h, "/v1/customer/sessions/"+unknownID()+"/transcript", "Bearer "+token)
			assert.Equal(t, http.StatusUnauthorized, status)
			secErrorBody(t, body, "unauthorized")
			if step.pw != "" {
				cur = step.pw
				code, f := loginFrom(t, h, "", email, step.pw)
				require.Equal(t, http.StatusOK, code, "%v", f)
				h.agentConn(f.str("token"))
			}
		})
	}
}

// TestOwnPasswordChangeSignsOutOtherSockets: an agent replacing its
// password through login keeps the new token and loses the old ones.
func TestOwnPasswordChangeSignsOutOtherSockets(t *testing.T) {
	h := newHarness(t)
	email := secAgentAccount(t, h, "Fay", 1)
	old := h.login("Fay")
	ag, _ := h.agentConn(old)
	var out frame
	status := h.post("/v1/agent/login", map[string]string{"email": email, "password": agentPassword("Fay"), "new_password": "fays-new-password"}, &out)
	require.Equal(t, http.StatusOK, status, "%v", out)
	code, _ := ag.expectClose()
	assert.Equal(t, httpapi.CloseUnauthorized, code)
	h.agentConn(out.str("token"))
}

// setClockTo moves the harness clock so that it reads t.
func (h *harness) setClockTo(t time.Time) { h.clock.advance(t.Sub(h.clock.now())) }

// TestSocketClosesWhenTokenExpires: a socket whose token expires is closed
// with 4401 "token expired; sign in again", for customers and agents.
func TestSocketClosesWhenTokenExpires(t *testing.T) {
	h := newHarness(t)
	tok := h.customerToken("exp-1")
	_, exp, err := auth.VerifyCustomerToken(h.secret, tok, h.clock.now(), 0)
	require.NoError(t, err)
	h.setClockTo(exp.Add(-150 * time.Millisecond))
	c := h.dial("/v1/customer/ws", nil)
	c.send(frame{"type": "hello", "token": tok})
	c.expect("welcome")
	code, text := c.expectClose()
	assert.Equal(t, httpapi.CloseUnauthorized, code)
	assert.Equal(t, "token expired; sign in again", text)

	secAgentAccount(t, h, "Gus", 1)
	atok := h.login("Gus")
	at, err := auth.VerifyAgentToken(h.db.AgentSecret(), atok, h.clock.now())
	require.NoError(t, err)
	h.setClockTo(at.Expires.Add(-150 * time.Millisecond))
	ag, _ := h.agentConn(atok)
	code, text = ag.expectClose()
	assert.Equal(t, httpapi.CloseUnauthorized, code)
	assert.Equal(t, "token expired; sign in again", text)
}

// TestMaxTokenTTL: a customer token valid for longer than --max-token-ttl
// is refused at hello and over HTTP.
func TestMaxTokenTTL(t *testing.T) {
	h := newHarness(t)
	long, err := auth.SignCustomer(h.secret, parley.Customer{ID: "long-1"}, 30*24*time.Hour, h.clock.now())
	require.NoError(t, err)
	secRefused(t, h, "/v1/customer/ws", long)
	status, body := secGet(t, h, "/v1/customer/sessions", "Bearer "+long)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, secErrorBody(t, body, "unauthorized").str("message"), "at most 1d")

	day, err := auth.SignCustomer(h.secret, parley.Customer{ID: "day-1"}, 24*time.Hour, h.clock.now())
	require.NoError(t, err)
	status, _ = secGet(t, h, "/v1/customer/sessions", "Bearer "+day)
	assert.Equal(t, http.StatusOK, status)
}

// TestVisitorTokensBoundedAndRefreshed: visitor tokens last at most the
// maximum token lifetime, and a returning visitor gets a fresh one.
func TestVisitorTokensBoundedAndRefreshed(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.AllowAnonymous = true })
	c := h.dial("/v1/customer/ws", nil)
	c.send(frame{"type": "hello"})
	w := c.expect("welcome")
	tok := w.str("token")
	_, exp, err := auth.VerifyCustomerToken(h.secret, tok, h.clock.now(), httpapi.DefaultMaxTokenTTL)
	require.NoError(t, err, "a visitor token must pass the server's own bound")
	assert.LessOrEqual(t, exp.Sub(h.clock.now()), httpapi.DefaultMaxTokenTTL)

	h.clock.advance(20 * time.Hour)
	back := h.dial("/v1/customer/ws", nil)
	back.send(frame{"type": "hello", "token": tok})
	bw := back.expect("welcome")
	assert.Equal(t, w.obj("customer").str("id"), bw.obj("customer").str("id"))
	fresh := bw.str("token")
	require.NotEmpty(t, fresh)
	_, exp2, err := auth.VerifyCustomerToken(h.secret, fresh, h.clock.now(), httpapi.DefaultMaxTokenTTL)
	require.NoError(t, err)
	assert.True(t, exp2.After(exp), "the fresh token lasts longer")
}

// TestAnonymousHellosLimitedPerAddress: new visitors from one address are
// limited (rate_limited with retry_after_ms, then 4429); other addresses
// and returning visitors are not.
func TestAnonymousHellosLimitedPerAddress(t *testing.T) {
	h := newHarness(t, behindProxy, func(c *httpapi.Config) { c.AllowAnonymous = true; c.AnonymousPerMinute = 3 })
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	var first string
	for i := range 3 {
		c := h.dial("/v1/customer/ws", from("203.0.113.5"))
		c.send(frame{"type": "hello"})
		w := c.expect("welcome")
		if i == 0 {
			first = w.str("token")
		}
	}
	c := h.dial("/v1/customer/ws", from("203.0.113.5"))
	c.send(frame{"type": "hello", "req": "h"})
	f := c.waitFor("error", func(f frame) bool { return f.str("type") == "error" })
	assert.Equal(t, "rate_limited", f.str("code"))
	assert.Positive(t, f.num("retry_after_ms"))
	code, _ := c.expectClose()
	assert.Equal(t, httpapi.CloseRateLimited, code)

	other := h.dial("/v1/customer/ws", from("198.51.100.5"))
	other.send(frame{"type": "hello"})
	other.expect("welcome")
	back := h.dial("/v1/customer/ws", from("203.0.113.5"))
	back.send(frame{"type": "hello", "token": first})
	back.expect("welcome")

	h.clock.advance(time.Minute)
	again := h.dial("/v1/customer/ws", from("203.0.113.5"))
	again.send(frame{"type": "hello"})
	again.expect("welcome")
}
