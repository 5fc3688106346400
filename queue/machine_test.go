package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// assigns returns the sessions of the EffAssign effects, agent:session.
func assigns(effs []Effect) []string {
	var out []string
	for _, e := range effs {
		if e.Kind == EffAssign {
			out = append(out, e.Agent+":"+e.Session)
		}
	}
	return out
}

func ofKind(effs []Effect, k EffectKind) []Effect {
	var out []Effect
	for _, e := range effs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// online registers a connected, available agent.
func online(m *Machine, id string, capacity int) {
	m.SetAgent(id, capacity, false)
	m.Connected(id)
	m.SetStatus(id, parley.StatusAvailable, nil)
}

func waiting(m *Machine, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = string(rune('a'+i)) + "-session"
		m.Enqueue(ids[i], "cust-"+ids[i], t0.Add(time.Duration(i)*time.Second))
	}
	return ids
}

func TestMachineHandsOverInQueueOrder(t *testing.T) {
	m := NewMachine()
	ids := waiting(m, 4)
	online(m, "amy", 3)
	effs := m.Route(t0)
	require.Equal(t, []string{"amy:" + ids[0], "amy:" + ids[1], "amy:" + ids[2]}, assigns(effs), "queue order")
	for _, e := range effs {
		assert.True(t, e.Ordered, "routed sessions are pushed in order")
		assert.Equal(t, t0, e.At, "assigned_at is stamped at routing")
	}
	v, _ := m.Agent("amy")
	assert.Equal(t, 3, v.Active, "the reserved slots count as taken")
	assert.Equal(t, []string{ids[3]}, m.QueueOrder())

	assert.Empty(t, m.AssignDone("amy", ids[0]))
	assert.Empty(t, assigns(m.AssignFailed("amy", ids[1], true, "cust-"+ids[1], t0.Add(time.Second))))
	assert.Equal(t, []string{ids[1], ids[3]}, m.QueueOrder(), "the failed one is back at its place")
	// The clock went back: assigned_at still does not decrease.
	effs = m.Route(t0.Add(-time.Hour))
	require.Equal(t, []string{"amy:" + ids[1]}, assigns(effs), "the freed slot takes the oldest again")
	assert.Equal(t, t0, effs[0].At)
	assert.Empty(t, m.AssignDone("amy", "unknown"), "a report of nothing changes nothing")
}

func TestMachineHandoverFailed(t *testing.T) {
	tests := []struct {
		name        string
		accept      bool
		wantQueue   int // place the session is back at, 0 = not queued
		wantActive  int
		wantAssigns []string
	}{
		{name: "routed session goes back to its place", wantQueue: 1, wantActive: 1, wantAssigns: []string{"amy:a-session"}},
		{name: "accepted active session is not queued", accept: true, wantActive: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine()
			var sid string
			if tt.accept {
				m.SetAgent("amy", 2, false)
				m.Connected("amy")
				sid = "active-session"
				require.Equal(t, []string{"amy:" + sid}, assigns(m.Accept("amy", sid, func(string) bool { return true }, nil, t0)))
			} else {
				ids := waiting(m, 2)
				sid = ids[0]
				online(m, "amy", 1)
				require.Equal(t, []string{"amy:" + sid}, assigns(m.Route(t0)))
			}
			effs := m.HandoverFailed("amy", sid)
			assert.Empty(t, assigns(effs))
			pos, _ := m.Position(sid)
			assert.Equal(t, tt.wantQueue, pos)
			effs = m.Route(t0)
			assert.Equal(t, tt.wantAssigns, assigns(effs))
			v, _ := m.Agent("amy")
			assert.Equal(t, tt.wantActive, v.Active)
			assert.Empty(t, m.HandoverFailed("amy", sid+"-other"))
		})
	}
}

func TestMachineEndedDropsReservations(t *testing.T) {
	m := NewMachine()
	ids := waiting(m, 3)
	online(m, "amy", 3)
	require.Len(t, assigns(m.Route(t0)), 3)
	assert.Empty(t, m.AssignDone("amy", ids[0]))
	// The second ends before its session confirmed: its slot is free at
	// once, and the session's late failure report frees nothing twice.
	assert.Empty(t, assigns(m.Ended(ids[1], nil)))
	assert.Empty(t, m.AssignFailed("amy", ids[1], true, "cust", t0))
	assert.Empty(t, m.QueueOrder(), "an ended session is not requeued")
	v, _ := m.Agent("amy")
	assert.Equal(t, 2, v.Active)
	// The first ends with amy in it.
	assert.Empty(t, assigns(m.Ended(ids[0], []string{"amy"})))
	v, _ = m.Agent("amy")
	assert.Equal(t, 1, v.Active)
	assert.Equal(t, 2, m.pool.Free("amy"))
}

