package admin_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

const day = 24 * time.Hour

// endedSession stores a session of customer that ended at the clock's
// current time and returns its id.
func endedSession(t *testing.T, db *storage.DB, customer string) string {
	t.Helper()
	at := parley.TimeOf(db.Now())
	r := &parley.SessionRecord{ID: parley.NewID(at.Time), State: parley.StateQueued,
		Customer: parley.Customer{ID: customer}, Agents: []parley.AgentRef{}, CreatedAt: at, QueuedAt: at}
	from := parley.Participant{Role: parley.RoleCustomer, ID: customer}
	require.NoError(t, db.Update(context.Background(), func(tx *storage.Tx) error {
		if err := tx.PutSession(r); err != nil {
			return err
		}
		if _, err := tx.Append(r.ID, &parley.Event{Kind: parley.KindQueued, From: from}); err != nil {
			return err
		}
		end := &parley.Event{Kind: parley.KindEnded, From: from, Reason: parley.EndCustomer}
		if _, err := tx.Append(r.ID, end); err != nil {
			return err
		}
		r.State, r.EndedAt, r.EndReason = parley.StateEnded, end.At, parley.EndCustomer
		return tx.PutSession(r)
	}))
	return r.ID
}

// TestJanitor: with an injected clock, the janitor purges what ended more
// than the retention ago, keeps the rest, records the purge with actor
// janitor, and stops on Close.
func TestJanitor(t *testing.T) {
	var off atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{Now: now})
	require.NoError(t, err)
	defer db.Close()

	old := endedSession(t, db, "c-old")
	off.Add(int64(80 * day))
	young := endedSession(t, db, "c-young")
	off.Add(int64(11 * day)) // old ended 91 days ago, young 11

	a := admin.New(db, admin.Offline(db))
	j := admin.StartJanitor(db, admin.JanitorConfig{Retention: 90 * day, PurgeInterval: time.Millisecond, Now: now})
	var entries []parley.AuditEntry
	require.Eventually(t, func() bool {
		entries, err = a.AuditLog(context.Background(), admin.AuditArgs{})
		return err == nil && len(entries) > 0
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, j.Close())
	require.NoError(t, j.Close(), "Close twice is fine")

	require.Len(t, entries, 1, "passes that remove nothing are not recorded")
	assert.Equal(t, "janitor", entries[0].Actor)
	assert.Equal(t, parley.AuditPurge, entries[0].Action)
	assert.Equal(t, 1, entries[0].Sessions)
	list, err := a.Sessions(context.Background(), admin.SessionsArgs{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, young, list[0].ID)
	_, err = a.ShowSession(context.Background(), admin.SessionArgs{ID: old})
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
}
