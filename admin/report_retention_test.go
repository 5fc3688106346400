package admin_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// TestReportDataPurgedWithRetention: a purge removes the status changes
// older than its cutoff but each agent's change in force at the cutoff
// (so a report of a window after the cutoff is unchanged), and with the
// sessions their milestones; an erasure takes a customer's sessions out
// of the reports.
func TestReportDataPurgedWithRetention(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setDay := func(d int) { mu.Lock(); now = t0.Add(time.Duration(d) * day); mu.Unlock() }
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{Now: clock})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()

	agent := parley.NewID(t0)
	require.NoError(t, db.Update(ctx, func(tx *storage.Tx) error {
		for i, st := range []string{parley.StatusAvailable, parley.StatusBreak, parley.StatusAvailable} {
			c := storage.StatusChange{AgentID: agent, At: t0.Add(time.Duration(i) * day), Status: st}
			if err := tx.AppendStatus(c, uint64(i+1)); err != nil {
				return err
			}
		}
		// One change after the cutoff.
		return tx.AppendStatus(storage.StatusChange{AgentID: agent, At: t0.Add(95 * day), Status: parley.StatusOffline}, 4)
	}))
	setDay(1)
	endedSession(t, db, "c-old")
	setDay(50)
	endedSession(t, db, "c-young")
	setDay(100)

	a := admin.New(db, admin.Offline(db))
	report := func() (admin.AgentReport, admin.QueueReport) {
		t.Helper()
		ag, err := a.ReportAgents(ctx, admin.ReportArgs{Since: "95d"})
		require.NoError(t, err)
		q, err := a.ReportQueue(ctx, admin.ReportArgs{Since: "100d"})
		require.NoError(t, err)
		return ag, q
	}
	agents, queue := report()
	require.Len(t, agents.Agents, 1)
	// Day 5 to 95 available (the change of day 2 is in force), then offline.
	assert.Equal(t, 90*86400.0, agents.Agents[0].AvailableS)
	assert.Equal(t, 5*86400.0, agents.Agents[0].OfflineS)
	require.Len(t, queue.Rows, 1)
	assert.Equal(t, 2, queue.Rows[0].Arrivals)

	dry, err := a.Purge(ctx, admin.PurgeArgs{OlderThan: "90d", DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, 1, dry.Sessions)
	assert.Equal(t, 2, dry.StatusChanges, "the changes of days 0 and 1; day 2's is in force at the cutoff")
	res, err := a.Purge(ctx, admin.PurgeArgs{OlderThan: "90d"})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Sessions)
	assert.Equal(t, 2, res.StatusChanges)
	var left []string
	require.NoError(t, db.View(func(tx *storage.Tx) error {
		return tx.StatusHistory(agent, t0, t0.Add(200*day), func(c storage.StatusChange) error {
			left = append(left, c.Status)
			return nil
		})
	}))
	assert.Equal(t, []string{parley.StatusAvailable, parley.StatusOffline}, left)
	audit, err := a.AuditLog(ctx, admin.AuditArgs{})
	require.NoError(t, err)
	require.NotEmpty(t, audit)
	assert.Contains(t, audit[0].Detail, "2 agent status changes")

	after, queue := report()
	assert.Equal(t, agents, after, "a window after the cutoff reports the same")
	require.Len(t, queue.Rows, 1)
	assert.Equal(t, 1, queue.Rows[0].Arrivals, "the purged session is gone from the reports")

	_, err = a.Erase(ctx, admin.EraseArgs{CustomerID: "c-young"})
	require.NoError(t, err)
	_, queue = report()
	assert.Empty(t, queue.Rows, "the erased customer's session is gone from the reports")
}
