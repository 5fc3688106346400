package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextReal returns the next frame that is not an unsolicited status push
// (queue summaries, typing, read receipts, agent status), which may arrive
// at any time and say nothing about the events under test.
func nextReal(c *client) frame {
	c.t.Helper()
	for {
		f := c.next()
		switch f.str("type") {
		case "queue", "typing", "read", "agent_status":
			continue
		}
		return f
	}
}

// hangUp closes a connection with a close handshake and waits for the
// server's answering close frame, so the server has read the close and its
// reader is on its way out (it detaches the connection right after).
func hangUp(c *client) {
	c.t.Helper()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	require.NoError(c.t, c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitTime)))
	c.expectClose()
}

// messageEvent waits for the message event with text on c.
func messageEvent(c *client, text string) frame {
	c.t.Helper()
	return c.waitFor("message "+text, func(f frame) bool {
		return f.str("type") == "event" && f.obj("event").str("kind") == "message" && f.obj("event").str("text") == text
	}).obj("event")
}

// history returns all events of a session as the connection's owner sees
// them.
func (h *harness) history(c *client, sessionID string) []frame {
	c.t.Helper()
	f := h.do(c, frame{"type": "history", "session_id": sessionID, "limit": 200})
	require.Equal(c.t, "history", f.str("type"), "history answered %v", f)
	return f.list("events")
}

// countText counts the message events with text.
func countText(events []frame, text string) int {
	n := 0
	for _, e := range events {
		if e.str("kind") == "message" && e.str("text") == text {
			n++
		}
	}
	return n
}

// getJSON does an HTTP GET and decodes a JSON object answer.
func (h *harness) getJSON(path, token string) (int, frame) {
	h.t.Helper()
	code, body, _ := h.get(path, token)
	var f frame
	require.NoError(h.t, json.Unmarshal(body, &f), "body %s", body)
	return code, f
}

func sessionIDs(list []frame) []string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.str("id")
	}
	return ids
}

// TestSeveralConnections checks that every connection of a customer and
// of an agent gets the session's frames, and that one tab closing ends
// nothing.
func TestSeveralConnections(t *testing.T) {
	h := newHarness(t)
	tab1, _ := h.customer("multi")
	tab2, _ := h.customer("multi")
	sid := h.startSession(tab1).str("id")
	assert.Equal(t, 1, tab1.expectEvent("queued").num("seq"))
	assert.Equal(t, 1, tab2.expectEvent("queued").num("seq"))
	// The other tab starting answers with the same session.
	assert.Equal(t, sid, h.startSession(tab2).str("id"))

	desk, _ := h.fastAgent("Amy", 2)
	laptop, _ := h.fastAgent("Amy", 2)
	desk.available()
	assert.Equal(t, sid, assignedID(desk))
	assert.Equal(t, sid, assignedID(laptop), "the agent's other connection is told too")
	assert.Equal(t, "Amy", joinedBy(tab1))
	assert.Equal(t, "Amy", joinedBy(tab2))

	// An agent message reaches both tabs and the agent's other connection.
	h.say(desk, sid, "hello both tabs")
	for _, c := range []*client{tab1, tab2, laptop} {
		messageEvent(c, "hello both tabs")
	}
	// A customer message from one tab reaches the other and both agent
	// connections.
	h.say(tab2, "", "typed on the phone")
	for _, c := range []*client{tab1, desk, laptop} {
		messageEvent(c, "typed on the phone")
	}
	// The agent answers from the laptop.
	h.say(laptop, sid, "answered from the laptop")
	for _, c := range []*client{tab1, tab2, desk} {
		messageEvent(c, "answered from the laptop")
	}

	// One tab closes; the session goes on.
	hangUp(tab1)
	h.say(desk, sid, "still here")
	messageEvent(tab2, "still here")
	h.say(tab2, "", "me too")
	messageEvent(desk, "me too")
	tab2.send(frame{"type": "sessions", "req": "l"})
	list := tab2.expectRe("l").list("sessions")
	require.Len(t, list, 1)
	assert.Equal(t, "active", list[0].str("state"))

	// An abrupt drop (no close handshake) ends nothing either.
	tab3, w := h.customer("multi")
	assert.Equal(t, sid, w.obj("open_session").str("id"))
	require.NoError(t, tab3.conn.NetConn().Close())
	h.say(desk, sid, "after the drop")
	messageEvent(tab2, "after the drop")
	_, w = h.customer("multi")
	assert.Equal(t, "active", w.obj("open_session").str("state"))
	desk.noFrameBefore(frame{"type": "history", "session_id": sid, "req": h.req()}, func(f frame) bool {
		return f.str("type") == "event" && f.obj("event").str("kind") == "ended"
	})
}

