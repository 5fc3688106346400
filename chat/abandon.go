package chat

import (
	"sync"
	"time"

	"github.com/parley-chat/parley/parley"
)

// This file ends queued sessions whose customer went away: a visitor who
// starts a session and closes the tab would otherwise hold a place in the
// queue, and an anonymous flood of them would push real customers to the
// back of a queue of ghosts. A queued session whose customer has had no
// connection for Config.AbandonAfter ends with reason
// parley.EndAbandoned.

// serverParticipant is the author of events the server causes on its own.
var serverParticipant = parley.Participant{Role: parley.RoleSystem, Name: "parley"}

// goneTracker remembers, per customer with an open session, since when it
// has had no connection.
type goneTracker struct {
	mu    sync.Mutex
	since map[string]time.Time
}

func newGoneTracker() *goneTracker { return &goneTracker{since: make(map[string]time.Time)} }

// customerGone notes that a customer's last connection closed, if it has
// an open session that could wait without it. The registry's lock is held.
func (h *Hub) customerGone(id string) {
	if h.openSessionOf(id) == nil {
		return
	}
	now := h.now()
	h.gone.mu.Lock()
	h.gone.since[id] = now
	h.gone.mu.Unlock()
}

// customerBack notes that a customer connected.
func (h *Hub) customerBack(id string) {
	h.gone.mu.Lock()
	delete(h.gone.since, id)
	h.gone.mu.Unlock()
}

// goneSince returns since when a customer without connections has been
// gone, starting the count at now for one not seen leaving (its session
// was recovered at start).
func (h *Hub) goneSince(id string, now time.Time) time.Time {
	h.gone.mu.Lock()
	defer h.gone.mu.Unlock()
	t, ok := h.gone.since[id]
	if !ok {
		h.gone.since[id] = now
		return now
	}
	return t
}

// errNotQueued answers an abandon for a session an agent took meanwhile.
var errNotQueued = parley.Errorf(parley.EConflict, "The session is no longer queued.")

// SweepAbandoned ends every queued session whose customer has had no
// connection for Config.AbandonAfter, with reason abandoned, and returns
// how many it ended. The hub runs it periodically when AbandonAfter is
// set; it is exported so tests can run it at a moment of their choosing.
func (h *Hub) SweepAbandoned() int {
	after := h.cfg.AbandonAfter
	if after <= 0 {
		return 0
	}
	order, err := h.QueueOrder()
	if err != nil {
		return 0
	}
	now := h.now()
	var pending []chan error
	for _, id := range order {
		s := h.session(id)
		if s == nil || h.reg.customerConns(s.customerID) > 0 {
			continue
		}
		if now.Sub(h.goneSince(s.customerID, now)) < after {
			continue
		}
		done := make(chan error, 1)
		s.post(command{kind: cmdEnd, from: serverParticipant, reason: parley.EndAbandoned, ifQueued: true, done: done})
		pending = append(pending, done)
	}
	n := 0
	for _, done := range pending {
		if <-done == nil {
			n++
		}
	}
	// Forget customers whose sessions ended.
	h.gone.mu.Lock()
	ids := make([]string, 0, len(h.gone.since))
	for id := range h.gone.since {
		ids = append(ids, id)
	}
	h.gone.mu.Unlock()
	for _, id := range ids {
		if h.openSessionOf(id) == nil {
			h.customerBack(id)
		}
	}
	if n > 0 {
		h.log.Info("ended abandoned sessions", "count", n, "abandon_after", after)
	}
	return n
}

// abandonLoop runs SweepAbandoned until the hub closes, a few times per
// AbandonAfter.
func (h *Hub) abandonLoop() {
	defer h.wg.Done()
	every := min(max(h.cfg.AbandonAfter/4, time.Second), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.SweepAbandoned()
		case <-h.closing:
			return
		}
	}
}

// customerConns returns how many connections a customer has.
func (r *registry) customerConns(id string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.customers[id])
}
