package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
)

// secAgentAccount stores an agent account directly, with a cheap password
// hash: creating and signing in agents through admin.Admin costs about a
// second of bcrypt each under the race detector. The account follows the
// harness's conventions (email name@example.com, password pw-Name), so
// h.agent and h.login use it as they would one made by h.addAgent.
func secAgentAccount(t *testing.T, h *harness, name string, capacity int) string {
	t.Helper()
	return h.putAgent(name, capacity)
}

// secAgent is h.agent with a cheap password hash.
func secAgent(t *testing.T, h *harness, name string, capacity int) (*client, frame) {
	t.Helper()
	secAgentAccount(t, h, name, capacity)
	return h.agent(name, capacity)
}

// secStart starts a session for a connected customer and returns its id.
func secStart(t *testing.T, c *client) string {
	t.Helper()
	c.send(frame{"type": "start", "req": "sec-start"})
	f := c.expectRe("sec-start")
	require.Equal(t, "session", f.str("type"), "%v", f)
	return f.obj("session").str("id")
}

// secActive starts a session for a new customer and has a new agent take
// it; it returns the session id and both connections.
func secActive(t *testing.T, h *harness, customerID, agentName string) (string, *client, *client) {
	t.Helper()
	cust, _ := h.customer(customerID)
	sid := secStart(t, cust)
	ag, _ := secAgent(t, h, agentName, 1)
	ag.available()
	require.Equal(t, sid, ag.expect("assigned").obj("session").str("id"))
	cust.expectEvent("agent_joined")
	return sid, cust, ag
}