// TestResumeMissedEvents checks that a client coming back gets exactly
// what it missed, in order, and that ended sessions cannot be resumed.
func TestResumeMissedEvents(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.fastAgent("Amy", 2)
	amy.available()
	cust, _ := h.customer("rs-1")
	sid := h.startSession(cust).str("id")
	assert.Equal(t, sid, assignedID(amy))
	lastSeen := cust.expectEvent("agent_joined").num("seq")

	// The customer is away while the agent writes three messages.
	hangUp(cust)
	seqs := make([]int, 3)
	for i := range seqs {
		text := fmt.Sprintf("missed %d", i+1)
		seqs[i] = h.say(amy, sid, text).num("seq")
		// sent comes before the fan-out; once the agent has its own copy,
		// the customer's connections have been served too, so the new
		// connection below cannot receive these live.
		messageEvent(amy, text)
	}

	cust, w := h.customer("rs-1")
	open := w.obj("open_session")
	require.NotNil(t, open, "welcome must name the open session")
	assert.Equal(t, sid, open.str("id"))
	assert.Equal(t, "active", open.str("state"))
	assert.Equal(t, seqs[2], open.num("last_seq"))

	cust.send(frame{"type": "resume", "session_id": sid, "after_seq": lastSeen, "req": "res"})
	f := nextReal(cust)
	require.Equal(t, "session", f.str("type"), "resume answered %v", f)
	assert.Equal(t, "res", f.str("re"))
	assert.Equal(t, sid, f.obj("session").str("id"))
	for i, seq := range seqs {
		f := nextReal(cust)
		require.Equal(t, "event", f.str("type"), "frame %v", f)
		assert.Equal(t, sid, f.str("session_id"))
		assert.Equal(t, seq, f.obj("event").num("seq"))
		assert.Equal(t, fmt.Sprintf("missed %d", i+1), f.obj("event").str("text"))
	}
	cust.noFrameBefore(frame{"type": "sessions", "req": h.req()}, func(f frame) bool { return f.str("type") == "event" })

	// Now the agent is away while the customer writes.
	hangUp(amy)
	cseqs := []int{h.say(cust, "", "are you there?").num("seq"), h.say(cust, "", "hello?").num("seq")}
	// A resume is handled by the session after the sends' fan-out, so
	// the agent's new connection below cannot receive them live.
	require.Equal(t, "session", h.do(cust, frame{"type": "resume", "session_id": sid, "after_seq": 1 << 30}).str("type"))
	amy, aw := h.fastAgent("Amy", 2)
	assert.Equal(t, 1, aw.obj("agent").num("active"))
	require.Len(t, aw.list("sessions"), 1)
	assert.Equal(t, sid, aw.list("sessions")[0].str("id"))
	assert.Equal(t, cseqs[1], aw.list("sessions")[0].num("last_seq"))

	amy.send(frame{"type": "resume", "session_id": sid, "after_seq": seqs[2], "req": "ares"})
	f = nextReal(amy)
	require.Equal(t, "session", f.str("type"), "resume answered %v", f)
	assert.Equal(t, "ares", f.str("re"))
	for i, text := range []string{"are you there?", "hello?"} {
		f := nextReal(amy)
		require.Equal(t, "event", f.str("type"), "frame %v", f)
		assert.Equal(t, cseqs[i], f.obj("event").num("seq"))
		assert.Equal(t, text, f.obj("event").str("text"))
	}
	amy.noFrameBefore(frame{"type": "history", "session_id": sid, "req": h.req()}, func(f frame) bool { return f.str("type") == "event" })

	// Ended sessions cannot be resumed, by either side.
	cust.send(frame{"type": "end", "req": "end"})
	require.Equal(t, "ended", cust.expectRe("end").obj("event").str("kind"))
	assert.Equal(t, "conflict", h.errCode(cust, frame{"type": "resume", "session_id": sid, "after_seq": 0}))
	amy.expectEvent("ended")
	assert.Equal(t, "conflict", h.errCode(amy, frame{"type": "resume", "session_id": sid, "after_seq": 0}))

	// Starting again right after the end opens a new session.
	again := h.startSession(cust)
	assert.NotEqual(t, sid, again.str("id"))
	assert.Equal(t, "queued", again.str("state"))
}

