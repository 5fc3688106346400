package queue

import (
	"cmp"
	"slices"
	"time"

	"github.com/parley-chat/parley/parley"
)

// reasonRank orders candidates closest first.
var reasonRank = map[string]int{
	parley.ReasonFree: 0, parley.ReasonLaterSlot: 1, parley.ReasonAtCapacity: 2,
	parley.ReasonNotAvailable: 3, parley.ReasonNotServing: 4,
}

// candidate describes agent a as routing for a session of queue sees it.
// lost is the reason given to an agent with a free slot (later_slot when
// another agent won, free when the session still waits).
func (m *Machine) candidate(a *machineAgent, queue, free string) parley.RoutingCandidate {
	c := parley.RoutingCandidate{
		AgentID: a.id, Status: a.status, Active: len(a.sessions), Capacity: m.pool.Capacity(a.id),
		Connected: a.conns > 0, Disabled: a.disabled,
	}
	switch {
	case !a.serves(queue):
		c.Reason = parley.ReasonNotServing
	case !m.pool.Available(a.id):
		c.Reason = parley.ReasonNotAvailable
	case m.pool.Free(a.id) == 0:
		c.Reason = parley.ReasonAtCapacity
	default:
		c.Reason = free
		since, _ := m.pool.FreeSince(a.id)
		c.FreeSince = parley.TimeOf(since)
	}
	return c
}

// candidates describes every agent but skip for a session of queue,
// closest first.
func (m *Machine) candidates(skip, queue, free string) []parley.RoutingCandidate {
	out := make([]parley.RoutingCandidate, 0, len(m.agents))
	for id, a := range m.agents {
		if id != skip {
			out = append(out, m.candidate(a, queue, free))
		}
	}
	slices.SortFunc(out, func(x, y parley.RoutingCandidate) int {
		if c := cmp.Compare(reasonRank[x.Reason], reasonRank[y.Reason]); c != 0 {
			return c
		}
		if c := x.FreeSince.Compare(y.FreeSince.Time); c != 0 {
			return c
		}
		return cmp.Compare(x.AgentID, y.AgentID)
	})
	return out
}

// decide records why the session e of queue goes to agent a, before its
// slot is taken.
func (m *Machine) decide(a *machineAgent, queue string, e Entry, now time.Time) *parley.Routing {
	since, _ := m.pool.FreeSince(a.id)
	r := &parley.Routing{
		SessionID: e.ID, Queue: queue, AgentID: a.id, At: parley.TimeOf(now),
		QueuedAt: parley.TimeOf(e.At), FreeSince: parley.TimeOf(since),
	}
	others := m.candidates(a.id, queue, parley.ReasonLaterSlot)
	if len(others) > parley.MaxRoutingCandidates {
		r.OthersOmitted = len(others) - parley.MaxRoutingCandidates
		others = others[:parley.MaxRoutingCandidates]
	}
	if len(others) > 0 {
		r.Others = others
	}
	return r
}

// WaitingExplanation says why a session still waits.
type WaitingExplanation struct {
	Queue    string
	Position int
	// Ahead are the first sessions ahead of it in its queue, next first.
	Ahead []string
	// Agents are every agent with the reason it does not have the
	// session, closest first.
	Agents []parley.RoutingCandidate
}

// ExplainWaiting explains why a waiting session has no agent yet, naming
// up to ahead sessions ahead of it; it reports false if the session does
// not wait.
func (m *Machine) ExplainWaiting(sessionID string, ahead int) (WaitingExplanation, bool) {
	l := m.laneOf[sessionID]
	if l == nil {
		return WaitingExplanation{}, false
	}
	x := WaitingExplanation{Queue: l.name, Position: l.q.Position(sessionID)}
	l.q.Each(func(pos int, e Entry) bool {
		if pos >= x.Position || len(x.Ahead) == ahead {
			return false
		}
		x.Ahead = append(x.Ahead, e.ID)
		return true
	})
	x.Agents = m.candidates("", l.name, parley.ReasonFree)
	return x, true
}
