package chat

import (
	"context"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// purgeChunk bounds how many keys one purge transaction deletes, so live
// traffic never waits long behind a purge.
const purgeChunk = 2000

// PurgeResult counts what a purge or erasure removed, or would remove.
type PurgeResult struct {
	DryRun   bool     `json:"dry_run"`
	Cutoff   string   `json:"cutoff,omitempty"`
	Sessions int      `json:"sessions"`
	Events   int      `json:"events"`
	Bytes    int64    `json:"bytes"`
	Held     int      `json:"held"` // sessions kept because of a legal hold
	IDs      []string `json:"session_ids,omitempty"`
}

// retention holds the purge and erasure logic shared by the janitor and
// the admin commands.
type retention struct {
	db  *storage.DB
	now func() time.Time
}

// purge removes ended sessions that ended before cutoff, except those of
// customers under a legal hold.
func (r retention) purge(ctx context.Context, cutoff time.Time, dryRun bool, actor string) (PurgeResult, error) {
	res := PurgeResult{DryRun: dryRun, Cutoff: parley.TimeOf(cutoff).Format(parley.TimeLayout)}
	var ids []string
	if err := r.db.View(func(tx *storage.Tx) (err error) { ids, err = tx.EndedBefore(cutoff, 0); return }); err != nil {
		return res, err
	}
	holds := make(map[string]bool)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var (
			held   bool
			events int
			bytes  int64
		)
		err := r.db.View(func(tx *storage.Tx) error {
			rec, err := tx.Session(id)
			if err != nil {
				return err
			}
			h, ok := holds[rec.Customer.ID]
			if !ok {
				if h, err = tx.OnHold(rec.Customer.ID); err != nil {
					return err
				}
				holds[rec.Customer.ID] = h
			}
			held = h
			events, bytes, err = tx.SessionSize(id)
			return err
		})
		if parley.ErrorCode(err) == parley.ENotFound {
			continue // purged meanwhile
		} else if err != nil {
			return res, err
		}
		if held {
			res.Held++
			continue
		}
		if !dryRun {
			if err := r.deleteSession(ctx, id); err != nil {
				return res, err
			}
		}
		res.Sessions++
		res.Events += events
		res.Bytes += bytes
		res.IDs = append(res.IDs, id)
	}
	if !dryRun && (res.Sessions > 0 || actor != "janitor") {
		err := r.audit(ctx, &parley.AuditEntry{
			Action: parley.AuditPurge, Actor: actor, Sessions: res.Sessions, Events: res.Events, Bytes: res.Bytes,
			Detail: "ended before " + res.Cutoff,
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// deleteSession removes one ended session in bounded transactions.
func (r retention) deleteSession(ctx context.Context, id string) error {
	for {
		var done bool
		err := r.db.Update(ctx, func(tx *storage.Tx) (err error) {
			done, err = tx.DeleteSessionPart(id, purgeChunk)
			return err
		})
		if parley.ErrorCode(err) == parley.ENotFound {
			return nil // another purge got there first
		} else if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func (r retention) audit(ctx context.Context, e *parley.AuditEntry) error {
	return r.db.Update(ctx, func(tx *storage.Tx) error { return tx.AppendAudit(e) })
}

// janitor purges expired sessions every interval until the hub closes.
func (h *Hub) janitor() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-h.closing:
			return
		case <-t.C:
			h.purgeExpired()
		}
	}
}

// purgeExpired runs one janitor pass.
func (h *Hub) purgeExpired() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	r := retention{db: h.db, now: h.now}
	res, err := r.purge(ctx, h.now().Add(-h.cfg.Retention), false, "janitor")
	if err != nil && ctx.Err() == nil {
		h.log.Error("retention purge failed", "err", err)
		return
	}
	if res.Sessions > 0 {
		h.log.Info("retention purge", "sessions", res.Sessions, "events", res.Events, "bytes", res.Bytes, "held", res.Held)
	}
}

// endRecord returns the ended form of a record and its ended event.
func endRecord(r *parley.SessionRecord, by parley.Participant, reason string) (*parley.SessionRecord, parley.Event) {
	next := cloneRecord(r)
	next.State = parley.StateEnded
	next.EndReason = reason
	return next, parley.Event{Kind: parley.KindEnded, From: by, Reason: reason}
}

// adminParticipant is the author of events caused by operators.
var adminParticipant = parley.Participant{Role: parley.RoleSystem, Name: "admin"}

// EndSession ends an open session on an operator's behalf: through its
// goroutine, so everyone in it is told.
func (h *Hub) EndSession(ctx context.Context, id, reason string) error {
	s := h.session(id)
	if s == nil {
		return endStored(ctx, h.db, id, reason)
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

// endStored ends a session directly in the database, for when no server
// runs (or the session has no goroutine, in which case it is not open).
func endStored(ctx context.Context, db *storage.DB, id, reason string) error {
	if _, err := parley.ParseID(id); err != nil {
		return err
	}
	return db.Update(ctx, func(tx *storage.Tx) error {
		rec, err := tx.Session(id)
		if err != nil {
			return err
		}
		if !rec.Open() {
			return parley.Errorf(parley.EConflict, "Session %s has already ended.", id)
		}
		next, ev := endRecord(rec, adminParticipant, reason)
		if _, err := tx.Append(id, &ev); err != nil {
			return err
		}
		next.EndedAt = ev.At
		return tx.PutSession(next)
	})
}