// TestIdempotentSend checks that a repeated client_msg_id stores and
// delivers nothing new, also after a restart.
func TestIdempotentSend(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.fastAgent("Amy", 2)
	amy.available()
	cust, _ := h.customer("idem")
	sid := h.startSession(cust).str("id")
	assert.Equal(t, sid, assignedID(amy))
	joinedBy(cust)

	send := frame{"type": "send", "text": "only once", "client_msg_id": "dup-1"}
	first := h.do(cust, send)
	require.Equal(t, "sent", first.str("type"), "send answered %v", first)
	assert.NotEqual(t, true, first["duplicate"])
	messageEvent(amy, "only once")
	messageEvent(cust, "only once")

	check := func(c *client, agent *client, after string) {
		t.Helper()
		again := h.do(c, frame{"type": "send", "text": "only once", "client_msg_id": "dup-1"})
		require.Equal(t, "sent", again.str("type"), "send answered %v", again)
		assert.Equal(t, first.num("seq"), again.num("seq"))
		assert.Equal(t, first.str("id"), again.str("id"))
		assert.Equal(t, first.str("at"), again.str("at"))
		assert.Equal(t, "dup-1", again.str("client_msg_id"))
		assert.Equal(t, true, again["duplicate"])
		// A message sent after the repeat is the next thing the agent
		// and the customer see: the repeat was not delivered.
		h.say(c, "", after)
		for _, x := range []*client{agent, c} {
			ev := x.expectEvent("message")
			assert.Equal(t, after, ev.str("text"))
		}
		assert.Equal(t, 1, countText(h.history(c, sid), "only once"))
		assert.Equal(t, 1, countText(h.history(agent, sid), "only once"))
	}
	check(cust, amy, "after the repeat")

	// The ids are stored, not remembered in memory.
	h.restart()
	cust, _ = h.customer("idem")
	amy, _ = h.fastAgent("Amy", 2)
	check(cust, amy, "after the restart")
}

// TestWhisperPrivacy checks that whispers reach agents only, on every path
// a customer can read a session by.
func TestWhisperPrivacy(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.fastAgent("Amy", 2)
	amy.available()
	cust, _ := h.customer("wh-1")
	sid := h.startSession(cust).str("id")
	assert.Equal(t, sid, assignedID(amy))
	assert.Equal(t, "Amy", joinedBy(cust))
	bob, _ := h.fastAgent("Bob", 2)
	bob.available()
	require.Equal(t, "assigned", h.do(bob, frame{"type": "accept", "session_id": sid}).str("type"))
	assert.Equal(t, "Bob", joinedBy(cust))
	h.say(cust, "", "before the whisper")

	const secret = "WHISPER-7f3a legacy plan, be gentle"
	sent := h.do(amy, frame{"type": "send", "session_id": sid, "text": secret, "client_msg_id": "w1", "whisper": true})
	require.Equal(t, "sent", sent.str("type"), "whisper answered %v", sent)
	wseq := sent.num("seq")
	ev := messageEvent(bob, secret)
	assert.Equal(t, true, ev["whisper"])
	assert.Equal(t, "Amy", ev.obj("from").str("name"))

	// The customer gets no frame at all: the resume answer goes through the
	// session after the whisper, so anything for the customer would come
	// first.
	messageEvent(cust, "before the whisper")
	marker := h.req()
	cust.noFrameBefore(frame{"type": "resume", "session_id": sid, "after_seq": 1 << 30, "req": marker}, func(f frame) bool {
		return f.str("re") != marker
	})
	h.say(amy, sid, "after the whisper")
	assert.Equal(t, "after the whisper", cust.expectEvent("message").str("text"))

	// Nothing the customer can read shows it.
	for _, e := range h.history(cust, sid) {
		assert.NotEqual(t, wseq, e.num("seq"))
		assert.NotEqual(t, secret, e.str("text"))
	}
	cust.send(frame{"type": "resume", "session_id": sid, "after_seq": 0, "req": "r0"})
	require.Equal(t, "session", cust.expectRe("r0").str("type"))
	for {
		f := nextReal(cust)
		require.Equal(t, "event", f.str("type"))
		assert.NotEqual(t, secret, f.obj("event").str("text"))
		if f.obj("event").str("text") == "after the whisper" {
			break
		}
	}
	ctok := h.customerToken("wh-1")
	paths := []string{
		"/v1/customer/sessions",
		"/v1/customer/sessions/" + sid + "/events",
		"/v1/customer/sessions/" + sid + "/events?limit=100",
		"/v1/customer/sessions/" + sid + "/transcript?format=txt",
		"/v1/customer/sessions/" + sid + "/transcript?format=json",
		"/v1/customer/sessions/" + sid + "/transcript?format=html",
	}
	for _, p := range paths {
		code, body, _ := h.get(p, ctok)
		assert.Equal(t, http.StatusOK, code, p)
		assert.NotContains(t, string(body), "WHISPER-7f3a", p)
		if strings.Contains(p, sid) {
			assert.Contains(t, string(body), "before the whisper", p)
			assert.Contains(t, string(body), "after the whisper", p)
		}
	}

	// Agents see it, marked as a whisper.
	for _, e := range h.history(bob, sid) {
		if e.num("seq") == wseq {
			assert.Equal(t, secret, e.str("text"))
			assert.Equal(t, true, e["whisper"])
		}
	}
	atok := h.login("Amy")
	code, page := h.getJSON("/v1/customer/sessions/"+sid+"/events", atok)
	require.Equal(t, http.StatusOK, code)
	found := false
	for _, e := range page.list("events") {
		if e.str("text") == secret {
			found = true
			assert.Equal(t, true, e["whisper"])
			assert.Equal(t, wseq, e.num("seq"))
		}
	}
	assert.True(t, found, "agent history lacks the whisper")

	code, body, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=txt", atok)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), "Amy (whisper, agents only): "+secret)

	code, doc := h.getJSON("/v1/customer/sessions/"+sid+"/transcript?format=json", atok)
	require.Equal(t, http.StatusOK, code)
	found = false
	for _, e := range doc.list("events") {
		if e.str("text") == secret {
			found = true
			assert.Equal(t, true, e["whisper"])
		}
	}
	assert.True(t, found, "agent JSON transcript lacks the whisper")

	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/transcript?format=html", atok)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `class="agent whisper"`)
	assert.Contains(t, string(body), secret)
}

