package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLifecycle walks one conversation end to end: start, routing, messages
// both ways, typing and read receipts, end, and the customer's list.
func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	cust, welcome := h.customer("u-1")
	assert.Nil(t, welcome["open_session"])
	assert.Equal(t, "u-1", welcome.obj("customer").str("id"))

	cust.send(frame{"type": "start", "req": "s1"})
	sess := cust.expectRe("s1")
	require.Equal(t, "session", sess.str("type"))
	s := sess.obj("session")
	sid := s.str("id")
	assert.Equal(t, "queued", s.str("state"))
	assert.Equal(t, 1, s.num("position"))
	assert.Equal(t, 0, s.num("agents_available"))
	assert.NotContains(t, s, "ewt_s", "no estimate while no agent is available")
	ev := cust.expectEvent("queued")
	assert.Equal(t, 1, ev.num("seq"))

	// Starting again answers with the same open session.
	cust.send(frame{"type": "start", "req": "s2"})
	assert.Equal(t, sid, cust.expectRe("s2").obj("session").str("id"))

	// The customer can write while waiting.
	cust.send(frame{"type": "send", "text": "hello?", "client_msg_id": "c1", "req": "m1"})
	sent := cust.expectRe("m1")
	assert.Equal(t, "sent", sent.str("type"))
	assert.Equal(t, 2, sent.num("seq"))
	assert.Equal(t, "c1", sent.str("client_msg_id"))

	ag, aw := h.agent("Bob", 2)
	assert.Equal(t, "offline", aw.obj("agent").str("status"))
	assert.Equal(t, 1, aw.obj("queue").num("waiting"))
	st := ag.available()
	assert.Equal(t, "available", st.str("status"))

	// The agent hears of the session first through assigned, which
	// carries the join; no event for it comes before.
	as := ag.waitFor("assigned", func(f frame) bool {
		require.NotEqual(t, "event", f.str("type"), "event before assigned: %v", f)
		return f.str("type") == "assigned"
	})
	assert.Equal(t, sid, as.obj("session").str("id"))
	assert.Equal(t, "active", as.obj("session").str("state"))
	assert.Equal(t, "pro", as.obj("customer_profile").obj("profile").str("plan"))
	kinds := []string{}
	for _, e := range as.list("events") {
		kinds = append(kinds, e.str("kind"))
	}
	assert.Equal(t, []string{"queued", "message", "agent_joined"}, kinds)
	joined := cust.expectEvent("agent_joined")
	assert.Equal(t, "Bob", joined.obj("from").str("name"))

	// Agent answers; customer sees typing, then the message.
	ag.send(frame{"type": "typing", "session_id": sid, "active": true})
	ty := cust.expect("typing")
	assert.Equal(t, true, ty["active"])
	ag.send(frame{"type": "send", "session_id": sid, "text": "Hi, I'm Bob", "client_msg_id": "a1", "req": "am1"})
	assert.Equal(t, 4, ag.expectRe("am1").num("seq"))
	msg := cust.expectEvent("message")
	assert.Equal(t, "Hi, I'm Bob", msg.str("text"))
	assert.Equal(t, "agent", msg.obj("from").str("role"))

	cust.send(frame{"type": "read", "seq": 4})
	rd := ag.expect("read")
	assert.Equal(t, 4, rd.num("seq"))

	cust.send(frame{"type": "send", "text": "thanks", "client_msg_id": "c2"})
	assert.Equal(t, "thanks", ag.expectEvent("message").str("text"))

	cust.send(frame{"type": "end", "req": "e"})
	end := cust.expectRe("e")
	assert.Equal(t, "ended", end.obj("event").str("kind"))
	assert.Equal(t, "customer", end.obj("event").str("reason"))
	ag.expectEvent("ended")

	cust.send(frame{"type": "sessions", "req": "l"})
	list := cust.expectRe("l").list("sessions")
	require.Len(t, list, 1)
	assert.Equal(t, "ended", list[0].str("state"))
	assert.Equal(t, "customer", list[0].str("end_reason"))
	assert.Equal(t, 6, list[0].num("last_seq"))

	// History pages backwards.
	cust.send(frame{"type": "history", "session_id": sid, "limit": 2, "req": "h1"})
	page := cust.expectRe("h1")
	assert.True(t, page["more"].(bool))
	evs := page.list("events")
	require.Len(t, evs, 2)
	assert.Equal(t, 5, evs[0].num("seq"))
	assert.Equal(t, 6, evs[1].num("seq"))
	cust.send(frame{"type": "history", "session_id": sid, "before_seq": 5, "limit": 50, "req": "h2"})
	page = cust.expectRe("h2")
	assert.False(t, page["more"].(bool))
	assert.Len(t, page.list("events"), 4)

	// After the end, sending needs a new session, and resume is a conflict.
	cust.send(frame{"type": "send", "text": "more", "req": "x"})
	assert.Equal(t, "conflict", cust.expectRe("x").str("code"))
	cust.send(frame{"type": "resume", "session_id": sid, "after_seq": 0, "req": "r"})
	assert.Equal(t, "conflict", cust.expectRe("r").str("code"))

	// The agent's slot is free again.
	ag.send(frame{"type": "status", "status": "available", "req": "st2"})
	assert.Equal(t, 0, ag.expectRe("st2").num("active"))

	// HTTP sees the same.
	code, body, _ := h.get("/v1/customer/sessions", h.customerToken("u-1"))
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), sid)
	code, body, hdr := h.get("/v1/customer/sessions/"+sid+"/transcript?format=txt", h.customerToken("u-1"))
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.HasPrefix(hdr.Get("Content-Type"), "text/plain"))
	assert.Contains(t, string(body), "Bob: Hi, I'm Bob")
}
