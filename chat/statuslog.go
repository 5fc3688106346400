package chat

import (
	"context"
	"fmt"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// The agents' status history, for reports. What is recorded is the status
// an agent effectively has: offline while it has no connection (whatever
// it asked for last), otherwise the routing machine's status (available,
// draining, break, or offline when asked for or disabled). The dispatcher
// calls logStatus where an agent's status or connections change, in its
// own goroutine; a change is stored through the group-commit writer by a
// goroutine of its own, so routing never waits for the disk. The price: a
// change not yet committed when the process dies is lost, and the
// history then shows the previous status until the next change. When the
// hub opens, every agent whose last recorded status is not offline gets an
// offline change (reason "restart") at that time, and Close records
// offline (reason "shutdown") for everyone online, so a restart never
// shows an agent online across the downtime.

// Reasons of status changes the server makes on its own.
const (
	statusReasonDisconnected = "disconnected"
	statusReasonShutdown     = "shutdown"
	statusReasonRestart      = "restart"
)

// statusLog is the dispatcher's memory of what it recorded. Only the
// dispatcher goroutine uses it.
type statusLog struct {
	// last is each agent's last recorded status; an agent not in it is
	// offline (Open closed every earlier history with offline).
	last map[string]string
	seq  uint64
}

// logStatus records the agent's effective status if it changed. status is
// the machine's status of the agent when the caller has it at hand (a
// status effect); "" looks it up.
func (d *dispatcher) logStatus(agentID, status string) {
	if status == "" {
		v, ok := d.m.Agent(agentID)
		if !ok {
			return
		}
		status = v.Status
	}
	reason := ""
	if status != parley.StatusOffline && d.hub.reg.agentConns(agentID) == 0 {
		status, reason = parley.StatusOffline, statusReasonDisconnected
	}
	d.recordStatus(agentID, status, reason)
}

// recordStatus stores a change of the agent's status unless it is the
// status last recorded.
func (d *dispatcher) recordStatus(agentID, status, reason string) {
	l := &d.statuses
	if l.last == nil {
		l.last = make(map[string]string)
	}
	prev, ok := l.last[agentID]
	if !ok {
		prev = parley.StatusOffline
	}
	if prev == status {
		return
	}
	l.last[agentID] = status
	l.seq++
	d.hub.storeStatus(storage.StatusChange{AgentID: agentID, At: d.hub.now(), Status: status, Reason: reason}, l.seq)
}

// logShutdown records offline for every agent recorded online. Close calls
// it before the dispatcher stops; Close waits for the writes.
func (d *dispatcher) logShutdown() {
	_ = d.call(func() {
		for id, st := range d.statuses.last {
			if st != parley.StatusOffline {
				d.recordStatus(id, parley.StatusOffline, statusReasonShutdown)
			}
		}
	})
}

// storeStatus writes one change in the background, counted in the hub's
// wait group so that Close waits for it. It runs in the dispatcher
// goroutine, itself counted in the wait group, so the Add never races
// Close's Wait.
func (h *Hub) storeStatus(c storage.StatusChange, seq uint64) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := h.update(func(tx *storage.Tx) error { return tx.AppendStatus(c, seq) }); err != nil {
			h.log.Warn("status history: change not recorded", "agent", c.AgentID, "status", c.Status, "err", err)
		}
	}()
}

// openStatusHistory records offline, at the current time, for every agent
// whose history does not end offline: the server stopped (or crashed)
// while it was online, and nobody is connected now. It starts the
// dispatcher's sequence numbers above every stored one, so changes of
// this run sort after older ones of the same millisecond. Open calls it
// before the dispatcher starts.
func (h *Hub) openStatusHistory() error {
	ctx, cancel := context.WithTimeout(context.Background(), h.updateTimeout)
	defer cancel()
	var seq uint64
	err := h.db.Update(ctx, func(tx *storage.Tx) error {
		last, err := tx.LastStatuses()
		if err != nil {
			return err
		}
		seq = 0
		for _, c := range last {
			seq = max(seq, c.Seq)
		}
		for id, c := range last {
			if c.Status == parley.StatusOffline {
				continue
			}
			seq++
			off := storage.StatusChange{AgentID: id, At: h.now(), Status: parley.StatusOffline, Reason: statusReasonRestart}
			if err := tx.AppendStatus(off, seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("close the status history: %w", err)
	}
	h.disp.statuses.seq = seq
	return nil
}
