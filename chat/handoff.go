package chat

import (
	"sync"
	"time"
)

// handoff is one session's turn to tell an agent it was assigned.
type handoff struct {
	at    time.Time     // the assigned_at the dispatcher stamped
	after chan struct{} // closed when the previous one is done; nil: no wait
	done  chan struct{} // closed when this one is done
	once  sync.Once
}

// finish lets the next session of the agent push.
func (h *handoff) finish() {
	if h != nil && h.done != nil {
		h.once.Do(func() { close(h.done) })
	}
}

// waitTurn blocks until every earlier routed session of the agent has
// pushed or failed, or the hub closes.
func (h *handoff) waitTurn(closing <-chan struct{}) {
	if h == nil || h.after == nil {
		return
	}
	select {
	case <-h.after:
	case <-closing:
	}
}

// handoffs orders the assigned pushes of each agent. The dispatcher adds a
// handoff before it posts an assignment to a session; ordered handoffs of
// one agent form a chain in which each waits for the one before. A
// session has at most one ordered handoff outstanding (only sessions taken
// from the queue are ordered), so a session waiting in the chain never
// waits for itself. The session takes its handoff when it handles the
// assignment and finishes it in every outcome; the dispatcher finishes
// those whose assignment never ran.
type handoffs struct {
	mu   sync.Mutex
	last map[string]*handoff    // the latest ordered handoff per agent
	open map[[2]string]*handoff // by agent and session
}

func newHandoffs() *handoffs {
	return &handoffs{last: make(map[string]*handoff), open: make(map[[2]string]*handoff)}
}

// add registers the handoff of session to agent, stamped at.
func (hs *handoffs) add(agentID, sessionID string, at time.Time, ordered bool) {
	h := &handoff{at: at}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if old := hs.open[[2]string{agentID, sessionID}]; old != nil {
		old.finish()
	}
	if ordered {
		h.done = make(chan struct{})
		if prev := hs.last[agentID]; prev != nil {
			h.after = prev.done
		}
		hs.last[agentID] = h
	}
	hs.open[[2]string{agentID, sessionID}] = h
}

// take removes and returns the handoff of session to agent, or nil.
func (hs *handoffs) take(agentID, sessionID string) *handoff {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	k := [2]string{agentID, sessionID}
	h := hs.open[k]
	delete(hs.open, k)
	return h
}

// finish finishes and forgets the handoff of session to agent, if any.
func (hs *handoffs) finish(agentID, sessionID string) {
	hs.take(agentID, sessionID).finish()
}