// secGet sends a GET with a raw Authorization header ("" for none) and
// returns the status and the body.
func secGet(t *testing.T, h *harness, path, authorization string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// secErrorBody decodes an HTTP error body and checks its shape and code.
func secErrorBody(t *testing.T, body []byte, code string) frame {
	t.Helper()
	var f frame
	require.NoError(t, json.Unmarshal(body, &f), "body %q", body)
	assert.Equal(t, "error", f.str("type"), "body %s", body)
	assert.Equal(t, code, f.str("code"), "body %s", body)
	assert.NotEmpty(t, f.str("message"), "body %s", body)
	return f
}

// secPostRaw posts a raw body and returns the status and decoded body.
func secPostRaw(t *testing.T, h *harness, path, body string) (int, frame) {
	t.Helper()
	resp, err := http.Post(h.srv.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var f frame
	_ = json.NewDecoder(resp.Body).Decode(&f)
	return resp.StatusCode, f
}

// secRefused asserts that hello with token on path gets an unauthorized
// error frame and then a 4401 close.
func secRefused(t *testing.T, h *harness, path, token string) {
	t.Helper()
	c := h.dial(path, nil)
	hello := frame{"type": "hello", "req": "h"}
	if token != "" {
		hello["token"] = token
	}
	c.send(hello)
	f := c.expect("error")
	assert.Equal(t, "unauthorized", f.str("code"), "%v", f)
	assert.Equal(t, "h", f.str("re"))
	code, _ := c.expectClose()
	assert.Equal(t, httpapi.CloseUnauthorized, code)
}

// secWriteIgnoringErrors writes a text frame; the server may already have
// closed the connection, which is what some tests want.
func secWriteIgnoringErrors(c *client, data []byte) {
	_ = c.conn.WriteMessage(websocket.TextMessage, data)
}

// unknownID is a valid ULID that no session has.
func unknownID() string { return parley.NewID(time.Now()) }

func TestSecurityUnknownSessionNotFound(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("u-lost")
	ghost := unknownID()
	cust.send(frame{"type": "resume", "session_id": ghost, "after_seq": 0, "req": "r"})
	expectErrFrame(t, cust, "r", "not_found")
	cust.send(frame{"type": "history", "session_id": ghost, "req": "hi"})
	expectErrFrame(t, cust, "hi", "not_found")
	customerStillUsable(t, cust)

	ag, _ := secAgent(t, h, "Nora", 1)
	for _, typ := range []string{"resume", "send", "leave", "end", "typing"} {
		ag.send(frame{"type": typ, "session_id": ghost, "text": "x", "req": typ})
		expectErrFrame(t, ag, typ, "not_found")
	}
	agentStillUsable(t, ag)

	tok := "Bearer " + h.customerToken("u-lost")
	for _, p := range []string{"/events", "/transcript"} {
		code, body := secGet(t, h, "/v1/customer/sessions/"+ghost+p, tok)
		assert.Equal(t, http.StatusNotFound, code, p)
		secErrorBody(t, body, "not_found")
	}
}

func TestSecurityInvalidSessionID(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("u-typo")
	for i, id := range []string{"abc", "01J" + strings.Repeat("!", 23), strings.Repeat("Z", 26), strings.Repeat("x", 5000)} {
		req := fmt.Sprintf("r%d", i)
		cust.send(frame{"type": "resume", "session_id": id, "req": req})
		f := expectErrFrame(t, cust, req, "bad_request")
		assert.Less(t, len(f.str("message")), 200, "a long id is not echoed in full")
		req = fmt.Sprintf("h%d", i)
		cust.send(frame{"type": "history", "session_id": id, "req": req})
		expectErrFrame(t, cust, req, "bad_request")
	}
	cust.send(frame{"type": "resume", "req": "empty"})
	expectErrFrame(t, cust, "empty", "bad_request")
	customerStillUsable(t, cust)

	ag, _ := secAgent(t, h, "Ivan", 1)
	for _, typ := range []string{"history", "resume", "send", "leave", "end", "accept"} {
		ag.send(frame{"type": typ, "session_id": "not-an-id", "text": "x", "req": typ})
		expectErrFrame(t, ag, typ, "bad_request")
	}
	agentStillUsable(t, ag)

	tok := "Bearer " + h.customerToken("u-typo")
	for _, p := range []string{"/events", "/transcript"} {
		code, body := secGet(t, h, "/v1/customer/sessions/not-an-id"+p, tok)
		assert.Equal(t, http.StatusBadRequest, code, p)
		secErrorBody(t, body, "bad_request")
	}
}

// TestSecurityOtherCustomersSession checks that a customer cannot reach
// another customer's session, open or ended, and cannot even tell that it
// exists: the answer is the one for an id nobody ever used.
func TestSecurityOtherCustomersSession(t *testing.T) {
	h := newHarness(t)
	alice, _ := h.customer("alice")
	sid := secStart(t, alice)
	alice.send(frame{"type": "send", "text": "my card is 4111-SECRET", "req": "a1"})
	alice.expectRe("a1")
	mallory, _ := h.customer("mallory")

	ghost := unknownID()
	shape := func(msg, id string) string { return strings.ReplaceAll(msg, id, "<id>") }
	probe := func(typ string) {
		t.Helper()
		mallory.send(frame{"type": typ, "session_id": sid, "after_seq": 0, "req": typ})
		f := expectErrFrame(t, mallory, typ, "not_found")
		mallory.send(frame{"type": typ, "session_id": ghost, "after_seq": 0, "req": typ + "-ghost"})
		g := expectErrFrame(t, mallory, typ+"-ghost", "not_found")
		assert.Equal(t, shape(g.str("message"), ghost), shape(f.str("message"), sid))
		assert.NotContains(t, fmt.Sprint(f), "SECRET")
		assert.NotContains(t, fmt.Sprint(f), "alice")
	}
	probe("resume")
	probe("history")

	// The failed resume did not subscribe mallory to alice's session.
	alice.send(frame{"type": "send", "text": "second secret", "req": "a2"})
	alice.expectEvent("message")
	mallory.noFrameBefore(frame{"type": "sessions", "req": "m"}, func(f frame) bool {
		return f.str("session_id") == sid || f.str("type") == "event"
	})
	// Mallory's own commands never reach alice's session either.
	mallory.send(frame{"type": "send", "text": "hi", "req": "ms"})
	expectErrFrame(t, mallory, "ms", "conflict")
	mallory.send(frame{"type": "sessions", "req": "ml"})
	assert.Empty(t, mallory.expectRe("ml").list("sessions"))

	// HTTP gives the same answer as for an unknown id.
	tok := "Bearer " + h.customerToken("mallory")
	for _, p := range []string{"/events", "/transcript", "/transcript?format=json", "/events?limit=1"} {
		code, body := secGet(t, h, "/v1/customer/sessions/"+sid+p, tok)
		assert.Equal(t, http.StatusNotFound, code, p)
		secErrorBody(t, body, "not_found")
		assert.NotContains(t, string(body), "SECRET")
	}

	// Once ended, it is still not found for mallory (not "conflict", which
	// would reveal that it exists).
	alice.send(frame{"type": "end", "req": "e"})
	alice.expectRe("e")
	probe("resume")
	probe("history")
	code, _ := secGet(t, h, "/v1/customer/sessions/"+sid+"/transcript", tok)
	assert.Equal(t, http.StatusNotFound, code)
	customerStillUsable(t, mallory)
}

// TestSecurityAgentNotInSession checks that an agent who was never in a
// session cannot change it or resume it. (Reading it is open to every
// agent: see agentread_test.go.)
func TestSecurityAgentNotInSession(t *testing.T) {
	h := newHarness(t)
	sid, cust, bob := secActive(t, h, "u-sec", "Bob")
	eve, _ := secAgent(t, h, "Eve", 1)

	for _, typ := range []string{"resume", "send", "leave", "end", "typing"} {
		eve.send(frame{"type": typ, "session_id": sid, "text": "x", "client_msg_id": "e-" + typ, "req": typ})
		f := expectErrFrame(t, eve, typ, "forbidden")
		assert.NotContains(t, fmt.Sprint(f), "u-sec")
	}
	// A whisper is no way in either.
	eve.send(frame{"type": "send", "session_id": sid, "text": "psst", "whisper": true, "req": "w"})
	expectErrFrame(t, eve, "w", "forbidden")
	agentStillUsable(t, eve)

	// Nothing happened to the session: no event reached the customer, and
	// Bob is still in it.
	cust.noFrameBefore(frame{"type": "sessions", "req": "c"}, func(f frame) bool {
		return f.str("type") == "event" || f.str("type") == "typing"
	})
	bob.send(frame{"type": "send", "session_id": sid, "text": "still here", "req": "b"})
	sent := bob.expectRe("b")
	require.Equal(t, "sent", sent.str("type"), "%v", sent)
	assert.Equal(t, 3, sent.num("seq"), "queued, agent_joined, then this message")

	// Bob still reads it over HTTP.
	code, _ := secGet(t, h, "/v1/customer/sessions/"+sid+"/transcript", "Bearer "+h.login("Bob"))
	assert.Equal(t, http.StatusOK, code)
}

func TestSecurityHTTPAuth(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("u-http")
	sid := secStart(t, cust)
	wrongSecret, err := auth.SignCustomer([]byte("another-secret-another-secret-32"), parley.Customer{ID: "u-http"}, time.Hour, h.clock.now())
	require.NoError(t, err)
	paths := []string{"/v1/customer/sessions", "/v1/customer/sessions/" + sid + "/events", "/v1/customer/sessions/" + sid + "/transcript"}
	for _, authz := range []string{"", "Bearer ", "Bearer garbage", "Basic dXNlcjpwYXNz", "bearer " + h.customerToken("u-http"), h.customerToken("u-http"), "Bearer " + wrongSecret} {
		for _, p := range paths {
			code, body := secGet(t, h, p, authz)
			assert.Equal(t, http.StatusUnauthorized, code, "%s with %q", p, authz)
			secErrorBody(t, body, "unauthorized")
			assert.NotContains(t, string(body), sid)
		}
	}
	// An agent token is no customer token for the customer's list.
	secAgentAccount(t, h, "Abe", 1)
	code, body := secGet(t, h, "/v1/customer/sessions", "Bearer "+h.login("Abe"))
	assert.Equal(t, http.StatusUnauthorized, code)
	secErrorBody(t, body, "unauthorized")
	// The right token works.
	code, _ = secGet(t, h, paths[1], "Bearer "+h.customerToken("u-http"))
	assert.Equal(t, http.StatusOK, code)
}

func TestSecurityHTTPBadParams(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("u-params")
	sid := secStart(t, cust)
	tok := "Bearer " + h.customerToken("u-params")
	base := "/v1/customer/sessions/" + sid
	for _, q := range []string{"before_seq=abc", "before_seq=-1", "before_seq=1.5", "before_seq=99999999999999999999999", "limit=x", "limit=-5", "limit=201"} {
		code, body := secGet(t, h, base+"/events?"+q, tok)
		assert.Equal(t, http.StatusBadRequest, code, q)
		secErrorBody(t, body, "bad_request")
	}
	for _, f := range []string{"xls", "PDF", "TXT", "html%00", "../etc/passwd"} {
		code, body := secGet(t, h, base+"/transcript?format="+f, tok)
		assert.Equal(t, http.StatusBadRequest, code, f)
		secErrorBody(t, body, "bad_request")
	}
	for _, f := range []string{"txt", "json", "html", "pdf"} {
		code, _ := secGet(t, h, base+"/transcript?format="+f, tok)
		assert.Equal(t, http.StatusOK, code, f)
	}
	code, body := secGet(t, h, base+"/events?before_seq=2&limit=1", tok)
	require.Equal(t, http.StatusOK, code)
	var page frame
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.list("events"), 1)
	assert.Equal(t, 1, page.list("events")[0].num("seq"))
}

func TestSecurityFrameTooLargeBeforeHello(t *testing.T) {
	h := newHarness(t)
	c := h.dial("/v1/customer/ws", nil)
	secWriteIgnoringErrors(c, []byte(strings.Repeat(" ", parley.MaxFrameBytes+1)))
	code, text := c.expectClose()
	assert.Equal(t, httpapi.CloseMessageTooBig, code)
	assert.Equal(t, fmt.Sprintf("frame exceeds %d KiB", parley.MaxFrameBytes>>10), text)

	ag := h.dial("/v1/agent/ws", nil)
	secWriteIgnoringErrors(ag, []byte(`{"type":"hello","token":"`+strings.Repeat("t", parley.MaxFrameBytes)+`"}`))
	code, _ = ag.expectClose()
	assert.Equal(t, httpapi.CloseMessageTooBig, code)
}

func TestSecurityFrameTooLargeAfterHello(t *testing.T) {
	h := newHarness(t)
	// A message as long as a frame allows, above the length limit.
	h.hubConfig = func(c *chat.Config) { c.MaxMessageChars = parley.MaxFrameBytes }
	h.restart()
	c, _ := h.customer("u-big")
	secStart(t, c)
	// Exactly the limit is fine.
	head, tail := `{"type":"send","req":"fits","text":"`, `"}`
	exact := head + strings.Repeat("a", parley.MaxFrameBytes-len(head)-len(tail)) + tail
	require.Len(t, exact, parley.MaxFrameBytes)
	c.sendRaw([]byte(exact))
	assert.Equal(t, "sent", c.expectRe("fits").str("type"))
	// One byte more closes the connection.
	over := head + strings.Repeat("a", parley.MaxFrameBytes-len(head)-len(tail)+1) + tail
	secWriteIgnoringErrors(c, []byte(over))
	code, text := c.expectClose()
	assert.Equal(t, httpapi.CloseMessageTooBig, code, text)

	// The session is unharmed: the customer reconnects and finds it.
	c2, w := h.customer("u-big")
	require.NotNil(t, w["open_session"])
	assert.Equal(t, 2, w.obj("open_session").num("last_seq"))
	customerStillUsable(t, c2)
}

func TestSecurityHelloTimeout(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.HelloTimeout = 300 * time.Millisecond })
	c := h.dial("/v1/customer/ws", nil)
	code, text := c.expectClose()
	assert.Equal(t, httpapi.CloseHelloTimeout, code)
	assert.Equal(t, "no hello within 300ms", text, "the text names the configured timeout")
	// Frames other than hello do not extend the wait.
	ag := h.dial("/v1/agent/ws", nil)
	ag.send(frame{"type": "status", "status": "available", "req": "s"})
	expectErrFrame(t, ag, "s", "bad_request")
	code, _ = ag.expectClose()
	assert.Equal(t, httpapi.CloseHelloTimeout, code)
}

