package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// enqueueIn queues a session in a named queue.
func enqueueIn(m *Machine, queue, id string, at time.Time) {
	m.SetQueue(id, queue)
	m.Enqueue(id, "cust-"+id, at)
}

func TestMachineRoutesAmongQueues(t *testing.T) {
	m := NewMachine()
	m.AddQueue("sales")
	m.AddQueue("support")
	// A support session waits longest, then a sales one, then another
	// support one.
	enqueueIn(m, "support", "sup1", t0)
	enqueueIn(m, "sales", "sal1", t0.Add(time.Second))
	enqueueIn(m, "support", "sup2", t0.Add(2*time.Second))
	// Sam serves sales only and has been free longest; Ann serves every
	// queue.
	m.SetAgent("sam", 1, false)
	m.SetAgentQueues("sam", []string{"sales"})
	m.Connected("sam")
	m.SetStatus("sam", parley.StatusAvailable, nil)
	online(m, "ann", 1)

	effs := m.Route(t0.Add(time.Minute))
	// Sam takes the oldest of its queues (sales), although support's
	// session waited longer; Ann takes the oldest of all.
	require.Equal(t, []string{"sam:sal1", "ann:sup1"}, assigns(effs))
	assert.Equal(t, "sales", effs[0].QueueName)
	assert.Equal(t, "support", effs[1].QueueName)
	assert.Equal(t, []string{"sup2"}, m.QueueOrder())
	pos, _ := m.Position("sup2")
	assert.Equal(t, 1, pos, "positions are per queue")

	// Ann's decision: Sam was passed over because it had no free slot
	// any more... and it does not serve support anyway.
	r := effs[1].Routing
	require.NotNil(t, r)
	assert.Equal(t, "support", r.Queue)
	require.Len(t, r.Others, 1)
	assert.Equal(t, parley.ReasonNotServing, r.Others[0].Reason)

	// Sam frees its slot: it does not serve support, so sup2 waits.
	m.AssignDone("sam", "sal1")
	m.Ended("sal1", []string{"sam"})
	assert.Empty(t, assigns(m.Route(t0.Add(2*time.Minute))))
	x, ok := m.ExplainWaiting("sup2", 5)
	require.True(t, ok)
	assert.Equal(t, "support", x.Queue)
	assert.Empty(t, x.Ahead)
	reasons := map[string]string{}
	for _, c := range x.Agents {
		reasons[c.AgentID] = c.Reason
	}
	assert.Equal(t, map[string]string{"ann": parley.ReasonAtCapacity, "sam": parley.ReasonNotServing}, reasons)

	// A manual accept of a session of a queue the agent does not serve
	// is refused.
	effs = m.Accept("sam", "sup2", func(string) bool { return true }, nil, t0.Add(2*time.Minute))
	require.Len(t, effs, 1)
	assert.Equal(t, parley.EForbidden, parley.ErrorCode(effs[0].Err))

	// Removing a queue is refused while sessions wait in it.
	assert.Equal(t, parley.EConflict, parley.ErrorCode(m.RemoveQueue("support")))
	assert.Equal(t, parley.EConflict, parley.ErrorCode(m.RemoveQueue(parley.DefaultQueue)))
	require.NoError(t, m.RemoveQueue("sales"))
	assert.Equal(t, []string{parley.DefaultQueue, "support"}, m.QueueNames())
}

func TestMachineLongestFreeAmongServing(t *testing.T) {
	m := NewMachine()
	m.AddQueue("sales")
	// Ann (every queue) is free longest, then Bob (sales), then Cat (sales).
	online(m, "ann", 1)
	for _, id := range []string{"bob", "cat"} {
		m.SetAgent(id, 1, false)
		m.SetAgentQueues(id, []string{"sales"})
		m.Connected(id)
		m.SetStatus(id, parley.StatusAvailable, nil)
	}
	m.Tick(t0)
	enqueueIn(m, parley.DefaultQueue, "d1", t0)
	enqueueIn(m, "sales", "s1", t0.Add(time.Second))
	enqueueIn(m, "sales", "s2", t0.Add(2*time.Second))
	effs := m.Route(t0.Add(3 * time.Second))
	require.Equal(t, []string{"ann:d1", "bob:s1", "cat:s2"}, assigns(effs))
	r := effs[1].Routing
	require.NotNil(t, r)
	require.Len(t, r.Others, 2)
	assert.Equal(t, "cat", r.Others[0].AgentID)
	assert.Equal(t, parley.ReasonLaterSlot, r.Others[0].Reason, "Cat had a free slot, but a younger one")
	assert.Equal(t, "ann", r.Others[1].AgentID)
	assert.Equal(t, parley.ReasonAtCapacity, r.Others[1].Reason)
}

