package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
)

// ---- helpers shared by routing_test.go and resume_test.go ----

// req returns a request id unique within the harness, so replies of
// different commands can never be confused.
func (h *harness) req() string { return fmt.Sprintf("r-%d", h.seq.Add(1)) }

// do sends f with a fresh request id and returns the server's reply to it,
// whatever its type (errors included).
func (h *harness) do(c *client, f frame) frame {
	c.t.Helper()
	r := h.req()
	f["req"] = r
	c.send(f)
	return c.expectRe(r)
}

// fastAgent is h.agent for agents with a cheap password hash: it stores
// the account directly with bcrypt's minimum cost, because the default cost
// makes every agent add and login take most of a second under -race. The
// running hub learns of the agent when it connects, as after any offline
// agent add. Reconnecting an existing agent only signs in again.
func (h *harness) fastAgent(name string, capacity int) (*client, frame) {
	h.t.Helper()
	h.putAgent(name, capacity)
	return h.agentConn(h.login(name))
}

// startSession sends start on a customer connection and returns the
// session object of the reply.
func (h *harness) startSession(c *client) frame {
	c.t.Helper()
	f := h.do(c, frame{"type": "start"})
	require.Equal(c.t, "session", f.str("type"), "start answered %v", f)
	return f.obj("session")
}

// say sends a message and waits for its acknowledgement. sessionID is
// ignored by customer connections (they write to their open session).
func (h *harness) say(c *client, sessionID, text string) frame {
	c.t.Helper()
	f := frame{"type": "send", "text": text, "client_msg_id": h.msgID()}
	if sessionID != "" {
		f["session_id"] = sessionID
	}
	sent := h.do(c, f)
	require.Equal(c.t, "sent", sent.str("type"), "send answered %v", sent)
	return sent
}

// errCode sends f and returns the error code of the reply, failing if the
// reply is not an error.
func (h *harness) errCode(c *client, f frame) string {
	c.t.Helper()
	r := h.do(c, f)
	require.Equal(c.t, "error", r.str("type"), "expected an error, got %v", r)
	return r.str("code")
}

// joinedBy waits for the next agent_joined event on a customer connection
// and returns the joining agent's name.
func joinedBy(c *client) string {
	c.t.Helper()
	return c.expectEvent("agent_joined").obj("from").str("name")
}

// assignedID waits for the next assigned frame and returns its session id.
func assignedID(c *client) string {
	c.t.Helper()
	return c.expect("assigned").obj("session").str("id")
}

// requireActive checks that the dispatcher counts want chats for the agent.
// It does not poll: call it after a frame that proves the change, such as
// the ended event or the leave answer. A session posts the release of its
// agents to the dispatcher before anyone hears of the end or the leave, and
// the admin's agent list is answered by the dispatcher after every request
// posted before it, so the release is already counted.
func (h *harness) requireActive(name string, want int) {
	h.t.Helper()
	email := strings.ToLower(name) + "@example.com"
	rows, err := h.admin.ListAgents(context.Background())
	require.NoError(h.t, err)
	for _, r := range rows {
		if r.Email == email {
			require.Equal(h.t, want, r.Active, "agent %s holds %d chats, want %d", name, r.Active, want)
			return
		}
	}
	h.t.Fatalf("no agent %s", name)
}

// waitActive is requireActive, for older callers.
func (h *harness) waitActive(name string, want int) { h.requireActive(name, want) }

// statusOf sets an agent's status and returns the agent_status reply.
func (h *harness) statusOf(c *client, status string) frame {
	c.t.Helper()
	f := h.do(c, frame{"type": "status", "status": status})
	require.Equal(c.t, "agent_status", f.str("type"), "status answered %v", f)
	return f
}

// ---- routing ----

