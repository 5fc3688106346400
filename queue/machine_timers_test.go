package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// TestMachineExclusion: routing never offers a session to an agent
// excluded from it; the next free agent gets it, and while only excluded
// agents are free the sessions behind it are served first, without it
// losing its place. Accept without an id skips it too; accept by id may
// still take it.
func TestMachineExclusion(t *testing.T) {
	m := NewMachine()
	ids := waiting(m, 2)
	m.Exclude(ids[0], "amy")
	online(m, "amy", 1)
	require.Equal(t, []string{"amy:" + ids[1]}, assigns(m.Route(t0)), "amy skips the session she is excluded from")
	assert.Equal(t, []string{ids[0]}, m.QueueOrder(), "it keeps its place")

	online(m, "bob", 1)
	require.Equal(t, []string{"bob:" + ids[0]}, assigns(m.Route(t0)), "the next free agent takes it")

	// Accept: without an id the excluded session is skipped, by id it
	// may be taken.
	m2 := NewMachine()
	ids2 := waiting(m2, 1)
	m2.Exclude(ids2[0], "amy")
	m2.SetAgent("amy", 1, false)
	m2.Connected("amy")
	open := func(string) bool { return true }
	effs := m2.Accept("amy", "", open, nil, t0)
	require.Len(t, ofKind(effs, EffReject), 1, "no session amy may be offered")
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(effs[0].Err))
	assert.Equal(t, []string{"amy:" + ids2[0]}, assigns(m2.Accept("amy", ids2[0], open, nil, t0)))

	m.ForgetExclusions(ids[0])
	assert.False(t, m.IsExcluded(ids[0], "amy"))
}

// TestMachineExclusionAfterLeft: a session whose agent left it unanswered
// and was excluded is not routed straight back to that agent (Left
// otherwise does so when nobody else is free).
func TestMachineExclusionAfterLeft(t *testing.T) {
	m := NewMachine()
	ids := waiting(m, 1)
	online(m, "amy", 1)
	require.Equal(t, []string{"amy:" + ids[0]}, assigns(m.Route(t0)))
	m.AssignDone("amy", ids[0])
	m.Exclude(ids[0], "amy")
	effs := m.Left("amy", ids[0], "cust-"+ids[0], true, t0, t0.Add(time.Minute))
	assert.Empty(t, assigns(effs))
	assert.Equal(t, []string{ids[0]}, m.QueueOrder())
	v, _ := m.Agent("amy")
	assert.Equal(t, 0, v.Active)
}

// TestMachineReserveTransfer: a transfer takes a slot of an available
// agent with room, and is refused otherwise.
func TestMachineReserveTransfer(t *testing.T) {
	m := NewMachine()
	online(m, "amy", 1)
	m.SetAgent("bob", 1, false) // offline, not connected
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(m.ReserveTransfer("zed", "s1")))
	assert.Equal(t, parley.EConflict, parley.ErrorCode(m.ReserveTransfer("bob", "s1")))
	require.NoError(t, m.ReserveTransfer("amy", "s1"))
	assert.Equal(t, parley.EConflict, parley.ErrorCode(m.ReserveTransfer("amy", "s2")), "no free slot")
	m.Unhold("amy", "s1")
	require.NoError(t, m.ReserveTransfer("amy", "s2"))
	v, _ := m.Agent("amy")
	assert.Equal(t, []string{"s2"}, v.Sessions)
	assert.Equal(t, 1, m.Connections("amy"))
}
