package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func TestOutboxEnqueueIdempotentAndPendingIndex(t *testing.T) {
	db := openTest(t, Options{})
	var first Job
	update(t, db, func(tx *Tx) error {
		first = Job{Kind: JobMail, IdemKey: "k1", Target: "a@example.com", Payload: []byte(`{}`)}
		dup, err := tx.Enqueue(&first)
		assert.False(t, dup)
		return err
	})
	require.Equal(t, uint64(1), first.Seq)
	require.Equal(t, JobPending, first.State)
	update(t, db, func(tx *Tx) error {
		again := Job{Kind: JobMail, IdemKey: "k1", Target: "other@example.com", Payload: []byte(`{}`)}
		dup, err := tx.Enqueue(&again)
		assert.True(t, dup)
		assert.Equal(t, first.ID, again.ID)
		assert.Equal(t, "a@example.com", again.Target, "the first job is returned")
		second := Job{Kind: JobWebhook, Group: "g", Payload: []byte(`{}`)}
		_, err2 := tx.Enqueue(&second)
		return errors.Join(err, err2)
	})
	require.Equal(t, 2, bucketLen(t, db, bucketOutboxPending))
	update(t, db, func(tx *Tx) error {
		j, err := tx.Job(1)
		if err != nil {
			return err
		}
		j.State = JobSent
		return tx.PutJob(j)
	})
	require.NoError(t, db.View(func(tx *Tx) error {
		heads, err := tx.PendingHeads()
		require.NoError(t, err)
		require.Len(t, heads, 1)
		assert.Equal(t, uint64(2), heads[0].Seq)
		assert.Equal(t, "g", heads[0].Group)
		all, err := tx.Jobs(JobQuery{})
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, uint64(2), all[0].Seq, "newest first")
		return nil
	}))
}

// TestAppendedPerUpdateInAGroupCommit: each update of a group commit sees
// only its own appended events from the count it took at its start, and
// an update that fails (rolled back, the batch run again without it)
// leaves no deliveries behind: what wrappers rely on to enqueue webhook
// jobs in the transaction of their events.
func TestAppendedPerUpdateInAGroupCommit(t *testing.T) {
	db := openTest(t, Options{})
	now := time.Now()
	s1, s2 := newSession(t, db, "c1", now), newSession(t, db, "c2", now)
	release := gateWriter(t, db)
	enqueueOwn := func(sid string, fail bool) func(tx *Tx) error {
		return func(tx *Tx) error {
			from := tx.AppendedCount()
			if _, err := tx.Append(sid, &parley.Event{Kind: parley.KindMessage, Text: "hi " + sid}); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			for _, a := range tx.Appended(from) {
				j := Job{Kind: JobWebhook, Target: a.SessionID, Summary: a.Event.Text, Payload: []byte(`{}`)}
				if _, err := tx.Enqueue(&j); err != nil {
					return err
				}
			}
			return nil
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, op := range []func(*Tx) error{enqueueOwn(s1.ID, false), enqueueOwn(s2.ID, true), enqueueOwn(s2.ID, false)} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(context.Background(), op)
		}()
	}
	waitQueued(t, db, 3)
	release()
	wg.Wait()
	require.NoError(t, errs[0])
	require.Error(t, errs[1])
	require.NoError(t, errs[2])
	var jobs []*Job
	require.NoError(t, db.View(func(tx *Tx) (err error) { jobs, err = tx.Jobs(JobQuery{}); return }))
	require.Len(t, jobs, 2, "one job per stored event, none for the failed update")
	targets := map[string]string{}
	for _, j := range jobs {
		targets[j.Target] = j.Summary
	}
	assert.Equal(t, map[string]string{s1.ID: "hi " + s1.ID, s2.ID: "hi " + s2.ID}, targets)
	assert.Len(t, allEvents(t, db, s2.ID), 1, "the failed update stored no event")
}

func TestDeletingASessionDeletesItsJobs(t *testing.T) {
	db := openTest(t, Options{})
	now := time.Now()
	gone, kept := newSession(t, db, "c1", now), newSession(t, db, "c2", now)
	update(t, db, func(tx *Tx) error {
		for _, sid := range []string{gone.ID, gone.ID, kept.ID} {
			j := Job{Kind: JobMail, SessionID: sid, IdemKey: "k-" + parley.NewID(now), Payload: []byte(`{"body":"secret words"}`)}
			if _, err := tx.Enqueue(&j); err != nil {
				return err
			}
		}
		r, err := tx.Session(gone.ID)
		if err != nil {
			return err
		}
		r.State, r.EndedAt = parley.StateEnded, parley.TimeOf(now)
		return tx.PutSession(r)
	})
	update(t, db, func(tx *Tx) error { return tx.DeleteSession(gone.ID) })
	var jobs []*Job
	require.NoError(t, db.View(func(tx *Tx) (err error) { jobs, err = tx.Jobs(JobQuery{}); return }))
	require.Len(t, jobs, 1)
	assert.Equal(t, kept.ID, jobs[0].SessionID)
	assert.Equal(t, 1, bucketLen(t, db, bucketOutboxPending))
	assert.Equal(t, 1, bucketLen(t, db, bucketOutboxIdem))
	assert.Equal(t, 1, bucketLen(t, db, bucketOutboxSessions))
}