// TestRestartRecovery checks that a clean restart keeps the queue order,
// the open sessions, the agents' loads and every acknowledged message.
func TestRestartRecovery(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.fastAgent("Amy", 2)
	amy.available()
	c0, _ := h.customer("rr-0")
	s0 := h.startSession(c0).str("id")
	assert.Equal(t, s0, assignedID(amy))
	joinedBy(c0)

	acked := map[string]int{}
	for i := range 3 {
		text := fmt.Sprintf("customer says %d", i)
		acked[text] = h.say(c0, "", text).num("seq")
		text = fmt.Sprintf("agent says %d", i)
		acked[text] = h.say(amy, s0, text).num("seq")
	}
	last := h.say(amy, s0, "last before restart").num("seq")
	acked["last before restart"] = last

	// Amy stops taking chats, so the next three customers wait.
	assert.Equal(t, "draining", h.statusOf(amy, "break").str("status"))
	ids := make([]string, 3)
	for i := range ids {
		c, _ := h.customer(fmt.Sprintf("rr-%d", i+1))
		s := h.startSession(c)
		assert.Equal(t, i+1, s.num("position"))
		ids[i] = s.str("id")
	}

	h.restart()

	// The queue is as it was.
	custs := make([]*client, 3)
	for i := range ids {
		var w frame
		custs[i], w = h.customer(fmt.Sprintf("rr-%d", i+1))
		open := w.obj("open_session")
		require.NotNil(t, open)
		assert.Equal(t, ids[i], open.str("id"))
		assert.Equal(t, "queued", open.str("state"))
		assert.Equal(t, i+1, open.num("position"), "customer %d", i+1)
	}

	// Amy still holds her chat.
	amy, aw := h.fastAgent("Amy", 2)
	assert.Equal(t, 1, aw.obj("agent").num("active"))
	assert.Equal(t, 3, aw.obj("queue").num("waiting"))
	require.Len(t, aw.list("sessions"), 1)
	assert.Equal(t, s0, aw.list("sessions")[0].str("id"))
	assert.Equal(t, "active", aw.list("sessions")[0].str("state"))
	assert.Equal(t, last, aw.list("sessions")[0].num("last_seq"))

	// Routing after the restart serves the oldest first, and counts Amy's
	// held chat against her capacity.
	st := amy.available()
	assert.Equal(t, 1, st.num("active"))
	assert.Equal(t, ids[0], assignedID(amy))
	assert.Equal(t, "Amy", joinedBy(custs[0]))
	bob, _ := h.fastAgent("Bob", 1)
	bob.available()
	assert.Equal(t, ids[1], assignedID(bob))
	assert.Equal(t, "Bob", joinedBy(custs[1]))
	custs[2].waitFor("queue position 1", func(f frame) bool {
		return f.str("type") == "queue" && f.num("position") == 1
	})
	h.waitActive("Amy", 2)

	// The active session resumes with every acknowledged message once.
	c0, w := h.customer("rr-0")
	open := w.obj("open_session")
	require.NotNil(t, open)
	assert.Equal(t, s0, open.str("id"))
	assert.Equal(t, "active", open.str("state"))
	assert.Equal(t, last, open.num("last_seq"))
	c0.send(frame{"type": "resume", "session_id": s0, "after_seq": 0, "req": "r"})
	require.Equal(t, "session", c0.expectRe("r").str("type"))
	var events []frame
	for len(events) < last {
		f := nextReal(c0)
		require.Equal(t, "event", f.str("type"), "frame %v", f)
		events = append(events, f.obj("event"))
	}
	for i, e := range events {
		assert.Equal(t, i+1, e.num("seq"), "gap-free sequence")
	}
	for text, seq := range acked {
		assert.Equal(t, 1, countText(events, text), text)
		assert.Equal(t, text, events[seq-1].str("text"))
	}
	c0.noFrameBefore(frame{"type": "sessions", "req": h.req()}, func(f frame) bool { return f.str("type") == "event" })

	// And the conversation goes on.
	sent := h.say(amy, s0, "back after the restart")
	assert.Equal(t, last+1, sent.num("seq"))
	assert.Equal(t, "back after the restart", c0.expectEvent("message").str("text"))
}

