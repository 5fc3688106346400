package chat

import (
	"sync"
	"time"
)

// handoff is one session's turn to tell an agent it was assigned.
type handoff struct {
	at    time.Time     // the assigned_at the dispatcher stamped
	after chan struct{} // closed when every earlier one is done; nil: no wait
	// The rest is for ordered handoffs only, guarded by hs.mu.
	hs       *handoffs
	done     chan struct{} // closed when this and every earlier one are done
	prev     *handoff
	next     *handoff
	finished bool
	closed   bool
}

// finish ends this session's turn. Its successor may push once this one
// and every earlier one have finished, whatever order they finish in.
func (h *handoff) finish() {
	if h == nil || h.hs == nil {
		return
	}
	h.hs.mu.Lock()
	defer h.hs.mu.Unlock()
	h.finished = true
	for h != nil && h.finished && !h.closed && (h.prev == nil || h.prev.closed) {
		close(h.done)
		h.closed = true
		h.prev = nil // let the finished ones be collected
		h = h.next
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
// one agent form a chain in which each waits for all before it. A session
// has at most one ordered handoff outstanding (only sessions taken from
// the queue are ordered, and a session leaves the queue when it gets one),
// so a session waiting in a chain never waits for itself. The session
// takes its handoff when it handles the assignment and finishes it in
// every outcome; the dispatcher finishes those whose assignment never ran.
type handoffs struct {
	mu   sync.Mutex
	last map[string]*handoff    // the latest ordered handoff per agent
	open map[[2]string]*handoff // not yet taken, by agent and session
}

func newHandoffs() *handoffs {
	return &handoffs{last: make(map[string]*handoff), open: make(map[[2]string]*handoff)}
}

// add registers the handoff of session to agent, stamped at.
func (hs *handoffs) add(agentID, sessionID string, at time.Time, ordered bool) {
	h := &handoff{at: at}
	k := [2]string{agentID, sessionID}
	hs.mu.Lock()
	old := hs.open[k]
	if ordered {
		h.hs, h.done = hs, make(chan struct{})
		if prev := hs.last[agentID]; prev != nil && !prev.closed {
			h.prev, prev.next, h.after = prev, h, prev.done
		}
		hs.last[agentID] = h
	}
	hs.open[k] = h
	hs.mu.Unlock()
	old.finish()
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
