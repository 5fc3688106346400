package admin

import (
	"context"
	"path/filepath"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

func init() {
	for name, cmd := range map[string]Command{
		"queue.ls":      adminArgs((*Admin).Queue),
		"sessions.ls":   adminArgs((*Admin).Sessions),
		"sessions.show": adminArgs((*Admin).ShowSession),
		"sessions.end":  adminArgs((*Admin).EndSession),
		"purge":         adminArgs((*Admin).Purge),
		"erase":         adminArgs((*Admin).Erase),
		"hold.add":      adminArgs((*Admin).AddHold),
		"hold.rm":       adminArgs((*Admin).RemoveHold),
		"hold.ls":       adminNoArgs((*Admin).Holds),
		"audit.ls":      adminArgs((*Admin).AuditLog),
		"backup":        adminArgs((*Admin).Backup),
		"check":         adminNoArgs((*Admin).Check),
		"stats":         adminNoArgs((*Admin).Stats),
	} {
		adminCommands[name] = cmd
	}
}

// QueueRow is one waiting session.
type QueueRow struct {
	// Queue names the session's queue; Position is its place there.
	Queue        string      `json:"queue"`
	Position     int         `json:"position"`
	SessionID    string      `json:"session_id"`
	CustomerID   string      `json:"customer_id"`
	CustomerName string      `json:"customer_name,omitempty"`
	WaitingSince parley.Time `json:"waiting_since"`
	WaitS        int         `json:"wait_s"`
}

// QueueArgs filter queue.ls.
type QueueArgs struct {
	// Queue, if set, lists only the sessions waiting in that queue.
	Queue string `json:"queue,omitempty"`
}

// Queue lists waiting sessions, longest waiting first, each with its
// place in its own queue. With a server running the order is the
// dispatcher's own; otherwise the stored queue's.
func (a *Admin) Queue(ctx context.Context, args QueueArgs) ([]QueueRow, error) {
	order, err := a.live.QueueOrder()
	if err != nil {
		return nil, err
	}
	now := a.now()
	rows := []QueueRow{}
	err = a.db.View(func(tx *storage.Tx) error {
		recs := make([]*parley.SessionRecord, 0, len(order))
		for _, id := range order {
			r, err := tx.Session(id)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		pos := map[string]int{}
		for _, r := range recs {
			q := r.QueueName()
			pos[q]++
			if args.Queue != "" && q != args.Queue {
				continue
			}
			rows = append(rows, QueueRow{
				Queue: q, Position: pos[q], SessionID: r.ID, CustomerID: r.Customer.ID, CustomerName: r.Customer.Name,
				WaitingSince: r.QueuedAt, WaitS: max(0, int(now.Sub(r.QueuedAt.Time).Seconds())),
			})
		}
		return nil
	})
	return rows, err
}

// SessionsArgs filter sessions.ls.
type SessionsArgs struct {
	CustomerID string `json:"customer_id,omitempty"`
	State      string `json:"state,omitempty"`
	Since      string `json:"since,omitempty"` // a duration back from now, e.g. "24h"
	Limit      int    `json:"limit,omitempty"`
}

// Sessions lists sessions, newest first.
func (a *Admin) Sessions(ctx context.Context, args SessionsArgs) ([]parley.Session, error) {
	f := storage.SessionFilter{CustomerID: args.CustomerID, State: args.State, Limit: args.Limit}
	switch args.State {
	case "", parley.StateQueued, parley.StateActive, parley.StateEnded:
	default:
		return nil, parley.Errorf(parley.EBadRequest, "state must be queued, active or ended.")
	}
	if args.Since != "" {
		d, err := parley.ParseDuration(args.Since)
		if err != nil {
			return nil, err
		}
		f.Since = a.now().Add(-d)
	}
	out := []parley.Session{}
	err := a.db.View(func(tx *storage.Tx) error {
		recs, err := tx.Sessions(f)
		if err != nil {
			return err
		}
		for _, r := range recs {
			last, err := tx.LastSeq(r.ID)
			if err != nil {
				return err
			}
			out = append(out, r.Session(last))
		}
		return nil
	})
	return out, err
}

// SessionArgs name one session.
type SessionArgs struct {
	ID string `json:"id"`
}

// SessionDetail is everything stored about one session.
type SessionDetail struct {
	Session      parley.Session  `json:"session"`
	Customer     parley.Customer `json:"customer"`
	Participants []string        `json:"participants"`
	Events       []parley.Event  `json:"events"`
}

// ShowSession returns a session with its participants and every event,
// whispers included.
func (a *Admin) ShowSession(ctx context.Context, args SessionArgs) (SessionDetail, error) {
	var d SessionDetail
	if _, err := parley.ParseID(args.ID); err != nil {
		return d, err
	}
	err := a.db.View(func(tx *storage.Tx) error {
		r, err := tx.Session(args.ID)
		if err != nil {
			return err
		}
		if d.Events, _, err = tx.Events(args.ID, storage.EventQuery{}); err != nil {
			return err
		}
		last, err := tx.LastSeq(args.ID)
		if err != nil {
			return err
		}
		d.Session, d.Customer, d.Participants = r.Session(last), r.Customer, r.Participants
		if d.Participants == nil {
			d.Participants = []string{}
		}
		return nil
	})
	return d, err
}

// EndSession ends an open session with reason admin.
func (a *Admin) EndSession(ctx context.Context, args SessionArgs) (SessionDetail, error) {
	if err := a.live.EndSession(ctx, args.ID, parley.EndAdmin); err != nil {
		return SessionDetail{}, err
	}
	if err := a.ret().audit(ctx, &parley.AuditEntry{Action: parley.AuditEnd, Actor: "cli", SessionID: args.ID}); err != nil {
		return SessionDetail{}, err
	}
	return a.ShowSession(ctx, args)
}

func (a *Admin) ret() retention { return retention{db: a.db, now: a.now} }

// PurgeArgs are the arguments of purge.
type PurgeArgs struct {
	OlderThan string `json:"older_than"`
	DryRun    bool   `json:"dry_run"`
}

// Purge removes sessions that ended longer ago than OlderThan.
func (a *Admin) Purge(ctx context.Context, args PurgeArgs) (PurgeResult, error) {
	if args.OlderThan == "" {
		return PurgeResult{}, parley.Errorf(parley.EBadRequest, "older_than is required (e.g. 90d).")
	}
	d, err := parley.ParseDuration(args.OlderThan)
	if err != nil {
		return PurgeResult{}, err
	}
	return a.ret().purge(ctx, a.now().Add(-d), args.DryRun, "cli")
}

// EraseArgs are the arguments of erase.
type EraseArgs struct {
	CustomerID string `json:"customer_id"`
	DryRun     bool   `json:"dry_run"`
}

// Erase removes everything stored about one customer (a data-subject
// erasure request). An open session is ended first. A customer under a
// legal hold cannot be erased until the hold is released.
func (a *Admin) Erase(ctx context.Context, args EraseArgs) (PurgeResult, error) {
	res := PurgeResult{DryRun: args.DryRun}
	if args.CustomerID == "" {
		return res, parley.Errorf(parley.EBadRequest, "customer id is required.")
	}
	var (
		ids  []string
		held bool
	)
	err := a.db.View(func(tx *storage.Tx) (err error) {
		if held, err = tx.OnHold(args.CustomerID); err != nil {
			return err
		}
		ids, err = tx.CustomerSessionIDs(args.CustomerID)
		return err
	})
	if err != nil {
		return res, err
	}
	if held {
		return res, parley.Errorf(parley.EConflict, "Customer %s is under a legal hold; release it first (parley hold rm).", args.CustomerID)
	}
	for _, id := range ids {
		var (
			open   bool
			events int
			bytes  int64
		)
		measure := func() error {
			return a.db.View(func(tx *storage.Tx) error {
				r, err := tx.Session(id)
				if err != nil {
					return err
				}
				open = r.Open()
				events, bytes, err = tx.SessionSize(id)
				return err
			})
		}
		if err := measure(); err != nil {
			return res, err
		}
		if !args.DryRun {
			if open {
				if _, err := a.EndSession(ctx, SessionArgs{ID: id}); err != nil && parley.ErrorCode(err) != parley.EConflict {
					return res, err
				}
				// Measure again: ending added an event, which is erased too.
				if err := measure(); err != nil {
					return res, err
				}
			}
			if err := a.ret().deleteSession(ctx, id); err != nil {
				return res, err
			}
		}
		res.Sessions++
		res.Events += events
		res.Bytes += bytes
		res.IDs = append(res.IDs, id)
	}
	if !args.DryRun {
		err := a.ret().audit(ctx, &parley.AuditEntry{
			Action: parley.AuditErase, Actor: "cli", CustomerID: args.CustomerID,
			Sessions: res.Sessions, Events: res.Events, Bytes: res.Bytes,
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// HoldArgs are the arguments of hold.add and hold.rm.
type HoldArgs struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason,omitempty"`
}

// AddHold places a legal hold on a customer's sessions.
func (a *Admin) AddHold(ctx context.Context, args HoldArgs) (parley.Hold, error) {
	if args.CustomerID == "" {
		return parley.Hold{}, parley.Errorf(parley.EBadRequest, "customer id is required.")
	}
	h := parley.Hold{CustomerID: args.CustomerID, Reason: args.Reason, CreatedAt: parley.TimeOf(a.now())}
	err := a.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutHold(h); err != nil {
			return err
		}
		return tx.AppendAudit(&parley.AuditEntry{Action: parley.AuditHoldAdd, Actor: "cli", CustomerID: h.CustomerID, Detail: args.Reason})
	})
	return h, err
}

// RemoveHold releases a legal hold.
func (a *Admin) RemoveHold(ctx context.Context, args HoldArgs) (parley.Hold, error) {
	err := a.db.Update(ctx, func(tx *storage.Tx) error {
		ok, err := tx.DeleteHold(args.CustomerID)
		if err != nil {
			return err
		}
		if !ok {
			return parley.Errorf(parley.ENotFound, "Customer %s has no legal hold.", args.CustomerID)
		}
		return tx.AppendAudit(&parley.AuditEntry{Action: parley.AuditHoldRm, Actor: "cli", CustomerID: args.CustomerID})
	})
	return parley.Hold{CustomerID: args.CustomerID}, err
}

// Holds lists legal holds.
func (a *Admin) Holds(ctx context.Context) ([]parley.Hold, error) {
	var hs []parley.Hold
	err := a.db.View(func(tx *storage.Tx) (err error) { hs, err = tx.Holds(); return })
	if hs == nil {
		hs = []parley.Hold{}
	}
	return hs, err
}

// AuditArgs filter audit.ls.
type AuditArgs struct {
	Since string `json:"since,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// AuditLog lists audit entries, newest first.
func (a *Admin) AuditLog(ctx context.Context, args AuditArgs) ([]parley.AuditEntry, error) {
	var since time.Time
	if args.Since != "" {
		d, err := parley.ParseDuration(args.Since)
		if err != nil {
			return nil, err
		}
		since = a.now().Add(-d)
	}
	var es []parley.AuditEntry
	err := a.db.View(func(tx *storage.Tx) (err error) { es, err = tx.Audit(since, args.Limit); return })
	if es == nil {
		es = []parley.AuditEntry{}
	}
	return es, err
}

// BackupArgs are the arguments of backup.
type BackupArgs struct {
	Path string `json:"path"`
}

// BackupResult reports a backup.
type BackupResult struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// Backup writes a consistent copy of the database to an absolute path,
// while the server keeps running.
func (a *Admin) Backup(ctx context.Context, args BackupArgs) (BackupResult, error) {
	if !filepath.IsAbs(args.Path) {
		return BackupResult{}, parley.Errorf(parley.EBadRequest, "backup path must be absolute.")
	}
	n, err := a.db.BackupTo(args.Path)
	return BackupResult{Path: args.Path, Bytes: n}, err
}

// Check verifies the database.
func (a *Admin) Check(ctx context.Context) (storage.CheckReport, error) {
	return a.db.Check()
}

// StatsResult summarises the service for operators.
type StatsResult struct {
	Online         bool           `json:"online"`
	OpenSessions   int            `json:"open_sessions"`
	Queued         int            `json:"queued"`
	OldestWaitS    int            `json:"oldest_wait_s"`
	AgentsByStatus map[string]int `json:"agents_by_status"`
	Connections    int            `json:"connections"`
	DatabaseBytes  int64          `json:"database_bytes"`
	Messages       uint64         `json:"messages_since_start"`
}

// Stats summarises open sessions, the queue, agents and the database.
// Connections and messages are counted only while a server runs; they are
// zero otherwise.
func (a *Admin) Stats(ctx context.Context) (StatsResult, error) {
	res := StatsResult{Online: a.live.Online()}
	size, err := a.db.Size()
	if err != nil {
		return res, err
	}
	res.DatabaseBytes = size
	st, err := a.live.Stats()
	if err != nil {
		return res, err
	}
	res.OpenSessions, res.Queued, res.OldestWaitS = st.OpenSessions, st.Queued, st.OldestWaitS
	res.AgentsByStatus, res.Connections, res.Messages = st.AgentsByStatus, st.Connections, st.Messages
	if res.AgentsByStatus == nil {
		res.AgentsByStatus = map[string]int{}
	}
	return res, nil
}