// TestEWTFromServiceHistory checks the estimate on a known history: one
// agent frees a slot every minute for ten minutes while the queue is never
// empty.
func TestEWTFromServiceHistory(t *testing.T) {
	m := NewMachine()
	now := t0
	m.Tick(now)
	online(m, "amy", 1)
	for i := range 12 {
		m.Enqueue(string(rune('a'+i)), "c", now.Add(time.Duration(i)*time.Millisecond))
	}
	// Amy was idle: taking "a" at once is not service.
	require.Equal(t, []string{"amy:a"}, assigns(m.Route(now)))
	for k := 1; k <= 10; k++ {
		now = t0.Add(time.Duration(k) * time.Minute)
		m.Tick(now) // the dispatcher ticks: the slot frees at now
		prev := string(rune('a' + k - 1))
		m.AssignDone("amy", prev)
		m.Ended(prev, []string{"amy"})
		require.Equal(t, []string{"amy:" + string(rune('a'+k))}, assigns(m.Route(now)))
	}
	// 10 departures over 600 agent-seconds, plus the prior of one per
	// EWTPriorGap: one agent frees a slot every 630/11 s.
	perPos := (600 + EWTPriorGap.Seconds()) / 11
	q, pos, ewt, avail := m.Place("l")
	assert.Equal(t, parley.DefaultQueue, q)
	assert.Equal(t, 1, pos)
	assert.Equal(t, 1, avail)
	assert.InDelta(t, perPos, ewt, 1)

	// A second agent available halves it. Bob coming online serves l,
	// which waited for a slot: one more departure.
	online(m, "bob", 1)
	m.AssignDone("amy", "k")
	require.Equal(t, []string{"bob:l"}, assigns(m.Route(now)))
	perPos = (600 + EWTPriorGap.Seconds()) / 12
	m.Enqueue("m", "c", now)
	m.Enqueue("n", "c", now)
	_, pos, ewt, avail = m.Place("n")
	assert.Equal(t, 2, pos)
	assert.Equal(t, 2, avail)
	assert.InDelta(t, 2*perPos/2, ewt, 1)

	// No agent available: no estimate, live.
	m.SetStatus("amy", parley.StatusBreak, nil)
	m.SetStatus("bob", parley.StatusBreak, nil)
	effs := ofKind(m.Tick(now), EffPosition)
	require.Len(t, effs, 2)
	for _, e := range effs {
		assert.Equal(t, 0, e.AgentsAvailable)
	}

	// Past the window the history is gone: the prior alone remains.
	m.SetStatus("amy", parley.StatusAvailable, nil)
	m.Tick(now) // the dispatcher ticks: amy is available from now
	later := now.Add(EWTWindow + 2*time.Minute)
	m.Tick(later)
	// The queue was busy with one agent available for the last
	// EWTWindow+2 min, with no departure: only that busy time counts
	// in the window.
	n, secs := m.lanes[parley.DefaultQueue].svc.totals(later)
	assert.Equal(t, 0, n)
	assert.InDelta(t, EWTWindow.Seconds(), secs, ewtBucket.Seconds())
}

// TestAgentsAvailablePerQueue: a customer hears of the agents available
// for its own queue only, live as they come and go.
func TestAgentsAvailablePerQueue(t *testing.T) {
	m := NewMachine()
	m.AddQueue("sales")
	enqueueIn(m, "sales", "s1", t0)
	enqueueIn(m, parley.DefaultQueue, "d1", t0)
	m.Tick(t0)
	// Bob serves the default queue only, and is busy with another chat.
	m.SetAgent("bob", 1, false)
	m.SetAgentQueues("bob", []string{parley.DefaultQueue})
	m.Connected("bob")
	m.Hold("bob", "other")
	m.SetStatus("bob", parley.StatusAvailable, nil)
	effs := ofKind(m.Tick(t0.Add(time.Second)), EffPosition)
	require.Len(t, effs, 1, "only the default queue's customer is told")
	assert.Equal(t, "d1", effs[0].Session)
	assert.Equal(t, 1, effs[0].AgentsAvailable)
	assert.Positive(t, effs[0].EWTSeconds)
	_, _, _, avail := m.Place("s1")
	assert.Equal(t, 0, avail)

	// Bob now serves sales too: its customer hears at once.
	m.SetAgentQueues("bob", []string{parley.DefaultQueue, "sales"})
	effs = ofKind(m.Tick(t0.Add(2*time.Second)), EffPosition)
	require.Len(t, effs, 1)
	assert.Equal(t, "s1", effs[0].Session)
	assert.Equal(t, "sales", effs[0].QueueName)
	assert.Equal(t, 1, effs[0].AgentsAvailable)

	// Bob goes on break: both hear that nobody is available.
	m.SetStatus("bob", parley.StatusBreak, nil)
	effs = ofKind(m.Tick(t0.Add(3*time.Second)), EffPosition)
	require.Len(t, effs, 2)
	for _, e := range effs {
		assert.Equal(t, 0, e.AgentsAvailable)
	}

	// queue_list for Bob: only the queues he serves, optionally one.
	m.SetAgentQueues("bob", []string{"sales"})
	ids, n := m.QueueHeadFor("bob", "", 10)
	assert.Equal(t, []string{"s1"}, ids)
	assert.Equal(t, 1, n)
	ids, n = m.QueueHeadFor("bob", parley.DefaultQueue, 10)
	assert.Empty(t, ids)
	assert.Equal(t, 0, n)
	assert.Equal(t, []string{"d1", "s1"}, m.QueueOrder(), "equal arrivals go in queue name order")
}

// TestExclusionAcrossQueues: an agent excluded from the head of one of
// its queues takes the longest-waiting session it may take among all its
// queues; the excluded one keeps its place.
func TestExclusionAcrossQueues(t *testing.T) {
	m := NewMachine()
	m.AddQueue("sales")
	enqueueIn(m, "sales", "s1", t0)
	enqueueIn(m, parley.DefaultQueue, "d1", t0.Add(time.Second))
	enqueueIn(m, "sales", "s2", t0.Add(2*time.Second))
	m.Exclude("s1", "amy")
	online(m, "amy", 1)
	require.Equal(t, []string{"amy:d1"}, assigns(m.Route(t0.Add(time.Minute))))
	assert.Equal(t, []string{"s1", "s2"}, m.QueueOrder())
	pos, _ := m.Position("s1")
	assert.Equal(t, 1, pos, "it keeps its place")
}
