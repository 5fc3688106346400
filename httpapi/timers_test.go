package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
)

// These tests cover the rules that keep chats moving (issue 10): agent
// disconnect grace, the reply timeout, transfers and inactivity. The
// clock is injected and the timers are swept by the test
// (Hub.SweepTimers); the sweep loop is slowed to an hour so it never runs
// on its own.

// timersHarness starts a harness whose hub runs with the given timers.
func timersHarness(t *testing.T, set func(*chat.Config)) *harness {
	t.Helper()
	h := newHarness(t)
	h.hubConfig = func(c *chat.Config) {
		c.TimerInterval = time.Hour
		set(c)
	}
	h.restart()
	return h
}

// onDuty connects an agent and makes it available.
func (h *harness) onDuty(name string, capacity int) (*client, string) {
	h.t.Helper()
	c, w := h.fastAgent(name, capacity)
	c.available()
	return c, w.obj("agent").str("id")
}

// queueOrder returns the waiting session ids, next first.
func (h *harness) queueOrder() []string {
	h.t.Helper()
	ids, err := h.hub.QueueOrder()
	require.NoError(h.t, err)
	return ids
}

// waitAgentConns polls until the hub counts n agent connections.
func waitAgentConns(t *testing.T, h *harness, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return h.hub.Stats().AgentConns == n }, waitTime, time.Millisecond,
		"agent connections never reached %d", n)
}

// TestAgentGraceRequeuesAtOriginalPlace: an agent whose every connection
// has been gone for the grace goes offline, and the chat it was alone in
// goes back to the queue ahead of the customer who arrived after it, with
// agent_left reason disconnected. Before the grace is over nothing
// happens.
func TestAgentGraceRequeuesAtOriginalPlace(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) { c.AgentGrace = time.Minute })
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("grace-1")
	s1 := h.startSession(c1).str("id")
	require.Equal(t, s1, amy.expect("assigned").obj("session").str("id"))
	c1.expectEvent("agent_joined")
	h.clock.advance(time.Second)
	c2, _ := h.customer("grace-2")
	s2 := h.startSession(c2).str("id")
	require.Equal(t, []string{s2}, h.queueOrder())

	amy.conn.Close()
	waitAgentConns(t, h, 0)
	h.clock.advance(59 * time.Second)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers(), "the grace is not over")
	h.clock.advance(2 * time.Second)
	assert.Equal(t, chat.TimerSweep{Disconnected: 1, AgentsGone: 1}, h.hub.SweepTimers())

	left := c1.expectEvent("agent_left")
	assert.Equal(t, "disconnected", left.str("reason"))
	assert.Equal(t, "Amy", left.obj("from").str("name"))
	assert.Equal(t, []string{s1, s2}, h.queueOrder(), "back at its original place, ahead of the later customer")
	f := c2.waitFor("position 2", func(f frame) bool { return f.str("type") == "queue" && f.num("position") == 2 })
	assert.Equal(t, s2, f.str("session_id"))

	// Amy comes back: she is offline and has no chats.
	amy2, w := h.fastAgent("Amy", 1)
	assert.Equal(t, "offline", w.obj("agent").str("status"))
	assert.Empty(t, w.list("sessions"))
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers(), "nothing more to do")
	// Once available again she takes the oldest session, hers.
	amy2.available()
	assert.Equal(t, s1, amy2.expect("assigned").obj("session").str("id"))
}

// TestAgentGraceReconnectKeepsEverything: an agent who reconnects within
// the grace keeps its status and its chats, however long it stays after.
// In a chat with another agent, an agent whose grace is over leaves and
// the chat goes on with the other one.
func TestAgentGraceReconnectKeepsEverything(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) { c.AgentGrace = time.Minute })
	amy, _ := h.onDuty("Amy", 2)
	c1, _ := h.customer("keep-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")

	amy.conn.Close()
	waitAgentConns(t, h, 0)
	h.clock.advance(50 * time.Second)
	amy2, w := h.fastAgent("Amy", 2)
	assert.Equal(t, "available", w.obj("agent").str("status"))
	require.Len(t, w.list("sessions"), 1)
	h.clock.advance(time.Hour)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers())

	// Bob joins the chat; Amy goes away for good.
	bob, _ := h.onDuty("Bob", 2)
	require.Equal(t, "assigned", h.do(bob, frame{"type": "accept", "session_id": s1}).str("type"))
	amy2.conn.Close()
	waitAgentConns(t, h, 1)
	h.clock.advance(time.Minute)
	assert.Equal(t, chat.TimerSweep{Disconnected: 1, AgentsGone: 1}, h.hub.SweepTimers())
	left := bob.expectEvent("agent_left")
	assert.Equal(t, "disconnected", left.str("reason"))
	assert.Equal(t, "Amy", left.obj("from").str("name"))
	assert.Empty(t, h.queueOrder(), "Bob still has the chat")
	h.say(bob, s1, "Still here.")
	assert.Equal(t, "Still here.", c1.waitFor("Bob's message", func(f frame) bool {
		return f.str("type") == "event" && f.obj("event").str("kind") == "message"
	}).obj("event").str("text"))
}

