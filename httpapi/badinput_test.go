package httpapi_test

import (
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests send broken commands over an authenticated WebSocket. The
// contract says a bad command gets an error frame (with "re" when the req
// could be read) and the connection stays open, so every test ends by
// showing that a following valid command is still answered.

// expectErrFrame waits for the error frame answering req ("" for one whose req
// could not be recovered) and checks its code.
func expectErrFrame(t *testing.T, c *client, req, code string) frame {
	t.Helper()
	f := c.waitFor("error re="+req, func(f frame) bool { return f.str("type") == "error" && f.str("re") == req })
	assert.Equal(t, code, f.str("code"), "error frame %v", f)
	assert.NotEmpty(t, f.str("message"), "error frame %v", f)
	return f
}

// customerStillUsable shows that a customer connection still answers commands.
func customerStillUsable(t *testing.T, c *client) {
	t.Helper()
	c.send(frame{"type": "sessions", "req": "still-alive"})
	f := c.expectRe("still-alive")
	require.Equal(t, "sessions", f.str("type"), "connection no longer usable: %v", f)
}

// agentStillUsable shows that an offline agent's connection still answers
// commands, without changing its status.
func agentStillUsable(t *testing.T, c *client) {
	t.Helper()
	c.send(frame{"type": "status", "status": "offline", "req": "still-alive"})
	f := c.expectRe("still-alive")
	require.Equal(t, "agent_status", f.str("type"), "connection no longer usable: %v", f)
}

func TestBadInputMalformedJSON(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-json")
	for _, raw := range []string{`{"type":"start",`, `{type:start}`, `not json at all`, `{"type":"start"}}`, ``} {
		c.sendRaw([]byte(raw))
		f := expectErrFrame(t, c, "", "bad_request")
		assert.NotContains(t, f, "re", "no req can be read from %q", raw)
	}
	customerStillUsable(t, c)
}

func TestBadInputJSONNotObject(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-shape")
	for _, raw := range []string{`[{"type":"start","req":"a"}]`, `42`, `"start"`, `true`} {
		c.sendRaw([]byte(raw))
		f := expectErrFrame(t, c, "", "bad_request")
		assert.Equal(t, "Frame must be a JSON object.", f.str("message"), "for %s", raw)
	}
	// null decodes to an empty frame: no type.
	c.sendRaw([]byte(`null`))
	expectErrFrame(t, c, "", "bad_request")
	customerStillUsable(t, c)
}

func TestBadInputBinaryFrame(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-binary")
	require.NoError(t, c.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"sessions","req":"b"}`)))
	expectErrFrame(t, c, "", "bad_request")
	customerStillUsable(t, c)
}

func TestBadInputUnknownType(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-type")
	c.send(frame{"type": "launch_missiles", "req": "u1"})
	f := expectErrFrame(t, c, "u1", "bad_request")
	assert.Contains(t, f.str("message"), "launch_missiles")
	// A very long unknown type is not echoed in full.
	c.send(frame{"type": strings.Repeat("x", 10_000), "req": "u2"})
	f = expectErrFrame(t, c, "u2", "bad_request")
	assert.Less(t, len(f.str("message")), 200)
	// Agent-only commands are unknown to customers.
	c.send(frame{"type": "accept", "req": "u3"})
	expectErrFrame(t, c, "u3", "bad_request")
	customerStillUsable(t, c)

	ag, _ := secAgent(t, h, "Una", 1)
	ag.send(frame{"type": "start", "req": "u4"})
	expectErrFrame(t, ag, "u4", "bad_request")
	agentStillUsable(t, ag)
}

func TestBadInputMissingType(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-notype")
	c.send(frame{"req": "m1", "text": "hi"})
	expectErrFrame(t, c, "m1", "bad_request")
	c.send(frame{"type": "", "req": "m2"})
	expectErrFrame(t, c, "m2", "bad_request")
	c.sendRaw([]byte(`{}`))
	expectErrFrame(t, c, "", "bad_request")
	customerStillUsable(t, c)
}

func TestBadInputWrongFieldTypes(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-fields")
	cases := []struct{ req, raw string }{
		{"w1", `{"type":"read","seq":"x","req":"w1"}`},
		{"w2", `{"type":"history","limit":"10","session_id":"x","req":"w2"}`},
		{"w3", `{"type":"typing","active":"yes","req":"w3"}`},
		{"w4", `{"type":"send","text":42,"req":"w4"}`},
		{"w5", `{"type":"resume","after_seq":-1,"session_id":"x","req":"w5"}`},
		{"w6", `{"type":"read","seq":1.5,"req":"w6"}`},
		{"w7", `{"type":["start"],"req":"w7"}`},
		// A req that is not a string cannot be echoed.
		{"", `{"type":"start","req":7}`},
	}
	for _, tc := range cases {
		c.sendRaw([]byte(tc.raw))
		expectErrFrame(t, c, tc.req, "bad_request")
	}
	customerStillUsable(t, c)
}

func TestBadInputSendWithoutText(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-send")
	c.send(frame{"type": "start", "req": "s"})
	c.expectRe("s")
	c.send(frame{"type": "send", "client_msg_id": "c1", "req": "t1"})
	expectErrFrame(t, c, "t1", "bad_request")
	c.send(frame{"type": "send", "text": "", "req": "t2"})
	expectErrFrame(t, c, "t2", "bad_request")
	c.send(frame{"type": "send", "text": " \t\r\n ", "req": "t3"})
	expectErrFrame(t, c, "t3", "bad_request")
	// Nothing was stored: the next message gets seq 2, right after queued.
	c.send(frame{"type": "send", "text": "real", "req": "t4"})
	sent := c.expectRe("t4")
	require.Equal(t, "sent", sent.str("type"), "%v", sent)
	assert.Equal(t, 2, sent.num("seq"))
}

func TestBadInputClientMsgIDTooLong(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-cmid")
	c.send(frame{"type": "start", "req": "s"})
	c.expectRe("s")
	c.send(frame{"type": "send", "text": "hi", "client_msg_id": strings.Repeat("a", 129), "req": "c1"})
	expectErrFrame(t, c, "c1", "bad_request")
	// Exactly 128 bytes is fine, and is stored as the first message.
	id := strings.Repeat("é", 64)
	c.send(frame{"type": "send", "text": "hi", "client_msg_id": id, "req": "c2"})
	sent := c.expectRe("c2")
	require.Equal(t, "sent", sent.str("type"), "%v", sent)
	assert.Equal(t, id, sent.str("client_msg_id"))
	assert.Equal(t, 2, sent.num("seq"))
}

func TestBadInputReqTooLong(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-req")
	long := strings.Repeat("r", 129)
	c.send(frame{"type": "sessions", "req": long})
	f := expectErrFrame(t, c, "", "bad_request")
	assert.NotContains(t, f.str("message"), long)
	// Also when the frame is otherwise broken: the long req is never echoed.
	c.sendRaw([]byte(`{"type":"read","seq":"x","req":"` + long + `"}`))
	expectErrFrame(t, c, "", "bad_request")
	// 128 bytes is the limit and is echoed.
	ok := strings.Repeat("r", 128)
	c.send(frame{"type": "sessions", "req": ok})
	assert.Equal(t, "sessions", c.expectRe(ok).str("type"))
	customerStillUsable(t, c)
}

func TestBadInputHistoryLimit(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-limit")
	c.send(frame{"type": "start", "req": "s"})
	sid := c.expectRe("s").obj("session").str("id")
	for i, limit := range []int{201, -1, 1 << 30, -200} {
		req := "l" + string(rune('a'+i))
		c.send(frame{"type": "history", "session_id": sid, "limit": limit, "req": req})
		expectErrFrame(t, c, req, "bad_request")
	}
	c.send(frame{"type": "history", "req": "nosid"})
	expectErrFrame(t, c, "nosid", "bad_request")
	c.send(frame{"type": "history", "session_id": sid, "limit": 200, "req": "ok"})
	page := c.expectRe("ok")
	require.Equal(t, "history", page.str("type"), "%v", page)
	assert.Len(t, page.list("events"), 1)
	customerStillUsable(t, c)
}

func TestBadInputStatusValue(t *testing.T) {
	h := newHarness(t)
	ag, _ := secAgent(t, h, "Stan", 1)
	for i, st := range []string{"sleeping", "", "AVAILABLE", "draining"} {
		req := "st" + string(rune('a'+i))
		ag.send(frame{"type": "status", "status": st, "req": req})
		expectErrFrame(t, ag, req, "bad_request")
	}
	ag.sendRaw([]byte(`{"type":"status","status":1,"req":"num"}`))
	expectErrFrame(t, ag, "num", "bad_request")
	st := ag.available()
	assert.Equal(t, "available", st.str("status"))
}

func TestBadInputHelloAgain(t *testing.T) {
	h := newHarness(t)
	c, _ := h.customer("bad-hello")
	c.send(frame{"type": "hello", "token": h.customerToken("someone-else"), "req": "h2"})
	expectErrFrame(t, c, "h2", "bad_request")
	// Still the same customer.
	c.send(frame{"type": "start", "req": "s"})
	assert.Equal(t, "bad-hello", c.expectRe("s").obj("session").obj("customer").str("id"))
}
