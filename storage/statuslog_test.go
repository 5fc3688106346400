package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// statusesOf returns StatusHistory's answer as "status@offset" strings,
// offsets from t0.
func statusesOf(t *testing.T, db *DB, agentID string, t0, since, until time.Time) []string {
	t.Helper()
	var out []string
	require.NoError(t, db.View(func(tx *Tx) error {
		return tx.StatusHistory(agentID, since, until, func(c StatusChange) error {
			require.Equal(t, agentID, c.AgentID)
			out = append(out, c.Status+"@"+c.At.Sub(t0).String())
			return nil
		})
	}))
	return out
}

func TestStatusHistoryWindowAndOrder(t *testing.T) {
	db := openTest(t, Options{})
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	a, b := parley.NewID(t0), parley.NewID(t0.Add(time.Millisecond))
	changes := []StatusChange{
		{AgentID: a, At: t0, Status: parley.StatusAvailable},
		{AgentID: a, At: t0.Add(time.Hour), Status: parley.StatusBreak},
		// Two changes in one millisecond keep their order by seq.
		{AgentID: a, At: t0.Add(2 * time.Hour), Status: parley.StatusAvailable},
		{AgentID: a, At: t0.Add(2 * time.Hour), Status: parley.StatusDraining},
		{AgentID: a, At: t0.Add(3 * time.Hour), Status: parley.StatusOffline, Reason: "disconnected"},
		{AgentID: b, At: t0.Add(30 * time.Minute), Status: parley.StatusAvailable},
	}
	// Written in reverse, each in its own commit: the key orders them.
	for i := len(changes) - 1; i >= 0; i-- {
		update(t, db, func(tx *Tx) error { return tx.AppendStatus(changes[i], uint64(i+1)) })
	}
	// The window opens at 1h30m: the change in force then comes first.
	assert.Equal(t, []string{"break@1h0m0s", "available@2h0m0s", "draining@2h0m0s"},
		statusesOf(t, db, a, t0, t0.Add(90*time.Minute), t0.Add(3*time.Hour)))
	// A window opening on a change: the one before, then it.
	assert.Equal(t, []string{"available@0s", "break@1h0m0s"}, statusesOf(t, db, a, t0, t0.Add(time.Hour), t0.Add(2*time.Hour)))
	// Before any change: nothing in force.
	assert.Empty(t, statusesOf(t, db, b, t0, t0, t0.Add(30*time.Minute)))
	assert.Equal(t, []string{"available@30m0s"}, statusesOf(t, db, b, t0, t0.Add(5*time.Hour), t0.Add(6*time.Hour)))

	var agents []string
	var last map[string]StatusChange
	require.NoError(t, db.View(func(tx *Tx) (err error) {
		if err := tx.StatusAgents(func(id string) error { agents = append(agents, id); return nil }); err != nil {
			return err
		}
		last, err = tx.LastStatuses()
		return err
	}))
	assert.Equal(t, []string{a, b}, agents)
	assert.Equal(t, parley.StatusOffline, last[a].Status)
	assert.Equal(t, "disconnected", last[a].Reason)
	assert.Equal(t, uint64(5), last[a].Seq)
	assert.Equal(t, parley.StatusAvailable, last[b].Status)

	// A taken key goes after the changes of its millisecond.
	update(t, db, func(tx *Tx) error {
		return tx.AppendStatus(StatusChange{AgentID: a, At: t0.Add(2 * time.Hour), Status: parley.StatusBreak}, 3)
	})
	assert.Equal(t, []string{"break@1h0m0s", "available@2h0m0s", "draining@2h0m0s", "break@2h0m0s"},
		statusesOf(t, db, a, t0, t0.Add(90*time.Minute), t0.Add(3*time.Hour)))

	err := db.Update(t.Context(), func(tx *Tx) error {
		return tx.AppendStatus(StatusChange{AgentID: a, At: t0, Status: "lunch"}, 9)
	})
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
}

func TestPurgeStatusesKeepsTheOneInForce(t *testing.T) {
	db := openTest(t, Options{})
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	a, b, c := parley.NewID(t0), parley.NewID(t0.Add(time.Millisecond)), parley.NewID(t0.Add(2*time.Millisecond))
	seq := uint64(0)
	put := func(agent string, at time.Duration, status string) {
		seq++
		update(t, db, func(tx *Tx) error {
			return tx.AppendStatus(StatusChange{AgentID: agent, At: t0.Add(at), Status: status}, seq)
		})
	}
	// a: five changes before the cutoff (10h), one after.
	for i, st := range []string{"available", "break", "available", "break", "offline"} {
		put(a, time.Duration(i)*time.Hour, st)
	}
	put(a, 11*time.Hour, "available")
	// b: one change before the cutoff, which stays.
	put(b, time.Hour, "available")
	// c: only changes after the cutoff.
	put(c, 12*time.Hour, "available")
	cutoff := t0.Add(10 * time.Hour)

	var n int
	require.NoError(t, db.View(func(tx *Tx) (err error) { n, err = tx.CountStatusesBefore(cutoff); return }))
	assert.Equal(t, 4, n)

	// Bounded: three keys per transaction.
	var deleted []int
	for {
		var (
			got  int
			more bool
		)
		update(t, db, func(tx *Tx) (err error) { got, more, err = tx.PurgeStatuses(cutoff, 3); return })
		deleted = append(deleted, got)
		if !more {
			break
		}
	}
	total := 0
	for _, d := range deleted {
		assert.LessOrEqual(t, d, 3)
		total += d
	}
	assert.Equal(t, 4, total)
	assert.Greater(t, len(deleted), 1, "took more than one transaction")
	assert.Equal(t, []string{"offline@4h0m0s", "available@11h0m0s"}, statusesOf(t, db, a, t0, cutoff, t0.Add(24*time.Hour)))
	assert.Equal(t, []string{"available@1h0m0s"}, statusesOf(t, db, b, t0, cutoff, t0.Add(24*time.Hour)))
	assert.Equal(t, []string{"available@12h0m0s"}, statusesOf(t, db, c, t0, cutoff, t0.Add(24*time.Hour)))
	assert.Equal(t, 4, bucketLen(t, db, bucketAgentStatus))
	require.NoError(t, db.View(func(tx *Tx) (err error) { n, err = tx.CountStatusesBefore(cutoff); return }))
	assert.Zero(t, n)
}
