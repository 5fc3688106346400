package queue

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMachineJoinOutlivesLastLeave: an agent joins an active session by
// accept, and the session's only agent leaves before the join is stored.
// The leave must not leave the session waiting in the queue once the join
// is done: it is active, with the joining agent.
func TestMachineJoinOutlivesLastLeave(t *testing.T) {
	m := NewMachine()
	open := func(string) bool { return true }
	for _, id := range []string{"amy", "bob"} {
		m.SetAgent(id, 1, false) // offline: picks by hand only
		m.Connected(id)
	}
	m.Enqueue("s", "cust", t0)
	require.Equal(t, []string{"amy:s"}, assigns(m.Accept("amy", "s", open, nil, t0)))
	m.AssignDone("amy", "s")

	require.Equal(t, []string{"bob:s"}, assigns(m.Accept("bob", "s", open, nil, t0)))
	m.Left("amy", "s", "cust", true, t0, t0) // handled by the session before bob's join
	m.AssignDone("bob", "s")
	assert.Empty(t, m.QueueOrder(), "the session is active with bob, not waiting")

	m.Left("bob", "s", "cust", true, t0, t0)
	assert.Equal(t, []string{"s"}, m.QueueOrder(), "once bob leaves it waits again")
}