// TestRoutingFIFO checks that customers are served in the order they
// entered the queue, whoever becomes free.
func TestRoutingFIFO(t *testing.T) {
	h := newHarness(t)
	custs := make([]*client, 4)
	ids := make([]string, 4)
	for i := range custs {
		custs[i], _ = h.customer(fmt.Sprintf("fifo-%d", i))
		// Each start is answered before the next is sent, so the arrival
		// order is known.
		s := h.startSession(custs[i])
		assert.Equal(t, "queued", s.str("state"))
		assert.Equal(t, i+1, s.num("position"), "customer %d", i)
		ids[i] = s.str("id")
	}

	// Agents of capacity 1 become available one at a time; each takes the
	// oldest session still waiting.
	for i, name := range []string{"Ann", "Ben", "Cid"} {
		ag, w := h.fastAgent(name, 1)
		assert.Equal(t, 4-i, w.obj("queue").num("waiting"), "queue seen by %s", name)
		ag.available()
		as := ag.expect("assigned")
		assert.Equal(t, ids[i], as.obj("session").str("id"), "%s got the wrong session", name)
		assert.Equal(t, name, joinedBy(custs[i]))
	}

	// The last customer is now first in line.
	pos := custs[3].waitFor("queue position 1", func(f frame) bool {
		return f.str("type") == "queue" && f.str("session_id") == ids[3] && f.num("position") == 1
	})
	assert.Contains(t, pos, "ewt_s")

	// A fourth agent gets it.
	dan, _ := h.fastAgent("Dan", 1)
	dan.available()
	assert.Equal(t, ids[3], assignedID(dan))
	assert.Equal(t, "Dan", joinedBy(custs[3]))
}

// TestRoutingLongestFree checks that the agent whose slot has been free the
// longest gets the next chat.
func TestRoutingLongestFree(t *testing.T) {
	t.Run("finishing earlier puts an agent earlier in line", func(t *testing.T) {
		h := newHarness(t)
		a, _ := h.fastAgent("Amy", 1)
		b, _ := h.fastAgent("Bob", 1)
		a.available() // A's slot is free first
		b.available()

		c1, _ := h.customer("lf-1")
		s1 := h.startSession(c1).str("id")
		assert.Equal(t, "Amy", joinedBy(c1), "the agent free the longest gets the first chat")
		assert.Equal(t, s1, assignedID(a))

		c2, _ := h.customer("lf-2")
		s2 := h.startSession(c2).str("id")
		assert.Equal(t, "Bob", joinedBy(c2))
		assert.Equal(t, s2, assignedID(b))

		// B finishes first, then A.
		end := h.do(b, frame{"type": "end", "session_id": s2})
		require.Equal(t, "ended", end.obj("event").str("kind"), "end answered %v", end)
		h.requireActive("Bob", 0)
		end = h.do(a, frame{"type": "end", "session_id": s1})
		require.Equal(t, "ended", end.obj("event").str("kind"), "end answered %v", end)
		h.requireActive("Amy", 0)

		c3, _ := h.customer("lf-3")
		s3 := h.startSession(c3).str("id")
		assert.Equal(t, "Bob", joinedBy(c3), "B was freed earlier, so B is next")
		assert.Equal(t, s3, assignedID(b))

		c4, _ := h.customer("lf-4")
		s4 := h.startSession(c4).str("id")
		assert.Equal(t, "Amy", joinedBy(c4))
		assert.Equal(t, s4, assignedID(a))
	})

	t.Run("a second slot free since earlier beats a later agent", func(t *testing.T) {
		h := newHarness(t)
		a, _ := h.fastAgent("Amy", 2)
		b, _ := h.fastAgent("Bob", 1)
		a.available() // both of A's slots are free from now
		b.available() // B's only slot is free from later

		want := []string{"Amy", "Amy", "Bob"}
		for i, name := range want {
			c, _ := h.customer(fmt.Sprintf("slot-%d", i))
			h.startSession(c)
			assert.Equal(t, name, joinedBy(c), "chat %d", i+1)
		}
		a.expect("assigned")
		a.expect("assigned")
		b.expect("assigned")
	})
}

