package queue

import (
	"github.com/parley-chat/parley/parley"
)

// This file holds the machine's part of the rules that keep chats moving
// (issue 10: agent disconnect grace, reply timeout, transfer): which
// agents routing must not offer a session to again, how many connections
// an agent has, and slots taken for transfers. They are kept apart from
// machine.go; Route and Accept call match and frontFor.

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

// match is Router.Match with exclusions: the oldest session that an
// available agent with a free slot may take goes to the longest-free such
// agent. Without exclusions (the common case) it is Router.Match. A
// session whose every free agent is excluded keeps its place, and the
// sessions behind it are served meanwhile.
func (m *Machine) match() (Assignment, bool) {
	if len(m.excluded) == 0 || len(m.router.Pool.ready) == 0 {
		return m.router.Match()
	}
	var (
		found Entry
		agent *agent
	)
	m.router.Queue.Each(func(_ int, e Entry) bool {
		agent = m.bestFor(e.ID)
		found = e
		return agent == nil
	})
	if agent == nil {
		return Assignment{}, false
	}
	if err := m.router.Pool.Take(agent.id); err != nil {
		return Assignment{}, false
	}
	m.router.Queue.Remove(found.ID)
	return Assignment{Session: found, Agent: agent.id}, true
}

// bestFor returns the routable agent whose slot has been free longest
// among those not excluded for the session, or nil.
func (m *Machine) bestFor(sessionID string) *agent {
	ex := m.excluded[sessionID]
	ready := m.router.Pool.ready
	if len(ready) == 0 {
		return nil
	}
	if _, ok := ex[ready[0].id]; !ok {
		return ready[0]
	}
	var best *agent
	for _, a := range ready {
		if _, ok := ex[a.id]; ok {
			continue
		}
		if best == nil || a.free.front() < best.free.front() {
			best = a
		}
	}
	return best
}

// frontFor returns the oldest waiting session the agent is not excluded
// from, for accept without a session id.
func (m *Machine) frontFor(agentID string) (found Entry, ok bool) {
	m.router.Queue.Each(func(_ int, e Entry) bool {
		if _, ex := m.excluded[e.ID][agentID]; ex {
			return true
		}
		found, ok = e, true
		return false
	})
	return found, ok
}

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
	case !m.router.Pool.Available(to):
		return parley.Errorf(parley.EConflict, "That agent is not available (status %s).", a.status)
	case m.router.Pool.Free(to) == 0:
		return parley.Errorf(parley.EConflict, "That agent has no free slot (%d chats).", m.router.Pool.Capacity(to))
	}
	if _, ok := a.sessions[sessionID]; ok {
		return parley.Errorf(parley.EConflict, "That agent is already in session %s.", sessionID)
	}
	if err := m.router.Pool.Take(to); err != nil {
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
