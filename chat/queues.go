package chat

import (
	"context"
	"fmt"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/queue"
	"github.com/parley-chat/parley/storage"
)

// This file is the hub's surface for queue administration (package admin).

// WaitingExplanation says why a waiting session has no agent yet.
type WaitingExplanation = queue.WaitingExplanation

// explainAhead is how many sessions ahead of a waiting one explain names.
const explainAhead = 5

// QueueAdded makes a queue stored meanwhile known to routing at once.
func (h *Hub) QueueAdded(name string) error {
	return h.disp.call(func() { h.disp.addQueue(name) })
}

// RemoveQueue removes a queue from routing and storage. It is refused with
// conflict while sessions wait in it, and for the default queue.
func (h *Hub) RemoveQueue(ctx context.Context, name string) error {
	if name == parley.DefaultQueue {
		return parley.Errorf(parley.EConflict, "The default queue cannot be removed.")
	}
	if err := h.db.View(func(tx *storage.Tx) error { _, err := tx.Queue(name); return err }); err != nil {
		return err
	}
	var refused error
	err := h.disp.call(func() {
		if n := h.disp.m.WaitingIn(name); n > 0 {
			refused = parley.Errorf(parley.EConflict, "%d session(s) wait in queue %s; it can be removed once they are served.", n, name)
			return
		}
		_ = h.disp.m.RemoveQueue(name) // not known to routing: nothing to forget
	})
	if err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	if err := h.db.Update(ctx, func(tx *storage.Tx) error { return tx.DeleteQueue(name) }); err != nil {
		// Still stored: keep routing to it.
		_ = h.QueueAdded(name)
		return fmt.Errorf("remove queue %s: %w", name, err)
	}
	return nil
}

// QueueInfo summarises the queues: totals, and each queue with its
// waiting sessions, oldest wait and agents available.
func (h *Hub) QueueInfo() (info parley.QueueInfo) {
	_ = h.disp.call(func() { info = h.disp.m.QueueInfo(h.now()) })
	return info
}

// ExplainWaiting says why a waiting session has no agent yet; it reports
// false if the session does not wait.
func (h *Hub) ExplainWaiting(id string) (x WaitingExplanation, ok bool, err error) {
	err = h.disp.call(func() { x, ok = h.disp.m.ExplainWaiting(id, explainAhead) })
	return x, ok, err
}
