package queue

import (
	"github.com/parley-chat/parley/parley"
)

// This file holds the machine's part of the rules that keep chats moving
// (issue 10: agent disconnect grace, reply timeout, transfer): which
// agents routing must not offer a session to again, how many connections
// an agent has, and slots taken for transfers. They are kept apart from
// machine.go; Route and Accept skip excluded agents through oldestFor
// (lanes.go).

// Exclude makes routing skip the agent for the session from now on: it
// let the session go unanswered, or handed it back to the queue. The agent
// may still accept the session by its id.
func (m *Machine) Exclude(sessionID, agentID string) {
	if m.excluded == nil {
		m.excluded = make(map[string]map[string]struct{})
	}
	set := m.excluded[sessionID]
	if set == nil {
		set = make(map[string]struct{})
		m.excluded[sessionID] = set
	}
	set[agentID] = struct{}{}
}

// IsExcluded reports whether routing skips the agent for the session.
func (m *Machine) IsExcluded(sessionID, agentID string) bool {
	_, ok := m.excluded[sessionID][agentID]
	return ok
}

// ForgetExclusions drops a session's exclusions (it ended).
func (m *Machine) ForgetExclusions(sessionID string) { delete(m.excluded, sessionID) }

// Connections returns how many connections an agent has.
func (m *Machine) Connections(agentID string) int {
	if a := m.agents[agentID]; a != nil {
		return a.conns
	}
	return 0
}

// ReserveTransfer takes a slot of agent to for a session being
// transferred to it: the agent must exist (not_found), be available and
// connected, have a free slot and not be in the session already
// (conflict). The caller completes the transfer, or undoes the slot with
// Unhold.
func (m *Machine) ReserveTransfer(to, sessionID string) error {
	a := m.agents[to]
	switch {
	case a == nil:
		return parley.Errorf(parley.ENotFound, "Agent %s not found.", to)
	case !m.pool.Available(to):
		return parley.Errorf(parley.EConflict, "That agent is not available (status %s).", a.status)
	case m.pool.Free(to) == 0:
		return parley.Errorf(parley.EConflict, "That agent has no free slot (%d chats).", m.pool.Capacity(to))
	}
	if _, ok := a.sessions[sessionID]; ok {
		return parley.Errorf(parley.EConflict, "That agent is already in session %s.", sessionID)
	}
	if err := m.pool.Take(to); err != nil {
		return parley.Errorf(parley.EConflict, "That agent cannot take a chat now: %v.", err)
	}
	a.sessions[sessionID] = struct{}{}
	m.holders[sessionID]++
	return nil
}

// Unhold frees the slot an agent holds for a session, as when a transfer
// to it could not be stored.
func (m *Machine) Unhold(agentID, sessionID string) []Effect {
	a := m.agents[agentID]
	if a == nil {
		return nil
	}
	return m.release(a, sessionID, nil)
}