func TestSecurityNonHelloFirstFrame(t *testing.T) {
	h := newHarness(t)
	c := h.dial("/v1/customer/ws", nil)
	c.send(frame{"type": "start", "req": "s"})
	f := expectErrFrame(t, c, "s", "bad_request")
	assert.Contains(t, f.str("message"), "hello")
	c.sendRaw([]byte(`{"type":`))
	expectErrFrame(t, c, "", "bad_request")
	require.NoError(t, c.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"hello"}`)))
	expectErrFrame(t, c, "", "bad_request")
	c.send(frame{"req": "nt"})
	expectErrFrame(t, c, "nt", "bad_request")
	// Nothing was started before hello.
	c.send(frame{"type": "hello", "token": h.customerToken("u-first"), "req": "h"})
	w := c.expect("welcome")
	assert.Equal(t, "h", w.str("re"))
	assert.Nil(t, w["open_session"])
	customerStillUsable(t, c)
}

func TestSecurityBadCustomerTokens(t *testing.T) {
	h := newHarness(t)
	now := h.clock.now()
	expired, err := auth.SignCustomer(h.secret, parley.Customer{ID: "u-1"}, time.Hour, now.Add(-2*time.Hour))
	require.NoError(t, err)
	wrongSecret, err := auth.SignCustomer([]byte("not-the-secret-not-the-secret-32"), parley.Customer{ID: "u-1"}, time.Hour, now)
	require.NoError(t, err)
	claims := jwt.MapClaims{"sub": "u-1", "exp": now.Add(time.Hour).Unix()}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString(h.secret)
	require.NoError(t, err)
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-1"}).SignedString(h.secret)
	require.NoError(t, err)
	noSub, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}).SignedString(h.secret)
	require.NoError(t, err)
	agentAud, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-1", "aud": auth.AgentAudience,
		"exp": now.Add(time.Hour).Unix()}).SignedString(h.secret)
	require.NoError(t, err)
	// A valid token with its signature taken from another one.
	good := h.customerToken("u-1")
	other := h.customerToken("u-2")
	spliced := good[:strings.LastIndex(good, ".")] + other[strings.LastIndex(other, "."):]

	secAgentAccount(t, h, "Tess", 1)
	agentToken := h.login("Tess")

	for name, tok := range map[string]string{
		"garbage": "garbage", "expired": expired, "wrong secret": wrongSecret, "alg none": none,
		"HS512": hs512, "no exp": noExp, "no sub": noSub, "agent audience": agentAud, "spliced": spliced,
		"agent token": agentToken, "huge": strings.Repeat("a", 20000), "missing": "",
	} {
		t.Logf("token: %s", name)
		secRefused(t, h, "/v1/customer/ws", tok)
	}
	_, w := h.customer("u-1")
	assert.Equal(t, "u-1", w.obj("customer").str("id"))
}

func TestSecurityBadAgentTokens(t *testing.T) {
	h := newHarness(t)
	now := h.clock.now()
	secAgentAccount(t, h, "Gus", 1)
	good := h.login("Gus")
	agentID := func() string {
		c, w := h.agentConn(good)
		c.conn.Close()
		return w.obj("agent").str("id")
	}()
	expired, _, err := auth.SignAgent(h.db.AgentSecret(), agentID, time.Hour, now.Add(-2*time.Hour))
	require.NoError(t, err)
	// Signed with the customer secret, which host applications know: it
	// must not make an agent token.
	forged, _, err := auth.SignAgent(h.secret, agentID, time.Hour, now)
	require.NoError(t, err)
	unknown, _, err := auth.SignAgent(h.db.AgentSecret(), parley.NewID(now), time.Hour, now)
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": agentID, "aud": auth.AgentAudience,
		"exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	noAud, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": agentID,
		"exp": now.Add(time.Hour).Unix()}).SignedString(h.db.AgentSecret())
	require.NoError(t, err)

	for name, tok := range map[string]string{
		"garbage": "x.y.z", "expired": expired, "customer secret": forged, "unknown agent": unknown,
		"alg none": none, "no audience": noAud, "customer token": h.customerToken("u-1"), "missing": "",
	} {
		t.Logf("token: %s", name)
		secRefused(t, h, "/v1/agent/ws", tok)
	}
	c, _ := h.agentConn(good)
	agentStillUsable(t, c)
}

func TestSecurityDisabledAgent(t *testing.T) {
	h := newHarness(t)
	email := secAgentAccount(t, h, "Dora", 1)
	token := h.login("Dora")
	_, err := h.admin.DisableAgent(context.Background(), admin.AgentDisableArgs{Email: email})
	require.NoError(t, err)

	var out frame
	status := h.post("/v1/agent/login", map[string]string{"email": email, "password": agentPassword("Dora")}, &out)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "unauthorized", out.str("code"))
	assert.Empty(t, out.str("token"))

	// A token from before the account was disabled no longer works.
	secRefused(t, h, "/v1/agent/ws", token)
	code, body := secGet(t, h, "/v1/customer/sessions/"+unknownID()+"/transcript", "Bearer "+token)
	assert.Equal(t, http.StatusUnauthorized, code)
	secErrorBody(t, body, "unauthorized")
}

// secOriginDial opens the customer socket with an Origin header and
// returns the HTTP status of the handshake and the connection, if any.
func secOriginDial(t *testing.T, h *harness, origin string) (int, *websocket.Conn) {
	t.Helper()
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	d := websocket.Dialer{HandshakeTimeout: waitTime}
	conn, resp, err := d.Dial(h.wsURL("/v1/customer/ws"), hdr)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.NotNil(t, resp)
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { conn.Close() })
	return resp.StatusCode, conn
}

// secHelloOn says hello on a raw connection and checks the welcome.
func secHelloOn(t *testing.T, h *harness, conn *websocket.Conn) {
	t.Helper()
	require.NoError(t, conn.WriteJSON(frame{"type": "hello", "token": h.customerToken("u-origin")}))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitTime)))
	var w frame
	require.NoError(t, conn.ReadJSON(&w))
	assert.Equal(t, "welcome", w.str("type"), "%v", w)
}

func TestSecurityOriginForeignRefused(t *testing.T) {
	h := newHarness(t)
	port := h.srv.Listener.Addr().(*net.TCPAddr).Port
	for _, o := range []string{
		"https://evil.example", "http://127.0.0.1:1", fmt.Sprintf("http://127.0.0.1.evil.example:%d", port),
		"null", "http://%zz", fmt.Sprintf("http://localhost:%d", port),
	} {
		code, conn := secOriginDial(t, h, o)
		assert.Nil(t, conn, o)
		assert.Equal(t, http.StatusForbidden, code, o)
	}
}

func TestSecurityOriginSameHostAllowed(t *testing.T) {
	h := newHarness(t)
	code, conn := secOriginDial(t, h, h.srv.URL)
	require.Equal(t, http.StatusSwitchingProtocols, code)
	secHelloOn(t, h, conn)
}

func TestSecurityOriginAllowedList(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) {
		c.AllowedOrigins = []string{"https://app.example.com/", "http://localhost:3000"}
	})
	for _, o := range []string{"https://app.example.com", "https://APP.example.com", "http://localhost:3000"} {
		code, conn := secOriginDial(t, h, o)
		require.Equal(t, http.StatusSwitchingProtocols, code, o)
		secHelloOn(t, h, conn)
	}
	for _, o := range []string{"http://app.example.com", "https://app.example.com.evil.net", "http://localhost:3001"} {
		code, conn := secOriginDial(t, h, o)
		assert.Nil(t, conn, o)
		assert.Equal(t, http.StatusForbidden, code, o)
	}

	star := newHarness(t, func(c *httpapi.Config) { c.AllowedOrigins = []string{"*"} })
	code, conn := secOriginDial(t, star, "https://anywhere.example")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	secHelloOn(t, star, conn)
}

func TestSecurityOriginAbsentAllowed(t *testing.T) {
	h := newHarness(t)
	code, conn := secOriginDial(t, h, "")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	secHelloOn(t, h, conn)
}

func TestSecurityAnonymousVisitor(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.AllowAnonymous = true })
	c := h.dial("/v1/customer/ws", nil)
	c.send(frame{"type": "hello", "req": "h"})
	w := c.expect("welcome")
	id := w.obj("customer").str("id")
	require.True(t, strings.HasPrefix(id, auth.VisitorPrefix), id)
	token := w.str("token")
	require.NotEmpty(t, token)
	assert.Nil(t, w["open_session"])
	sid := secStart(t, c)
	c.send(frame{"type": "send", "text": "anyone there?", "req": "m"})
	c.expectRe("m")

	// Another anonymous hello is another visitor.
	other := h.dial("/v1/customer/ws", nil)
	other.send(frame{"type": "hello"})
	ow := other.expect("welcome")
	assert.NotEqual(t, id, ow.obj("customer").str("id"))
	assert.NotEqual(t, token, ow.str("token"))

	// Coming back with the token is the same visitor with the same session.
	c.conn.Close()
	back := h.dial("/v1/customer/ws", nil)
	back.send(frame{"type": "hello", "token": token})
	bw := back.expect("welcome")
	assert.Equal(t, id, bw.obj("customer").str("id"))
	require.NotNil(t, bw["open_session"])
	assert.Equal(t, sid, bw.obj("open_session").str("id"))
	assert.Equal(t, 2, bw.obj("open_session").num("last_seq"))
	back.send(frame{"type": "resume", "session_id": sid, "after_seq": 1, "req": "r"})
	assert.Equal(t, "session", back.expectRe("r").str("type"))
	assert.Equal(t, "anyone there?", back.expectEvent("message").str("text"))

	// The visitor token works over HTTP, and only for the visitor.
	code, body := secGet(t, h, "/v1/customer/sessions", "Bearer "+token)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), sid)
	code, _ = secGet(t, h, "/v1/customer/sessions/"+sid+"/events", "Bearer "+ow.str("token"))
	assert.Equal(t, http.StatusNotFound, code)
}

func TestSecurityAnonymousDisabled(t *testing.T) {
	h := newHarness(t)
	secRefused(t, h, "/v1/customer/ws", "")
}

func TestSecurityLoginFailuresLookAlike(t *testing.T) {
	h := newHarness(t)
	email := secAgentAccount(t, h, "Lena", 1)
	var wrongPw, noUser frame
	s1 := h.post("/v1/agent/login", map[string]string{"email": email, "password": "not-her-password"}, &wrongPw)
	s2 := h.post("/v1/agent/login", map[string]string{"email": "nobody@example.com", "password": "not-her-password"}, &noUser)
	assert.Equal(t, http.StatusUnauthorized, s1)
	assert.Equal(t, http.StatusUnauthorized, s2)
	assert.Equal(t, "unauthorized", wrongPw.str("code"))
	assert.Equal(t, wrongPw, noUser, "responses must not reveal which emails exist")
	assert.NotContains(t, wrongPw, "token")
}

func TestSecurityLoginMalformedBody(t *testing.T) {
	h := newHarness(t)
	secAgentAccount(t, h, "Mo", 1)
	for _, body := range []string{``, `{`, `[]`, `"x"`, `{"email":1,"password":2}`, `{"email":"mo@example.com"}`, `{"password":"pw-Mo"}`} {
		code, f := secPostRaw(t, h, "/v1/agent/login", body)
		assert.Equal(t, http.StatusBadRequest, code, body)
		assert.Equal(t, "bad_request", f.str("code"), body)
		assert.Equal(t, "error", f.str("type"), body)
	}
	code, f := secPostRaw(t, h, "/v1/agent/login", `{"email":"mo@example.com","password":"`+strings.Repeat("p", 10<<10)+`"}`)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Equal(t, "too_large", f.str("code"))
}

func TestSecurityLoginRateLimit(t *testing.T) {
	h := newHarness(t)
	email := secAgentAccount(t, h, "Rita", 1)
	limited := -1
	for i := range 30 {
		var out frame
		status := h.post("/v1/agent/login", map[string]string{"email": email, "password": fmt.Sprintf("guess-%d", i)}, &out)
		if status == http.StatusTooManyRequests {
			assert.Equal(t, "rate_limited", out.str("code"))
			assert.Equal(t, "error", out.str("type"))
			limited = i
			break
		}
		require.Equal(t, http.StatusUnauthorized, status, "attempt %d", i)
	}
	require.NotEqual(t, -1, limited, "30 failed logins in a row were never rate limited")
	assert.GreaterOrEqual(t, limited, 5, "a few mistakes must be allowed")
	// While limited, even the right password is refused: the limit is per
	// address, so guessing cannot go on.
	var out frame
	assert.Equal(t, http.StatusTooManyRequests, h.post("/v1/agent/login", map[string]string{"email": email, "password": agentPassword("Rita")}, &out))
	// The limit passes with time.
	h.clock.advance(2 * time.Minute)
	assert.NotEmpty(t, h.login("Rita"))
}

// slowLog is a log handler that reports the role of every connection the
// server disconnects as too slow.
type slowLog struct{ roles chan string }

func (l *slowLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *slowLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *slowLog) WithGroup(string) slog.Handler            { return l }
func (l *slowLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "disconnecting slow client" {
		return nil
	}
	role := "?"
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "role" {
			role = a.Value.String()
			return false
		}
		return true
	})
	select {
	case l.roles <- role:
	default:
	}
	return nil
}

// TestSecuritySlowConsumer fills the socket of a customer that stops
// reading. The server must cut it off (4508) instead of queueing without
// bound, keep the session open, and let the customer catch up by resuming.
//
// It is deterministic because the customer only starts reading again after
// the server has logged its decision: until then the server's writer is
// blocked on the full socket, so the queue can only grow; once the
// customer reads, the writer unblocks, sees the connection closed and
// sends the 4508 close frame behind the frames already on the wire.
func TestSecuritySlowConsumer(t *testing.T) {
	logs := &slowLog{roles: make(chan string, 16)}
	h := newHarness(t)
	// Big messages, sent as fast as acks come back.
	h.hubConfig = func(c *chat.Config) { c.MaxMessageChars = 64 << 10 }
	h.restart(func(c *httpapi.Config) {
		// A small budget (four of them is the hard cap), so the test need
		// not fill megabytes of socket buffers; but room for a few of the
		// agent's 48 KB echoes, which a loaded machine may not have
		// written yet when the next one comes (with 16 KB, two of them
		// passed the cap and cut off the agent, who reads promptly).
		c.OutboundBytes = 128 << 10
		c.Logger = slog.New(logs)
		noRateLimits(c)
	})

	// The slow customer: a raw connection with a small receive buffer.
	d := websocket.Dialer{
		HandshakeTimeout: waitTime,
		ReadBufferSize:   512,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
			}
			return c, err
		},
	}
	raw, resp, err := d.Dial(h.wsURL("/v1/customer/ws"), nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { raw.Close() })
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(waitTime)))
	readUntil := func(pred func(frame) bool) {
		t.Helper()
		for {
			var f frame
			require.NoError(t, raw.ReadJSON(&f))
			if pred(f) {
				return
			}
		}
	}
	require.NoError(t, raw.WriteJSON(frame{"type": "hello", "token": h.customerToken("u-slow")}))
	readUntil(func(f frame) bool { return f.str("type") == "welcome" })
	require.NoError(t, raw.WriteJSON(frame{"type": "start", "req": "s"}))
	var sid string
	readUntil(func(f frame) bool { sid = f.obj("session").str("id"); return f.str("re") == "s" })

	ag, _ := secAgent(t, h, "Fast", 1)
	ag.available()
	require.Equal(t, sid, ag.expect("assigned").obj("session").str("id"))

	// From here on the customer reads nothing. The agent writes big
	// messages, one at a time, until the server gives up on the customer.
	text := strings.Repeat("x", 48<<10)
	sent := 0
	const maxMessages = 400 // ~19 MB, far more than any socket buffers
	var role string
fill:
	for sent < maxMessages {
		req := fmt.Sprintf("m%d", sent)
		ag.send(frame{"type": "send", "session_id": sid, "text": fmt.Sprintf("%d:%s", sent, text), "req": req})
		ack := ag.expectRe(req)
		require.Equal(t, "sent", ack.str("type"), "%v", ack)
		sent++
		select {
		case role = <-logs.roles:
			break fill
		default:
		}
	}
	require.NotEmpty(t, role, "customer not disconnected after %d messages of %d bytes", sent, len(text))
	require.Equal(t, "customer", role, "the wrong connection was too slow")

	// The customer reads again: the frames already sent, then the close.
	lastSeq := 0
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(waitTime)))
	for {
		var f frame
		err := raw.ReadJSON(&f)
		if err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, httpapi.CloseSlowConsumer, ce.Code)
			assert.Contains(t, ce.Text, "resume")
			break
		}
		if f.str("type") == "event" {
			seq := f.obj("event").num("seq")
			require.Greater(t, seq, lastSeq, "events out of order")
			lastSeq = seq
		}
	}
	t.Logf("disconnected after %d messages; customer had received up to seq %d", sent, lastSeq)

	// The session is still open, the agent still in it.
	ag.send(frame{"type": "send", "session_id": sid, "text": "after the cut", "req": "after"})
	afterSeq := ag.expectRe("after").num("seq")
	// Queued and agent_joined, the messages, then this one.
	require.Equal(t, 2+sent+1, afterSeq)

	// Reconnecting and resuming delivers everything that was missed.
	cust, w := h.customer("u-slow")
	require.NotNil(t, w["open_session"])
	assert.Equal(t, sid, w.obj("open_session").str("id"))
	assert.Equal(t, "active", w.obj("open_session").str("state"))
	// Resumes come in pages of 256 KiB: resume again while more.
	seq := lastSeq
	for page := 0; ; page++ {
		req := fmt.Sprintf("r%d", page)
		cust.send(frame{"type": "resume", "session_id": sid, "after_seq": seq, "req": req})
		require.Equal(t, "session", cust.expectRe(req).str("type"))
		for {
			f := cust.next()
			if f.str("type") == "resumed" {
				require.Equal(t, req, f.str("re"))
				require.Equal(t, seq, f.num("through_seq"))
				break
			}
			if f.str("type") != "event" {
				continue
			}
			ev := f.obj("event")
			seq++
			require.Equal(t, seq, ev.num("seq"))
			require.Equal(t, "message", ev.str("kind"))
			if seq == afterSeq {
				assert.Equal(t, "after the cut", ev.str("text"))
			} else {
				assert.True(t, strings.HasPrefix(ev.str("text"), fmt.Sprintf("%d:", seq-3)), "seq %d", seq)
			}
		}
		if seq == afterSeq {
			break
		}
		require.Less(t, page, 100, "resume pages never reach seq %d", afterSeq)
	}
	customerStillUsable(t, cust)
	select {
	case r := <-logs.roles:
		t.Fatalf("another %s connection was disconnected as slow", r)
	default:
	}
}

// TestSecurityShutdownClosesClients stops the whole server the way the
// harness (and serve) does and checks that clients are told to resume.
func TestSecurityShutdownClosesClients(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("u-bye")
	secStart(t, cust)
	ag, _ := secAgent(t, h, "Bye", 1)
	h.stop()
	for _, c := range []*client{cust, ag} {
		code, text := c.expectClose()
		assert.Equal(t, httpapi.CloseGoingAway, code)
		assert.Contains(t, text, "resume")
	}
}

// TestSecurityShutdownReadiness checks readiness and new connections
// while api.Shutdown drains.
func TestSecurityShutdownReadiness(t *testing.T) {
	h := newHarness(t)
	code, body := secGet(t, h, "/healthz", "")
	assert.Equal(t, http.StatusOK, code, "%s", body)
	code, body = secGet(t, h, "/readyz", "")
	assert.Equal(t, http.StatusOK, code, "%s", body)

	cust, _ := h.customer("u-drain")
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	require.NoError(t, h.api.Shutdown(ctx), "Shutdown waits until every client is gone")
	code, text := cust.expectClose()
	assert.Equal(t, httpapi.CloseGoingAway, code)
	assert.Contains(t, text, "resume")

	code, body = secGet(t, h, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	secErrorBody(t, body, "unavailable")
	code, _ = secGet(t, h, "/healthz", "")
	assert.Equal(t, http.StatusOK, code, "the process is still up")
	// New WebSockets are refused while draining.
	_, resp, err := websocket.DefaultDialer.Dial(h.wsURL("/v1/customer/ws"), nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestSecurityHealthReady(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		code, body := secGet(t, h, p, "")
		assert.Equal(t, http.StatusOK, code, p)
		var f frame
		require.NoError(t, json.Unmarshal(body, &f), "%s", body)
		assert.NotEmpty(t, f.str("status"))
	}
}
