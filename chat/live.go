package chat

import (
	"context"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// This file is the hub's surface for operator tools (package admin): thin
// wrappers over the dispatcher, the registry and the session goroutines.

// AgentStatuses returns every known agent's live status, capacity and
// number of open chats, by agent id.
func (h *Hub) AgentStatuses() map[string]parley.AgentInfo {
	return h.disp.agentStatuses()
}

// QueueOrder returns the ids of the waiting sessions in the order the
// dispatcher will serve them.
func (h *Hub) QueueOrder() ([]string, error) {
	var order []string
	err := h.disp.call(func() { order = h.disp.m.QueueOrder() })
	if order == nil {
		order = []string{}
	}
	return order, err
}

// AgentChanged applies an edited agent account (name, capacity, disabled,
// token generation) to routing and tells the agent its new status; the
// open connections of an agent disabled or signed out are closed.
func (h *Hub) AgentChanged(a *parley.Agent) {
	h.disp.agentChanged(a)
}

// adminParticipant is the author of events caused by operators.
var adminParticipant = parley.Participant{Role: parley.RoleSystem, Name: "admin"}

// EndSession ends an open session on an operator's behalf: through its
// goroutine, so everyone in it is told.
func (h *Hub) EndSession(ctx context.Context, id, reason string) error {
	if _, err := parley.ParseID(id); err != nil {
		return err
	}
	s := h.session(id)
	if s == nil {
		// Every open session has a goroutine, so this one is ended or
		// unknown; say which.
		err := h.db.View(func(tx *storage.Tx) error {
			rec, err := tx.Session(id)
			if err == nil && !rec.Open() {
				return parley.Errorf(parley.EConflict, "Session %s has already ended.", id)
			}
			return err
		})
		if err != nil {
			return err
		}
		return parley.Errorf(parley.EConflict, "Session %s has already ended.", id)
	}
	done := make(chan error, 1)
	s.post(command{kind: cmdEnd, from: adminParticipant, reason: reason, done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// endRecord returns the ended form of a record and its ended event.
func endRecord(r *parley.SessionRecord, by parley.Participant, reason string) (*parley.SessionRecord, parley.Event) {
	next := cloneRecord(r)
	next.State = parley.StateEnded
	next.EndReason = reason
	return next, parley.Event{Kind: parley.KindEnded, From: by, Reason: reason}
}
