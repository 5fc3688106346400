package storage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// TestFailingOpCostsOneCommitNotOnePerOp checks that a batch with one
// failing update is retried as one batch without it, not one update per
// transaction: n good updates and a bad one cost one commit, and the bad
// one is then run alone so that it gets its own result.
func TestFailingOpCostsOneCommitNotOnePerOp(t *testing.T) {
	db := openTest(t, Options{})
	s := newSession(t, db, "c1", time.Now())
	bad := newSession(t, db, "c2", time.Now())
	release := gateWriter(t, db)
	before := db.Stats()

	const n = 200
	errBad := errors.New("bad op")
	var goodRuns, badRuns atomic.Int64
	results := make(chan error, n)
	good := func(i int) {
		results <- db.Update(context.Background(), func(tx *Tx) error {
			goodRuns.Add(1)
			_, err := tx.Append(s.ID, msg(fmt.Sprintf("m%d", i)))
			return err
		})
	}
	// Half the good updates, the bad one, then the other half, all queued
	// behind the gate so that they form one batch with the bad one inside.
	for i := 0; i < n/2; i++ {
		go good(i)
	}
	waitQueued(t, db, n/2)
	badErr := make(chan error, 1)
	go func() {
		badErr <- db.Update(context.Background(), func(tx *Tx) error {
			badRuns.Add(1)
			if _, err := tx.Append(bad.ID, msg("half-done")); err != nil {
				return err
			}
			return errBad
		})
	}()
	waitQueued(t, db, n/2+1)
	for i := n / 2; i < n; i++ {
		go good(i)
	}
	waitQueued(t, db, n+1)
	release()

	for i := 0; i < n; i++ {
		require.NoError(t, <-results)
	}
	assert.ErrorIs(t, <-badErr, errBad)
	st := db.Stats()
	assert.Equal(t, uint64(2), st.Commits-before.Commits, "the gate's commit and one for the good updates")
	assert.Equal(t, uint64(n+2), st.Ops-before.Ops, "every update finished once, the gate too")
	assert.Equal(t, int64(2), badRuns.Load(), "the bad update ran in the batch, then alone")
	assert.LessOrEqual(t, goodRuns.Load(), int64(2*n), "good updates ran at most twice")
	evs := allEvents(t, db, s.ID)
	require.Len(t, evs, n)
	for i, ev := range evs {
		assert.Equal(t, uint64(i+1), ev.Seq)
	}
	assert.Empty(t, allEvents(t, db, bad.ID), "the failed update left no partial write")
	require.NoError(t, db.Health())
}

// TestCommitFailureFailsBatchUnavailable checks that a failed commit fails
// every update of its batch with EUnavailable, retries none of them, marks
// storage unhealthy, and that a later successful commit makes it healthy.
func TestCommitFailureFailsBatchUnavailable(t *testing.T) {
	errDisk := errors.New("injected fsync failure")
	var failing atomic.Bool
	db := openTest(t, Options{CommitHook: func() error {
		if failing.Load() {
			return errDisk
		}
		return nil
	}})
	s := newSession(t, db, "c1", time.Now())
	require.NoError(t, db.Health())

	// A gate whose own commit will fail too.
	started, gate := make(chan struct{}), make(chan struct{})
	gateErr := make(chan error, 1)
	go func() {
		gateErr <- db.Update(context.Background(), func(tx *Tx) error {
			select {
			case <-started:
			default:
				close(started)
			}
			<-gate
			return nil
		})
	}()
	<-started
	before := db.Stats()
	const n = 5
	var runs atomic.Int64
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			results <- db.Update(context.Background(), func(tx *Tx) error {
				runs.Add(1)
				_, err := tx.Append(s.ID, msg(fmt.Sprintf("m%d", i)))
				return err
			})
		}()
	}
	waitQueued(t, db, n)
	failing.Store(true)
	close(gate)

	err := <-gateErr
	assert.Equal(t, parley.EUnavailable, parley.ErrorCode(err))
	for i := 0; i < n; i++ {
		err := <-results
		require.Error(t, err)
		assert.Equal(t, parley.EUnavailable, parley.ErrorCode(err), "%v", err)
		assert.ErrorIs(t, err, errDisk, "the cause is kept in the chain")
		assert.Contains(t, err.Error(), "storage: commit of 5 updates failed")
	}
	assert.Equal(t, int64(n), runs.Load(), "updates of a failed commit are not retried")
	assert.Equal(t, before.Commits, db.Stats().Commits)
	assert.Empty(t, allEvents(t, db, s.ID))

	health := db.Health()
	require.Error(t, health)
	assert.Equal(t, parley.EUnavailable, parley.ErrorCode(health))
	assert.ErrorIs(t, health, errDisk)

	// Still failing: an update alone fails the same way.
	err = db.Update(context.Background(), func(tx *Tx) error {
		_, err := tx.Append(s.ID, msg("still failing"))
		return err
	})
	assert.Equal(t, parley.EUnavailable, parley.ErrorCode(err))
	require.Error(t, db.Health())

	// The disk comes back: the next commit succeeds and storage is healthy.
	failing.Store(false)
	update(t, db, func(tx *Tx) error {
		_, err := tx.Append(s.ID, msg("back"))
		return err
	})
	require.NoError(t, db.Health())
	evs := allEvents(t, db, s.ID)
	require.Len(t, evs, 1)
	assert.Equal(t, "back", evs[0].Text)
	assert.Equal(t, uint64(1), evs[0].Seq)
}

// TestOpErrorIsNotAStorageFailure checks that an update's own error leaves
// storage healthy.
func TestOpErrorIsNotAStorageFailure(t *testing.T) {
	db := openTest(t, Options{})
	err := db.Update(context.Background(), func(tx *Tx) error { return errors.New("no") })
	require.Error(t, err)
	assert.Equal(t, parley.EInternal, parley.ErrorCode(err))
	assert.NoError(t, db.Health())
}