// TestRoutingCapacity checks that an agent never gets more chats than its
// capacity, and that raising the capacity live routes at once.
func TestRoutingCapacity(t *testing.T) {
	h := newHarness(t)
	custs := make([]*client, 3)
	ids := make([]string, 3)
	for i := range custs {
		custs[i], _ = h.customer(fmt.Sprintf("cap-%d", i))
		ids[i] = h.startSession(custs[i]).str("id")
	}

	ag, w := h.fastAgent("Amy", 2)
	assert.Equal(t, 2, w.obj("agent").num("capacity"))
	ag.available()
	got := []string{assignedID(ag), assignedID(ag)}
	assert.Equal(t, ids[:2], got, "the two oldest sessions go to the agent, in queue order")

	// The third waits, first in line.
	custs[2].waitFor("queue position 1", func(f frame) bool {
		return f.str("type") == "queue" && f.num("position") == 1
	})
	st := h.statusOf(ag, "available")
	assert.Equal(t, 2, st.num("active"))
	assert.Equal(t, 2, st.num("capacity"))
	custs[2].send(frame{"type": "sessions", "req": "l"})
	list := custs[2].expectRe("l").list("sessions")
	require.Len(t, list, 1)
	assert.Equal(t, "queued", list[0].str("state"))
	assert.Equal(t, 1, list[0].num("position"))

	// Ending one chat frees a slot for the third.
	end := h.do(ag, frame{"type": "end", "session_id": ids[0]})
	require.Equal(t, "ended", end.obj("event").str("kind"), "end answered %v", end)
	assert.Equal(t, ids[2], assignedID(ag))
	assert.Equal(t, "Amy", joinedBy(custs[2]))

	// A fourth customer waits while the agent is full...
	c4, _ := h.customer("cap-3")
	s4 := h.startSession(c4)
	assert.Equal(t, "queued", s4.str("state"))
	assert.Equal(t, 1, s4.num("position"))
	st = h.statusOf(ag, "available")
	assert.Equal(t, 2, st.num("active"))

	// ...until an operator raises the capacity (parley agent set).
	three := 3
	row, err := h.admin.SetAgent(context.Background(), admin.AgentSetArgs{Email: "amy@example.com", Capacity: &three})
	require.NoError(t, err)
	assert.Equal(t, 3, row.Capacity)
	push := ag.waitFor("agent_status capacity 3", func(f frame) bool {
		return f.str("type") == "agent_status" && f.num("capacity") == 3
	})
	assert.Equal(t, "available", push.str("status"))
	assert.Equal(t, s4.str("id"), assignedID(ag))
	assert.Equal(t, "Amy", joinedBy(c4))
	h.requireActive("Amy", 3)
}

// TestRoutingAssignedInQueueOrder makes an agent with many free slots
// available while many sessions wait, and checks that the assigned pushes
// arrive in queue order and that assigned_at follows that order.
func TestRoutingAssignedInQueueOrder(t *testing.T) {
	h := newHarness(t)
	const n = 6
	ids := make([]string, n)
	for i := range ids {
		c, _ := h.customer(fmt.Sprintf("order-%d", i))
		s := h.startSession(c)
		require.Equal(t, i+1, s.num("position"), "customer %d", i)
		ids[i] = s.str("id")
	}
	ag, _ := h.fastAgent("Amy", n)
	ag.available()
	got := make([]string, n)
	at := make([]time.Time, n)
	for i := range got {
		s := ag.expect("assigned").obj("session")
		got[i] = s.str("id")
		var err error
		at[i], err = time.Parse(time.RFC3339Nano, s.str("assigned_at"))
		require.NoError(t, err, "assigned_at of %v", s)
	}
	require.Equal(t, ids, got, "assigned pushes arrive in queue order")
	for i := 1; i < n; i++ {
		assert.False(t, at[i].Before(at[i-1]), "assigned_at %d (%v) is before %d (%v)", i, at[i], i-1, at[i-1])
	}
}

// TestRoutingDraining checks break, draining and offline: none of them
// gets new chats, and a draining agent turns to break when its last chat
// ends.
func TestRoutingDraining(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.fastAgent("Amy", 2)
	amy.available()
	c1, _ := h.customer("dr-1")
	s1 := h.startSession(c1).str("id")
	assert.Equal(t, s1, assignedID(amy))

	// Break with nothing open is immediate.
	cid, _ := h.fastAgent("Cid", 1)
	cid.available()
	st := h.statusOf(cid, "break")
	assert.Equal(t, "break", st.str("status"))
	assert.Equal(t, 0, st.num("active"))

	// An agent that was available and went offline.
	dan, _ := h.fastAgent("Dan", 1)
	dan.available()
	st = h.statusOf(dan, "offline")
	assert.Equal(t, "offline", st.str("status"))

	// Break with a chat open: draining.
	st = h.statusOf(amy, "break")
	assert.Equal(t, "draining", st.str("status"))
	assert.Equal(t, 1, st.num("active"))
	assert.Equal(t, 2, st.num("capacity"))

	// A new customer waits; Amy, though she has a free slot, gets nothing
	// and cannot accept.
	c2, _ := h.customer("dr-2")
	s2 := h.startSession(c2)
	assert.Equal(t, "queued", s2.str("state"))
	assert.Equal(t, 1, s2.num("position"))
	assert.Equal(t, "conflict", h.errCode(amy, frame{"type": "accept"}))
	h.requireActive("Amy", 1)

	// The chat ends: Amy is told she is on break now.
	c1.send(frame{"type": "end", "req": "e"})
	assert.Equal(t, "ended", c1.expectRe("e").obj("event").str("kind"))
	brk := amy.waitFor("agent_status break", func(f frame) bool {
		return f.str("type") == "agent_status" && f.str("status") != "draining"
	})
	assert.Equal(t, "break", brk.str("status"))
	assert.Equal(t, 0, brk.num("active"))
	assert.Empty(t, brk.str("re"), "the switch to break is a push, not a reply")

	// Amy, Cid and Dan all have slots free since before Bob's; had any of
	// them been routable they would have taken the waiting chat the moment
	// it was queued (or Amy's ended), before Bob came. Bob gets it.
	bob, _ := h.fastAgent("Bob", 1)
	bob.available()
	assert.Equal(t, s2.str("id"), assignedID(bob))
	assert.Equal(t, "Bob", joinedBy(c2))

	// And again with a fresh customer, now that everyone is settled.
	c3, _ := h.customer("dr-3")
	s3 := h.startSession(c3).str("id")
	eve, _ := h.fastAgent("Eve", 1)
	eve.available()
	assert.Equal(t, s3, assignedID(eve))
	for _, a := range []*client{amy, cid, dan} {
		a.noFrameBefore(frame{"type": "history", "session_id": s1, "req": h.req()}, func(f frame) bool {
			return f.str("type") == "assigned"
		})
	}
	h.requireActive("Amy", 0)
	h.requireActive("Cid", 0)
	h.requireActive("Dan", 0)
}