// TestCustomerWindow checks that customers list the sessions of the last
// 14 days plus any open one, while older sessions stay readable by id.
func TestCustomerWindow(t *testing.T) {
	h := newHarness(t)
	const day = 24 * time.Hour

	// Day 0: one customer starts a session and leaves it open; another
	// has a conversation that ends.
	waiter, _ := h.customer("win-open")
	openOld := h.startSession(waiter).str("id")
	c, _ := h.customer("win-1")
	old := h.startSession(c).str("id")
	h.say(c, "", "a question from long ago")
	c.send(frame{"type": "end", "req": "e1"})
	require.Equal(t, "ended", c.expectRe("e1").obj("event").str("kind"))

	// Day 2: another conversation.
	h.clock.advance(2 * day)
	c, _ = h.customer("win-1")
	recent := h.startSession(c).str("id")
	require.NotEqual(t, old, recent, "start after an end must open a new session")
	c.send(frame{"type": "end", "req": "e2"})
	require.Equal(t, "ended", c.expectRe("e2").obj("event").str("kind"))

	// Day 15: the first conversation ended 15 days ago.
	h.clock.advance(13 * day)
	c, _ = h.customer("win-1")
	c.send(frame{"type": "sessions", "req": "l"})
	assert.Equal(t, []string{recent}, sessionIDs(c.expectRe("l").list("sessions")))
	tok := h.customerToken("win-1")
	code, f := h.getJSON("/v1/customer/sessions", tok)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{recent}, sessionIDs(f.list("sessions")))

	// Its history is still there by id.
	events := h.history(c, old)
	assert.Equal(t, 1, countText(events, "a question from long ago"))
	assert.Equal(t, "ended", events[len(events)-1].str("kind"))
	code, f = h.getJSON("/v1/customer/sessions/"+old+"/events", tok)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1, countText(f.list("events"), "a question from long ago"))
	code, body, _ := h.get("/v1/customer/sessions/"+old+"/transcript?format=txt", tok)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), "a question from long ago")

	// An open session is listed whatever its age.
	waiter, w := h.customer("win-open")
	assert.Equal(t, openOld, w.obj("open_session").str("id"))
	waiter.send(frame{"type": "sessions", "req": "l"})
	list := waiter.expectRe("l").list("sessions")
	assert.Equal(t, []string{openOld}, sessionIDs(list))
	if len(list) == 1 {
		assert.Equal(t, "queued", list[0].str("state"))
	}
	code, f = h.getJSON("/v1/customer/sessions", h.customerToken("win-open"))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{openOld}, sessionIDs(f.list("sessions")))
}
