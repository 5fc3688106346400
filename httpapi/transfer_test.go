package httpapi_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// eventKinds returns the kinds of the event frames of a list, in order.
func eventKinds(fs []frame) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.str("kind"))
	}
	return out
}

// TestTransferToAgent: an agent hands a chat to another agent with a
// note. The answer is the transferred event; the customer sees
// transferred (to the receiving agent), the transferring agent leaving
// and the receiving one joining, never the note; the receiving agent gets
// assigned with the note among the events; the transferring agent's slot
// is free again.
func TestTransferToAgent(t *testing.T) {
	h := newHarness(t)
	amy, amyID := h.onDuty("Amy", 1)
	c1, _ := h.customer("tr-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	c1.expectEvent("agent_joined")
	bob, bobID := h.onDuty("Bob", 2)

	f := h.do(amy, frame{"type": "transfer", "session_id": s1, "to_agent_id": bobID, "note": "VIP, wants a refund"})
	require.Equal(t, "event", f.str("type"), "transfer answered %v", f)
	ev := f.obj("event")
	assert.Equal(t, "transferred", ev.str("kind"))
	assert.Equal(t, amyID, ev.obj("from").str("id"))
	assert.Equal(t, frame{"role": "agent", "id": bobID, "name": "Bob"}, ev.obj("to"))
	assert.Equal(t, "transferred", amy.expectEvent("agent_left").str("reason"))

	as := bob.expect("assigned")
	assert.Equal(t, s1, as.obj("session").str("id"))
	evs := as.list("events")
	kinds := eventKinds(evs)
	require.GreaterOrEqual(t, len(kinds), 4)
	assert.Equal(t, []string{"message", "transferred", "agent_left", "agent_joined"}, kinds[len(kinds)-4:])
	note := evs[len(evs)-4]
	assert.Equal(t, "VIP, wants a refund", note.str("text"))
	assert.Equal(t, true, note["whisper"])

	// The customer sees, in this order, the transfer, Amy leaving and Bob
	// joining, and never the note.
	var seen []frame
	for len(seen) < 3 {
		f := c1.next()
		if f.str("type") != "event" {
			continue
		}
		require.NotEqual(t, "message", f.obj("event").str("kind"), "the customer got the note: %v", f)
		seen = append(seen, f.obj("event"))
	}
	assert.Equal(t, []string{"transferred", "agent_left", "agent_joined"}, eventKinds(seen))
	assert.Equal(t, "Bob", seen[0].obj("to").str("name"))
	assert.Equal(t, "Bob", seen[2].obj("from").str("name"))
	hist := h.do(c1, frame{"type": "history", "session_id": s1})
	for _, e := range hist.list("events") {
		assert.NotEqual(t, "VIP, wants a refund", e.str("text"), "the note is in the customer's history")
	}

	// Bob writes to the customer; Amy's slot is free, as agents shows.
	h.say(bob, s1, "Hi, I'm taking over.")
	list := h.do(amy, frame{"type": "agents"})
	require.Equal(t, "agents", list.str("type"))
	agents := list.list("agents")
	require.Len(t, agents, 2)
	assert.Equal(t, frame{"id": amyID, "name": "Amy", "status": "available", "active": float64(0), "capacity": float64(1)}, agents[0])
	assert.Equal(t, frame{"id": bobID, "name": "Bob", "status": "available", "active": float64(1), "capacity": float64(2)}, agents[1])
}

// TestTransferRefused: a transfer to an agent without a free slot, one
// not available or an unknown one is refused and changes nothing.
func TestTransferRefused(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("ref-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	bob, bobID := h.onDuty("Bob", 1)
	c2, _ := h.customer("ref-2")
	h.startSession(c2)
	bob.expect("assigned")
	_, cyID := h.fastAgent("Cy", 1) // connected, offline
	cyAgentID := cyID.obj("agent").str("id")

	cases := []struct {
		name, to, code string
	}{
		{"no free slot", bobID, "conflict"},
		{"not available", cyAgentID, "conflict"},
		{"unknown agent", parley.NewID(h.clock.now()), "not_found"},
		{"not an id", "nobody", "not_found"},
	}
	for _, c := range cases {
		f := h.do(amy, frame{"type": "transfer", "session_id": s1, "to_agent_id": c.to})
		assert.Equal(t, "error", f.str("type"), c.name)
		assert.Equal(t, c.code, f.str("code"), "%s: %v", c.name, f)
	}
	// Bob, not in the session, may not transfer it.
	f := h.do(bob, frame{"type": "transfer", "session_id": s1})
	assert.Equal(t, "forbidden", f.str("code"))
	// Nothing changed: Amy still has the chat and can write in it.
	h.say(amy, s1, "Still me.")
	ag := h.do(amy, frame{"type": "agents"}).list("agents")
	require.Len(t, ag, 3)
	assert.Equal(t, 1, ag[1].num("active"), "Bob holds only his own chat: %v", ag[1])
	assert.Equal(t, 0, ag[2].num("active"), "no slot of Cy's was kept: %v", ag[2])
}

// TestTransferBackToQueue: without to_agent_id the chat goes back to the
// queue at its original place, ahead of a customer who came later
// ("to":null), and routing does not offer it straight back to the agent
// who handed it back.
func TestTransferBackToQueue(t *testing.T) {
	h := newHarness(t)
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("back-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	h.clock.advance(1e9)
	c2, _ := h.customer("back-2")
	s2 := h.startSession(c2).str("id")

	f := h.do(amy, frame{"type": "transfer", "session_id": s1, "note": "Needs billing"})
	require.Equal(t, "event", f.str("type"), "transfer answered %v", f)
	ev := f.obj("event")
	assert.Equal(t, "transferred", ev.str("kind"))
	to, present := ev["to"]
	assert.True(t, present, "to is there, as null")
	assert.Nil(t, to)
	tr := c1.expectEvent("transferred")
	_, present = tr["to"]
	assert.True(t, present)
	assert.Equal(t, "transferred", c1.expectEvent("agent_left").str("reason"))

	// Amy's slot went to the next customer, not back to s1, which waits
	// first in line.
	assert.Equal(t, s2, amy.expect("assigned").obj("session").str("id"))
	assert.Equal(t, []string{s1}, h.queueOrder())
	bob, _ := h.onDuty("Bob", 1)
	as := bob.expect("assigned")
	assert.Equal(t, s1, as.obj("session").str("id"))
	evs := as.list("events")
	assert.Contains(t, eventKinds(evs), "transferred")
	var notes []string
	for _, e := range evs {
		if e["whisper"] == true {
			notes = append(notes, e.str("text"))
		}
	}
	assert.Equal(t, []string{"Needs billing"}, notes)
}

// TestTransferCommitFailureFreesSlot: a transfer whose commit fails is
// answered with the error and changes nothing: the slot taken for the
// receiving agent is free again and the transferring agent keeps the
// chat.
func TestTransferCommitFailureFreesSlot(t *testing.T) {
	var failing atomic.Bool
	h := newFaultHarness(t, func() error {
		if failing.Load() {
			return errors.New("disk on fire")
		}
		return nil
	})
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("fail-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	bob, bobID := h.onDuty("Bob", 1)

	failing.Store(true)
	f := h.do(amy, frame{"type": "transfer", "session_id": s1, "to_agent_id": bobID, "note": "lost"})
	failing.Store(false)
	require.Equal(t, "error", f.str("type"), "%v", f)

	ag := h.do(amy, frame{"type": "agents"}).list("agents")
	require.Len(t, ag, 2)
	assert.Equal(t, 1, ag[0].num("active"), "Amy keeps the chat: %v", ag[0])
	assert.Equal(t, 0, ag[1].num("active"), "Bob's slot is free again: %v", ag[1])
	h.say(amy, s1, "Still with you.")
	c2, _ := h.customer("fail-2")
	s2 := h.startSession(c2).str("id")
	assert.Equal(t, s2, bob.expect("assigned").obj("session").str("id"))
}