// TestManualAccept checks accept by id of an active session (joining as a
// second agent and re-entering after leaving), leave, the conflicts, and a
// session whose last agent leaves going back to the queue.
func TestManualAccept(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.fastAgent("Amy", 2)
	amy.available()
	cust, _ := h.customer("ma-1")
	sid := h.startSession(cust).str("id")
	assert.Equal(t, sid, assignedID(amy))
	assert.Equal(t, "Amy", joinedBy(cust))

	// Nothing waits.
	assert.Equal(t, "not_found", h.errCode(amy, frame{"type": "accept"}))
	// Amy is in it already.
	assert.Equal(t, "conflict", h.errCode(amy, frame{"type": "accept", "session_id": sid}))

	// A second agent joins the active session by id.
	bob, _ := h.fastAgent("Bob", 1)
	bob.available()
	as := h.do(bob, frame{"type": "accept", "session_id": sid})
	require.Equal(t, "assigned", as.str("type"), "accept answered %v", as)
	assert.Equal(t, sid, as.obj("session").str("id"))
	assert.Equal(t, "active", as.obj("session").str("state"))
	assert.Len(t, as.obj("session").list("agents"), 2)
	assert.Equal(t, "Bob", joinedBy(cust))
	assert.Equal(t, "Bob", amy.expectEvent("agent_joined").obj("from").str("name"))

	// Bob is at capacity: no more accepts.
	assert.Equal(t, "conflict", h.errCode(bob, frame{"type": "accept"}))
	assert.Equal(t, "conflict", h.errCode(bob, frame{"type": "accept", "session_id": sid}))

	// Both agents receive the customer's messages, and each other's.
	h.say(cust, "", "two of you?")
	assert.Equal(t, "two of you?", amy.expectEvent("message").str("text"))
	assert.Equal(t, "two of you?", bob.expectEvent("message").str("text"))
	h.say(amy, sid, "yes, Bob is here too")
	assert.Equal(t, "yes, Bob is here too", bob.expectEvent("message").str("text"))
	cust.waitFor("Amy's message", func(f frame) bool {
		return f.str("type") == "event" && f.obj("event").str("text") == "yes, Bob is here too"
	})

	// Amy leaves: everyone sees agent_left and the session stays open.
	left := h.do(amy, frame{"type": "leave", "session_id": sid})
	require.Equal(t, "event", left.str("type"), "leave answered %v", left)
	assert.Equal(t, "agent_left", left.obj("event").str("kind"))
	assert.Equal(t, "Amy", cust.expectEvent("agent_left").obj("from").str("name"))
	assert.Equal(t, "Amy", bob.expectEvent("agent_left").obj("from").str("name"))
	h.requireActive("Amy", 0)
	h.say(cust, "", "still there?")
	assert.Equal(t, "still there?", bob.expectEvent("message").str("text"))
	// Bob has seen the message, so anything for Amy was queued before her
	// marker's answer.
	amy.noFrameBefore(frame{"type": "history", "session_id": sid, "req": h.req()}, func(f frame) bool {
		return f.str("type") == "event"
	})
	assert.Equal(t, "forbidden", h.errCode(amy, frame{"type": "send", "session_id": sid, "text": "x", "client_msg_id": h.msgID()}))
	cust.send(frame{"type": "sessions", "req": "l1"})
	assert.Equal(t, "active", cust.expectRe("l1").list("sessions")[0].str("state"))

	// Amy re-enters by id.
	as = h.do(amy, frame{"type": "accept", "session_id": sid})
	require.Equal(t, "assigned", as.str("type"), "accept answered %v", as)
	assert.Equal(t, "Amy", joinedBy(cust))
	h.say(cust, "", "welcome back")
	assert.Equal(t, "welcome back", amy.expectEvent("message").str("text"))

	// Both leave; with both on break there is nobody to route to, so the
	// session waits in the queue, at its original place.
	require.Equal(t, "agent_left", h.do(amy, frame{"type": "leave", "session_id": sid}).obj("event").str("kind"))
	h.requireActive("Amy", 0)
	assert.Equal(t, "break", h.statusOf(amy, "break").str("status"))
	assert.Equal(t, "draining", h.statusOf(bob, "break").str("status"))
	// Bob's slot is released before anyone hears of the leave, so his
	// switch to break may come before or after the leave's answer.
	bob.send(frame{"type": "leave", "session_id": sid, "req": "bob-leaves"})
	var leftOK, onBreak bool
	for !leftOK || !onBreak {
		f := bob.next()
		switch {
		case f.str("re") == "bob-leaves":
			require.Equal(t, "agent_left", f.obj("event").str("kind"), "leave answered %v", f)
			leftOK = true
		case f.str("type") == "agent_status" && f.str("status") == "break":
			onBreak = true
		}
	}
	cust.waitFor("Bob's agent_left", func(f frame) bool {
		return f.str("type") == "event" && f.obj("event").str("kind") == "agent_left" && f.obj("event").obj("from").str("name") == "Bob"
	})
	again := h.startSession(cust)
	assert.Equal(t, sid, again.str("id"))
	assert.Equal(t, "queued", again.str("state"))
	assert.Empty(t, again.list("agents"))
	assert.Equal(t, 1, again.num("position"))

	// Routed again as soon as someone is available.
	dan, _ := h.fastAgent("Dan", 1)
	dan.available()
	as = dan.expect("assigned")
	assert.Equal(t, sid, as.obj("session").str("id"))
	assert.Equal(t, "active", as.obj("session").str("state"))
	assert.Equal(t, "Dan", joinedBy(cust))
}

