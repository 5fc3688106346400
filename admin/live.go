package admin

import (
	"context"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Live is the running chat service as admin operations see it. HubLive
// answers from a running *chat.Hub; Offline answers from the database
// alone, for when no server runs. Admin code never asks which one it has.
type Live interface {
	// Online reports whether a server is running.
	Online() bool
	// AgentStatuses returns live agent statuses by agent id; empty when
	// offline.
	AgentStatuses() map[string]parley.AgentInfo
	// QueueOrder returns the ids of the waiting sessions, next first.
	QueueOrder() ([]string, error)
	// EndSession ends an open session with reason, telling everyone in it.
	EndSession(ctx context.Context, id, reason string) error
	// Stats summarises open sessions, the queue and agents.
	Stats() (LiveStats, error)
	// AgentChanged applies an edited agent account.
	AgentChanged(a *parley.Agent)
}

// LiveStats is the part of StatsResult that depends on the live service.
type LiveStats struct {
	OpenSessions   int
	Queued         int
	OldestWaitS    int
	AgentsByStatus map[string]int
	Connections    int
	Messages       uint64
}

// HubLive returns the Live of a running hub.
func HubLive(h *chat.Hub) Live { return hubLive{h} }

type hubLive struct{ h *chat.Hub }

func (l hubLive) Online() bool                               { return true }
func (l hubLive) AgentStatuses() map[string]parley.AgentInfo { return l.h.AgentStatuses() }
func (l hubLive) QueueOrder() ([]string, error)              { return l.h.QueueOrder() }
func (l hubLive) AgentChanged(a *parley.Agent)               { l.h.AgentChanged(a) }

func (l hubLive) EndSession(ctx context.Context, id, reason string) error {
	return l.h.EndSession(ctx, id, reason)
}

func (l hubLive) Stats() (LiveStats, error) {
	st := l.h.Stats()
	return LiveStats{
		OpenSessions: st.OpenSessions, Queued: st.Queued, OldestWaitS: st.OldestWaitS,
		AgentsByStatus: st.AgentsByStatus, Connections: st.CustomerConns + st.AgentConns, Messages: st.Messages,
	}, nil
}

// Offline returns the Live of a stopped server: everything comes from db,
// and every enabled agent is offline.
func Offline(db *storage.DB) Live { return offline{db} }

type offline struct{ db *storage.DB }

func (offline) Online() bool                               { return false }
func (offline) AgentStatuses() map[string]parley.AgentInfo { return map[string]parley.AgentInfo{} }
func (offline) AgentChanged(*parley.Agent)                 {}

func (o offline) QueueOrder() ([]string, error) {
	ids := []string{}
	err := o.db.View(func(tx *storage.Tx) error {
		recs, err := tx.QueuedSessions()
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return err
	})
	return ids, err
}

// systemAdmin is the author of events caused by operators; the hub uses
// the same participant for sessions it ends.
var systemAdmin = parley.Participant{Role: parley.RoleSystem, Name: "admin"}

func (o offline) EndSession(ctx context.Context, id, reason string) error {
	if _, err := parley.ParseID(id); err != nil {
		return err
	}
	return o.db.Update(ctx, func(tx *storage.Tx) error {
		rec, err := tx.Session(id)
		if err != nil {
			return err
		}
		if !rec.Open() {
			return parley.Errorf(parley.EConflict, "Session %s has already ended.", id)
		}
		from := tx.AppendedCount()
		ev := parley.Event{Kind: parley.KindEnded, From: systemAdmin, Reason: reason}
		if _, err := tx.Append(id, &ev); err != nil {
			return err
		}
		next := *rec
		next.State, next.EndReason, next.EndedAt = parley.StateEnded, reason, ev.At
		if err := tx.PutSession(&next); err != nil {
			return err
		}
		// The session.ended deliveries wait in the outbox for the next
		// start, as the running hub would have enqueued them.
		_, err = notify.EnqueueWebhooks(tx, from)
		return err
	})
}

func (o offline) Stats() (LiveStats, error) {
	res := LiveStats{AgentsByStatus: map[string]int{}}
	err := o.db.View(func(tx *storage.Tx) error {
		open, err := tx.OpenSessions()
		if err != nil {
			return err
		}
		queued, err := tx.QueuedSessions()
		if err != nil {
			return err
		}
		agents, err := tx.Agents()
		if err != nil {
			return err
		}
		res.OpenSessions, res.Queued = len(open), len(queued)
		if len(queued) > 0 {
			res.OldestWaitS = max(0, int(o.db.Now().Sub(queued[0].QueuedAt.Time).Seconds()))
		}
		for _, ag := range agents {
			if !ag.Disabled {
				res.AgentsByStatus[parley.StatusOffline]++
			}
		}
		return nil
	})
	return res, err
}