// TestReplyTimeout: a chat whose agent has not written within the reply
// timeout goes back to the queue at its original place (agent_left
// reason unanswered) and is not offered to that agent again, though it
// may still accept it by id; an agent who replied keeps the chat.
func TestReplyTimeout(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) { c.ReplyTimeout = 2 * time.Minute })
	amy, _ := h.onDuty("Amy", 2)
	c1, _ := h.customer("reply-1")
	s1 := h.startSession(c1).str("id")
	require.Equal(t, s1, amy.expect("assigned").obj("session").str("id"))
	h.clock.advance(time.Minute)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers())
	amy.send(frame{"type": "send", "session_id": s1, "text": "psst", "whisper": true, "client_msg_id": h.msgID(), "req": "w"})
	require.Equal(t, "sent", amy.expectRe("w").str("type"))
	h.clock.advance(time.Minute)
	assert.Equal(t, chat.TimerSweep{Unanswered: 1}, h.hub.SweepTimers(), "a whisper is no reply")

	left := c1.expectEvent("agent_left")
	assert.Equal(t, "unanswered", left.str("reason"))
	assert.Equal(t, "unanswered", amy.expectEvent("agent_left").str("reason"))
	assert.Equal(t, []string{s1}, h.queueOrder())
	// Amy has two free slots and is available, yet the chat stays queued.
	amy.noFrameBefore(frame{"type": "queue_list", "req": "ql"}, func(f frame) bool { return f.str("type") == "assigned" })
	assert.Equal(t, []string{s1}, h.queueOrder())
	f := h.do(amy, frame{"type": "accept"})
	assert.Equal(t, "not_found", f.str("code"), "accept without an id does not offer it either: %v", f)

	// Bob gets it, and keeps it by replying.
	bob, _ := h.onDuty("Bob", 1)
	require.Equal(t, s1, bob.expect("assigned").obj("session").str("id"))
	h.say(bob, s1, "Hello, how can I help?")
	h.clock.advance(time.Hour)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers())

	// Amy may still take a chat she let go by its id (here: join it).
	assert.Equal(t, "assigned", h.do(amy, frame{"type": "accept", "session_id": s1}).str("type"))
}

// TestReplyTimeoutSecondCustomerRoutedToSameAgent: the exclusion is per
// session: the agent who let one chat go still gets the next one.
func TestReplyTimeoutExclusionIsPerSession(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) { c.ReplyTimeout = time.Minute })
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("per-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	h.clock.advance(time.Second)
	c2, _ := h.customer("per-2")
	s2 := h.startSession(c2).str("id")
	h.clock.advance(time.Minute)
	assert.Equal(t, chat.TimerSweep{Unanswered: 1}, h.hub.SweepTimers())
	// s1 is back ahead of s2, but Amy's free slot goes to s2.
	assert.Equal(t, s2, amy.expect("assigned").obj("session").str("id"))
	assert.Equal(t, []string{s1}, h.queueOrder())
}

// TestInactivity: an active chat whose customer has not answered an
// agent's message gets an inactivity_warning from system with ends_at at
// the warning, and ends with reason inactivity at the timeout; a
// customer message resets the clock.
func TestInactivity(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) {
		c.InactivityWarning, c.InactivityTimeout = 5*time.Minute, 10*time.Minute
	})
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("idle-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	h.clock.advance(time.Hour)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers(), "nobody waits for the customer yet")

	sent := h.say(amy, s1, "Anything else?")
	at, err := time.Parse(time.RFC3339, sent.str("at"))
	require.NoError(t, err)
	h.clock.advance(5*time.Minute - time.Second)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers())
	h.clock.advance(time.Second)
	assert.Equal(t, chat.TimerSweep{Warned: 1}, h.hub.SweepTimers())
	warn := c1.expectEvent("inactivity_warning")
	assert.Equal(t, "system", warn.obj("from").str("role"))
	endsAt, err := time.Parse(time.RFC3339, warn.str("ends_at"))
	require.NoError(t, err)
	assert.Equal(t, at.Add(10*time.Minute), endsAt)
	assert.Equal(t, warn.str("ends_at"), amy.expectEvent("inactivity_warning").str("ends_at"))

	// The customer answers: the clock starts again at the agent's next
	// message.
	h.say(c1, "", "Wait, one more thing")
	h.clock.advance(time.Hour)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers())
	h.say(amy, s1, "Sure?")
	h.clock.advance(6 * time.Minute)
	h.say(amy, s1, "Are you still there?") // agents' messages do not move the clock
	h.clock.advance(4 * time.Minute)
	assert.Equal(t, chat.TimerSweep{Warned: 1}, h.hub.SweepTimers())
	assert.Equal(t, chat.TimerSweep{Ended: 1}, h.hub.SweepTimers())
	ended := c1.expectEvent("ended")
	assert.Equal(t, "inactivity", ended.str("reason"))
	assert.Equal(t, "system", ended.obj("from").str("role"))
	amy.expectEvent("ended")
	assert.Zero(t, h.hub.Stats().OpenSessions)
}