// TestManualAcceptQueued checks accept of a waiting session: the oldest,
// or a given one that is not the oldest. The agent is connected but not
// available, so routing leaves the queue alone and it picks by hand.
func TestManualAcceptQueued(t *testing.T) {
	h := newHarness(t)
	custs := make([]*client, 3)
	ids := make([]string, 3)
	for i := range custs {
		custs[i], _ = h.customer(fmt.Sprintf("maq-%d", i))
		ids[i] = h.startSession(custs[i]).str("id")
	}
	amy, _ := h.fastAgent("Amy", 2)

	// The oldest.
	as := h.do(amy, frame{"type": "accept"})
	require.Equal(t, "assigned", as.str("type"), "accept answered %v", as)
	assert.Equal(t, ids[0], as.obj("session").str("id"))
	assert.Equal(t, "Amy", joinedBy(custs[0]))

	// A given one, not the oldest.
	as = h.do(amy, frame{"type": "accept", "session_id": ids[2]})
	require.Equal(t, "assigned", as.str("type"), "accept answered %v", as)
	assert.Equal(t, ids[2], as.obj("session").str("id"))
	assert.Equal(t, "Amy", joinedBy(custs[2]))

	// The one left is now first.
	custs[1].waitFor("queue position 1", func(f frame) bool {
		return f.str("type") == "queue" && f.num("position") == 1
	})
	// At capacity.
	assert.Equal(t, "conflict", h.errCode(amy, frame{"type": "accept"}))

	// Draining for a break: no picking either, even with a free slot.
	custs[0].send(frame{"type": "end"})
	custs[0].expectEvent("ended")
	h.requireActive("Amy", 1)
	assert.Equal(t, "draining", h.statusOf(amy, "break").str("status"))
	assert.Equal(t, "conflict", h.errCode(amy, frame{"type": "accept"}))
}
