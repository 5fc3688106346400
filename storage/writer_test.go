package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func TestAppendConcurrentSeqsContiguous(t *testing.T) {
	db := openTest(t, Options{})
	const sessions, workers, perWorker = 4, 32, 20
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = newSession(t, db, fmt.Sprintf("c%d", i), time.Now()).ID
	}
	before := db.Stats()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				var ev *parley.Event
				errs <- db.Update(context.Background(), func(tx *Tx) error {
					ev = msg(fmt.Sprintf("w%d-%d", w, i))
					_, err := tx.Append(ids[w%sessions], ev)
					return err
				})
				if ev.Seq == 0 {
					errs <- errors.New("seq not filled in")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, id := range ids {
		evs := allEvents(t, db, id)
		require.Len(t, evs, workers/sessions*perWorker)
		for i, ev := range evs {
			require.Equal(t, uint64(i+1), ev.Seq)
		}
		require.NoError(t, db.View(func(tx *Tx) error {
			last, err := tx.LastSeq(id)
			assert.Equal(t, uint64(len(evs)), last)
			return err
		}))
	}
	st := db.Stats()
	ops, commits := st.Ops-before.Ops, st.Commits-before.Commits
	assert.Equal(t, uint64(workers*perWorker), ops)
	assert.Less(t, commits, ops, "concurrent updates must share commits")
	t.Logf("%d ops in %d commits", ops, commits)
}

func TestGroupCommitTakesEverythingQueued(t *testing.T) {
	db := openTest(t, Options{})
	s := newSession(t, db, "c1", time.Now())
	release := gateWriter(t, db)
	before := db.Stats()
	const n = 10
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errc <- db.Update(context.Background(), func(tx *Tx) error {
				_, err := tx.Append(s.ID, msg("hi"))
				return err
			})
		}()
	}
	waitQueued(t, db, n)
	release()
	for i := 0; i < n; i++ {
		require.NoError(t, <-errc)
	}
	st := db.Stats()
	assert.Equal(t, uint64(2), st.Commits-before.Commits, "the gate's commit and one for the batch")
	assert.Equal(t, uint64(n+1), st.Ops-before.Ops)
	assert.Len(t, allEvents(t, db, s.ID), n)
}

func TestMaxBatchBoundsBatches(t *testing.T) {
	db := openTest(t, Options{MaxBatch: 3})
	s := newSession(t, db, "c1", time.Now())
	release := gateWriter(t, db)
	before := db.Stats()
	const n = 5 // 3 fit in the channel, 2 wait to be queued
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errc <- db.Update(context.Background(), func(tx *Tx) error {
				_, err := tx.Append(s.ID, msg("hi"))
				return err
			})
		}()
	}
	waitQueued(t, db, 3)
	release()
	for i := 0; i < n; i++ {
		require.NoError(t, <-errc)
	}
	// The gate's commit, then at least two batches of at most 3.
	assert.GreaterOrEqual(t, db.Stats().Commits-before.Commits, uint64(3))
	assert.Len(t, allEvents(t, db, s.ID), n)
}

func TestFailingOpInBatchIsIsolated(t *testing.T) {
	db := openTest(t, Options{})
	now := time.Now()
	good1 := newSession(t, db, "c1", now)
	bad := newSession(t, db, "c2", now)
	good2 := newSession(t, db, "c3", now)
	release := gateWriter(t, db)
	before := db.Stats()

	errBad := errors.New("bad op")
	var mu sync.Mutex
	runs := map[string]int{}
	appendOp := func(id string, fail error, panics bool) func(tx *Tx) error {
		return func(tx *Tx) error {
			mu.Lock()
			runs[id]++
			mu.Unlock()
			if _, err := tx.Append(id, msg("x")); err != nil {
				return err
			}
			if panics {
				panic("half-done")
			}
			return fail
		}
	}
	type result struct {
		name string
		err  error
	}
	results := make(chan result, 4)
	ops := map[string]func(tx *Tx) error{
		"good1": appendOp(good1.ID, nil, false),
		"bad":   appendOp(bad.ID, errBad, false),
		"panic": appendOp(bad.ID, nil, true),
		"good2": appendOp(good2.ID, nil, false),
	}
	for name, fn := range ops {
		go func() { results <- result{name, db.Update(context.Background(), fn)} }()
	}
	waitQueued(t, db, len(ops))
	release()
	got := map[string]error{}
	for range ops {
		r := <-results
		got[r.name] = r.err
	}
	assert.NoError(t, got["good1"])
	assert.NoError(t, got["good2"])
	assert.ErrorIs(t, got["bad"], errBad)
	assert.Equal(t, parley.EInternal, parley.ErrorCode(got["panic"]))

	assert.Len(t, allEvents(t, db, good1.ID), 1)
	assert.Len(t, allEvents(t, db, good2.ID), 1)
	assert.Empty(t, allEvents(t, db, bad.ID), "failed ops leave no partial writes")
	// The gate's commit, then one for the good ops, retried together
	// without the failing ones (which then fail again alone).
	assert.Equal(t, uint64(2), db.Stats().Commits-before.Commits)
	assert.Equal(t, uint64(5), db.Stats().Ops-before.Ops)
	mu.Lock()
	defer mu.Unlock()
	assert.GreaterOrEqual(t, runs[good1.ID]+runs[good2.ID], 2)
}

func TestDuplicateClientMsgIDWithinOneBatch(t *testing.T) {
	db := openTest(t, Options{})
	s := newSession(t, db, "c1", time.Now())
	release := gateWriter(t, db)
	type result struct {
		ev  parley.Event
		dup bool
		err error
	}
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			var r result
			r.err = db.Update(context.Background(), func(tx *Tx) error {
				ev := msg(fmt.Sprintf("attempt %d", i))
				ev.ClientMsgID = "m-1"
				var err error
				r.dup, err = tx.Append(s.ID, ev)
				r.ev = *ev
				return err
			})
			results <- r
		}()
	}
	waitQueued(t, db, 2)
	release()
	a, b := <-results, <-results
	require.NoError(t, a.err)
	require.NoError(t, b.err)
	require.NotEqual(t, a.dup, b.dup, "exactly one of them is the duplicate")
	assert.Equal(t, a.ev, b.ev, "the duplicate gets the original event")
	assert.Equal(t, uint64(1), a.ev.Seq)
	assert.Len(t, allEvents(t, db, s.ID), 1)
}
