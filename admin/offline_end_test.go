package admin_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// TestOfflineEndSessionEnqueuesWebhooks: `parley sessions end` on a
// stopped server enqueues the session.ended delivery in the same
// transaction, as the running hub does, so the next start sends it.
func TestOfflineEndSessionEnqueuesWebhooks(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	a := admin.New(db, admin.Offline(db))
	_, err = a.AddWebhook(ctx, admin.WebhookAddArgs{URL: "http://127.0.0.1:1/hook", Events: []string{"session.ended"}, Secret: "offline-secret-0123"})
	require.NoError(t, err)

	at := parley.TimeOf(db.Now())
	r := &parley.SessionRecord{ID: parley.NewID(at.Time), State: parley.StateQueued,
		Customer: parley.Customer{ID: "c-1"}, Agents: []parley.AgentRef{}, CreatedAt: at, QueuedAt: at}
	require.NoError(t, db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutSession(r); err != nil {
			return err
		}
		_, err := tx.Append(r.ID, &parley.Event{Kind: parley.KindQueued, From: parley.Participant{Role: parley.RoleCustomer, ID: "c-1"}})
		return err
	}))

	d, err := a.EndSession(ctx, admin.SessionArgs{ID: r.ID})
	require.NoError(t, err)
	require.Equal(t, parley.StateEnded, d.Session.State)
	jobs, err := a.Deliveries(ctx, admin.JobsArgs{})
	require.NoError(t, err)
	require.Len(t, jobs, 1, "one session.ended delivery")
	assert.Equal(t, "session.ended "+r.ID+" #2", jobs[0].Summary)
	assert.Equal(t, "pending", jobs[0].State)
}
