package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
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

	// StatusChanges counts the agent status changes older than the cutoff
	// removed (each agent keeps the one in force at the cutoff).
	StatusChanges int `json:"status_changes,omitempty"`
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
	statuses, err := r.purgeStatuses(ctx, cutoff, dryRun)
	if err != nil {
		return res, err
	}
	res.StatusChanges = statuses
	if !dryRun && (res.Sessions > 0 || res.StatusChanges > 0 || actor != "janitor") {
		detail := "ended before " + res.Cutoff
		if res.StatusChanges > 0 {
			detail += fmt.Sprintf("; %d agent status changes", res.StatusChanges)
		}
		err := r.audit(ctx, &parley.AuditEntry{
			Action: parley.AuditPurge, Actor: actor, Sessions: res.Sessions, Events: res.Events, Bytes: res.Bytes,
			Detail: detail,
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// deleteSession removes one ended session in bounded transactions, then
// the blobs of its files that no other file uses.
func (r retention) deleteSession(ctx context.Context, id string) error {
	var hashes []string
	if err := r.db.View(func(tx *storage.Tx) (err error) { hashes, err = tx.SessionFileHashes(id); return }); err != nil {
		return err
	}
	if err := r.deleteRecords(ctx, id); err != nil {
		return err
	}
	_, err := r.db.CollectBlobs(hashes)
	return err
}

// deleteRecords removes one ended session's records in bounded
// transactions.
func (r retention) deleteRecords(ctx context.Context, id string) error {
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

// purgeStatuses removes agent status changes older than cutoff in bounded
// transactions (or only counts them), keeping each agent's change in force
// at cutoff.
func (r retention) purgeStatuses(ctx context.Context, cutoff time.Time, dryRun bool) (int, error) {
	if dryRun {
		var n int
		err := r.db.View(func(tx *storage.Tx) (err error) { n, err = tx.CountStatusesBefore(cutoff); return })
		return n, err
	}
	total := 0
	for {
		var (
			n    int
			more bool
		)
		err := r.db.Update(ctx, func(tx *storage.Tx) (err error) {
			n, more, err = tx.PurgeStatuses(cutoff, purgeChunk)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

func (r retention) audit(ctx context.Context, e *parley.AuditEntry) error {
	return r.db.Update(ctx, func(tx *storage.Tx) error { return tx.AppendAudit(e) })
}

// JanitorConfig configures a Janitor.
type JanitorConfig struct {
	// Retention is how long ended sessions are kept, counted from their
	// end. It must be positive.
	Retention time.Duration
	// PurgeInterval is how often the janitor purges; default 1h.
	PurgeInterval time.Duration
	// Now is the clock; default the database's.
	Now func() time.Time
	// Logger receives a line per purge that removed something, and errors.
	Logger *slog.Logger
}

// Janitor purges expired sessions periodically (serve's --retention and
// --purge-interval), recording each purge that removed something in the
// audit log with actor "janitor".
type Janitor struct {
	ret     retention
	cfg     JanitorConfig
	log     *slog.Logger
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
}

// StartJanitor starts purging sessions of db that ended more than
// cfg.Retention ago, every cfg.PurgeInterval, until Close.
func StartJanitor(db *storage.DB, cfg JanitorConfig) *Janitor {
	if cfg.PurgeInterval <= 0 {
		cfg.PurgeInterval = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = db.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	j := &Janitor{
		ret: retention{db: db, now: cfg.Now}, cfg: cfg, log: cfg.Logger,
		closing: make(chan struct{}), done: make(chan struct{}),
	}
	go j.run()
	return j
}

// Close stops the janitor, interrupting a purge in progress, and waits
// for it to finish.
func (j *Janitor) Close() error {
	j.once.Do(func() { close(j.closing) })
	<-j.done
	return nil
}

func (j *Janitor) run() {
	defer close(j.done)
	t := time.NewTicker(j.cfg.PurgeInterval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-j.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-j.closing:
			return
		case <-t.C:
			j.purgeExpired(ctx)
		}
	}
}

// purgeExpired runs one janitor pass.
func (j *Janitor) purgeExpired(ctx context.Context) {
	res, err := j.ret.purge(ctx, j.cfg.Now().Add(-j.cfg.Retention), false, "janitor")
	if err != nil && ctx.Err() == nil {
		j.log.Error("retention purge failed", "err", err)
		return
	}
	if res.Sessions > 0 {
		j.log.Info("retention purge", "sessions", res.Sessions, "events", res.Events, "bytes", res.Bytes, "held", res.Held)
	}
	// Blobs left behind by a crash between deleting file records and
	// their blobs go too.
	if n, err := j.ret.db.CollectOrphanBlobs(); err != nil && ctx.Err() == nil {
		j.log.Error("collect orphan blobs", "err", err)
	} else if n > 0 {
		j.log.Info("collected orphan blobs", "blobs", n)
	}
}
