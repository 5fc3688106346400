package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func TestHoldsCRUD(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})

	err := db.Update(t.Context(), func(tx *Tx) error { return tx.PutHold(parley.Hold{Reason: "x"}) })
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))

	explicit := parley.TimeOf(clk.Now().Add(-time.Hour))
	update(t, db, func(tx *Tx) error {
		require.NoError(t, tx.PutHold(parley.Hold{CustomerID: "bob", Reason: "lawsuit"}))
		return tx.PutHold(parley.Hold{CustomerID: "alice", Reason: "audit", CreatedAt: explicit})
	})
	require.NoError(t, db.View(func(tx *Tx) error {
		holds, err := tx.Holds()
		require.NoError(t, err)
		assert.Equal(t, []parley.Hold{
			{CustomerID: "alice", Reason: "audit", CreatedAt: explicit},
			{CustomerID: "bob", Reason: "lawsuit", CreatedAt: parley.TimeOf(clk.Now())},
		}, holds, "ordered by customer id; zero CreatedAt filled from the clock")
		for id, want := range map[string]bool{"alice": true, "bob": true, "carol": false, "": false} {
			on, err := tx.OnHold(id)
			require.NoError(t, err)
			assert.Equal(t, want, on, id)
		}
		return nil
	}))

	// Overwrite, then delete.
	update(t, db, func(tx *Tx) error {
		return tx.PutHold(parley.Hold{CustomerID: "alice", Reason: "updated", CreatedAt: explicit})
	})
	var existed, again bool
	update(t, db, func(tx *Tx) (err error) { existed, err = tx.DeleteHold("bob"); return })
	update(t, db, func(tx *Tx) (err error) { again, err = tx.DeleteHold("bob"); return })
	assert.True(t, existed)
	assert.False(t, again)
	require.NoError(t, db.View(func(tx *Tx) error {
		holds, err := tx.Holds()
		require.NoError(t, err)
		assert.Equal(t, []parley.Hold{{CustomerID: "alice", Reason: "updated", CreatedAt: explicit}}, holds)
		on, err := tx.OnHold("bob")
		assert.False(t, on)
		return err
	}))
}

func TestAuditOrderLimitSince(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	t0 := clk.Now()

	var entries []*parley.AuditEntry
	add := func(at time.Time, action string) *parley.AuditEntry {
		clk.Set(at)
		e := &parley.AuditEntry{Action: action, Actor: "cli", CustomerID: "c1", Sessions: 2, Events: 10, Bytes: 1234}
		update(t, db, func(tx *Tx) error { return tx.AppendAudit(e) })
		entries = append(entries, e)
		return e
	}
	first := add(t0, parley.AuditHoldAdd)
	add(t0.Add(time.Minute), parley.AuditPurge)
	add(t0.Add(time.Minute), parley.AuditErase) // same millisecond: id order decides
	add(t0.Add(2*time.Minute+500*time.Microsecond), parley.AuditHoldRm)

	assert.NotEmpty(t, first.ID)
	assert.Equal(t, parley.TimeOf(t0), first.At)
	ids := func(es []parley.AuditEntry) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.Action)
		}
		return out
	}
	require.NoError(t, db.View(func(tx *Tx) error {
		all, err := tx.Audit(time.Time{}, 0)
		require.NoError(t, err)
		assert.Equal(t, []string{parley.AuditHoldRm, parley.AuditErase, parley.AuditPurge, parley.AuditHoldAdd}, ids(all))
		assert.Equal(t, *entries[3], all[0], "stored as appended")

		two, err := tx.Audit(time.Time{}, 2)
		require.NoError(t, err)
		assert.Equal(t, []string{parley.AuditHoldRm, parley.AuditErase}, ids(two))

		since, err := tx.Audit(t0.Add(time.Minute), 0)
		require.NoError(t, err)
		assert.Equal(t, []string{parley.AuditHoldRm, parley.AuditErase, parley.AuditPurge}, ids(since))

		sinceLimited, err := tx.Audit(t0.Add(time.Minute), 1)
		require.NoError(t, err)
		assert.Equal(t, []string{parley.AuditHoldRm}, ids(sinceLimited))

		none, err := tx.Audit(t0.Add(time.Hour), 0)
		require.NoError(t, err)
		assert.Empty(t, none)

		_, err = tx.Audit(time.Time{}, -1)
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		return nil
	}))

	// A caller-set At is kept (normalised); the id is always assigned.
	at := parley.TimeOf(t0.Add(-time.Hour))
	e := &parley.AuditEntry{ID: "caller", Action: parley.AuditEnd, At: at}
	update(t, db, func(tx *Tx) error { return tx.AppendAudit(e) })
	assert.Equal(t, at, e.At)
	_, err := parley.ParseID(e.ID)
	require.NoError(t, err)

	for _, bad := range []*parley.AuditEntry{nil, {}} {
		err := db.Update(t.Context(), func(tx *Tx) error { return tx.AppendAudit(bad) })
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
	}
}