// TestInactivityOff: a zero timeout turns inactivity off.
func TestInactivityOff(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) { c.InactivityWarning = 5 * time.Minute })
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("off-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	h.say(amy, s1, "Hello?")
	h.clock.advance(24 * time.Hour)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers())
	assert.Equal(t, 1, h.hub.Stats().OpenSessions)
}

// TestTimersRecovered: after a restart the timers are derived again from
// what is stored: the inactivity clock from the agent's unanswered
// message, the reply timeout from the agent's join, and the grace of
// agents holding chats starts at the restart.
func TestTimersRecovered(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) {
		c.AgentGrace = time.Hour
		c.ReplyTimeout = 2 * time.Minute
		c.InactivityWarning, c.InactivityTimeout = 5*time.Minute, 10*time.Minute
	})
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("rec-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	h.say(amy, s1, "Hi, what can I do?")
	bob, _ := h.onDuty("Bob", 1)
	c2, _ := h.customer("rec-2")
	s2 := h.startSession(c2).str("id")
	bob.expect("assigned")
	h.clock.advance(time.Minute)

	h.restart()
	amy, _ = h.fastAgent("Amy", 1)
	bob, _ = h.fastAgent("Bob", 1)
	c1, _ = h.customer("rec-1")
	c2, _ = h.customer("rec-2")
	h.clock.advance(time.Minute)
	assert.Equal(t, chat.TimerSweep{Unanswered: 1}, h.hub.SweepTimers(), "Bob never answered rec-2")
	assert.Equal(t, "unanswered", c2.expectEvent("agent_left").str("reason"))
	assert.Equal(t, []string{s2}, h.queueOrder())
	h.clock.advance(3 * time.Minute)
	assert.Equal(t, chat.TimerSweep{Warned: 1}, h.hub.SweepTimers())
	c1.expectEvent("inactivity_warning")
	h.clock.advance(5 * time.Minute)
	assert.Equal(t, chat.TimerSweep{Ended: 1}, h.hub.SweepTimers())
	assert.Equal(t, "inactivity", c1.expectEvent("ended").str("reason"))

	// A warning already sent before a restart is not sent again. Amy
	// gets rec-2, which only Bob is excluded from.
	amy.available()
	require.Equal(t, s2, amy.expect("assigned").obj("session").str("id"))
	h.say(amy, s2, "Hello?")
	h.clock.advance(5 * time.Minute)
	assert.Equal(t, chat.TimerSweep{Warned: 1}, h.hub.SweepTimers())
	h.restart()
	amy, _ = h.fastAgent("Amy", 1)
	h.clock.advance(4 * time.Minute)
	assert.Equal(t, chat.TimerSweep{}, h.hub.SweepTimers())
	h.clock.advance(time.Minute)
	assert.Equal(t, chat.TimerSweep{Ended: 1}, h.hub.SweepTimers())
	_ = bob
	_ = amy
}

// TestAgentGraceAfterRestart: after a restart (a crash, say) nobody is
// connected: the chats of an agent who does not come back within the
// grace go back to the queue, so they do not stay with it forever.
func TestAgentGraceAfterRestart(t *testing.T) {
	h := timersHarness(t, func(c *chat.Config) { c.AgentGrace = time.Minute })
	amy, _ := h.onDuty("Amy", 1)
	c1, _ := h.customer("crash-1")
	s1 := h.startSession(c1).str("id")
	amy.expect("assigned")
	h.restart()
	c1, _ = h.customer("crash-1")
	h.clock.advance(time.Minute)
	assert.Equal(t, chat.TimerSweep{Disconnected: 1, AgentsGone: 1}, h.hub.SweepTimers())
	assert.Equal(t, "disconnected", c1.expectEvent("agent_left").str("reason"))
	assert.Equal(t, []string{s1}, h.queueOrder())
}