func TestMachineRoutingRules(t *testing.T) {
	tests := []struct {
		name string
		set  func(m *Machine)
		want []string
	}{
		{"available and connected gets chats", func(m *Machine) { online(m, "amy", 1) }, []string{"amy:a-session"}},
		{"not connected gets none", func(m *Machine) {
			online(m, "amy", 1)
			m.Disconnected("amy")
		}, nil},
		{"break gets none", func(m *Machine) {
			online(m, "amy", 1)
			m.SetStatus("amy", parley.StatusBreak, nil)
		}, nil},
		{"offline gets none", func(m *Machine) {
			online(m, "amy", 1)
			m.SetStatus("amy", parley.StatusOffline, nil)
		}, nil},
		{"disabled gets none", func(m *Machine) {
			online(m, "amy", 1)
			m.SetAgent("amy", 1, true)
		}, nil},
		{"longest free slot first", func(m *Machine) {
			online(m, "amy", 1)
			online(m, "bob", 1)
		}, []string{"amy:a-session", "bob:b-session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine()
			waiting(m, 2)
			tt.set(m)
			assert.Equal(t, tt.want, assigns(m.Route(t0)))
		})
	}
}

func TestMachineDrainingAndStatus(t *testing.T) {
	m := NewMachine()
	ids := waiting(m, 1)
	online(m, "amy", 2)
	m.Route(t0)
	m.AssignDone("amy", ids[0])
	effs := m.SetStatus("amy", parley.StatusBreak, "reply")
	st := ofKind(effs, EffStatus)
	require.Len(t, st, 1)
	assert.Equal(t, Effect{Kind: EffStatus, Agent: "amy", Reply: "reply", Status: parley.StatusDraining, Active: 1, Capacity: 2}, st[0])
	effs = m.Ended(ids[0], []string{"amy"})
	assert.Equal(t, []Effect{{Kind: EffStatus, Agent: "amy", Status: parley.StatusBreak, Active: 0, Capacity: 2}}, effs,
		"draining finishes with a push")
	rej := m.SetStatus("ghost", parley.StatusAvailable, "r")
	require.Len(t, rej, 1)
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(rej[0].Err))
}

func TestMachineAccept(t *testing.T) {
	open := func(id string) bool { return id != "closed" }
	tests := []struct {
		name    string
		agent   string
		session string
		prep    func(m *Machine)
		code    string // error code, or "" for an assignment
		want    string // the session handed over
	}{
		{name: "unknown agent", agent: "ghost", code: parley.ENotFound},
		{name: "nothing waits", agent: "amy", code: parley.ENotFound},
		{name: "oldest", agent: "amy", prep: func(m *Machine) { waiting(m, 2) }, want: "a-session"},
		{name: "given queued", agent: "amy", session: "b-session", prep: func(m *Machine) { waiting(m, 2) }, want: "b-session"},
		{name: "join active", agent: "amy", session: "active", want: "active"},
		{name: "not open", agent: "amy", session: "closed", code: parley.EConflict},
		{name: "already in", agent: "amy", session: "active", prep: func(m *Machine) {
			m.Accept("amy", "active", open, nil, t0)
		}, code: parley.EConflict},
		{name: "at capacity", agent: "amy", session: "x", prep: func(m *Machine) {
			m.Accept("amy", "one", open, nil, t0)
			m.Accept("amy", "two", open, nil, t0)
		}, code: parley.EConflict},
		{name: "draining", agent: "amy", session: "x", prep: func(m *Machine) {
			m.Accept("amy", "one", open, nil, t0)
			m.SetStatus("amy", parley.StatusBreak, nil)
		}, code: parley.EConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine()
			m.SetAgent("amy", 2, false) // offline: picks by hand only
			m.Connected("amy")
			if tt.prep != nil {
				tt.prep(m)
			}
			before := m.QueueOrder()
			effs := m.Accept(tt.agent, tt.session, open, "reply", t0)
			if tt.code != "" {
				require.Len(t, effs, 1)
				assert.Equal(t, EffReject, effs[0].Kind)
				assert.Equal(t, tt.code, parley.ErrorCode(effs[0].Err))
				assert.Equal(t, before, m.QueueOrder(), "a rejected accept changes nothing")
				return
			}
			require.Equal(t, []string{"amy:" + tt.want}, assigns(effs))
			assert.Equal(t, "reply", effs[0].Reply)
			assert.Equal(t, tt.want != "active", effs[0].Ordered, "queued sessions are ordered, joins not")
		})
	}
}

func TestMachineTick(t *testing.T) {
	m := NewMachine()
	ids := waiting(m, 2)
	pos, ewt := m.Admitted(ids[1])
	assert.Equal(t, 2, pos)
	assert.Equal(t, 0, ewt, "no agent is available: no estimate")
	effs := m.Tick(t0.Add(10 * time.Second))
	// The second was told its place by Admitted; only the first is told.
	assert.Equal(t, []Effect{
		{Kind: EffPosition, Session: ids[0], Customer: "cust-" + ids[0], Position: 1, QueueName: parley.DefaultQueue},
		{Kind: EffSummary, Queue: parley.QueueInfo{Waiting: 2, OldestWaitS: 10, Queues: []parley.QueueDetail{
			{Name: parley.DefaultQueue, Waiting: 2, OldestWaitS: 10},
		}}},
	}, effs)
	assert.Empty(t, m.Tick(t0.Add(20*time.Second)), "nothing changed")
}

func TestClampCapacity(t *testing.T) {
	for in, want := range map[int]int{-1: parley.DefaultCapacity, 0: parley.DefaultCapacity, 1: 1, 7: 7, parley.MaxCapacity: parley.MaxCapacity, parley.MaxCapacity + 1: parley.MaxCapacity} {
		assert.Equal(t, want, ClampCapacity(in), "capacity %d", in)
	}
}
