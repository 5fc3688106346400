package storage

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func queuedIDs(t *testing.T, db *DB) []string {
	t.Helper()
	ids := []string{}
	require.NoError(t, db.View(func(tx *Tx) error {
		rs, err := tx.QueuedSessions()
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return err
	}))
	return ids
}

func put(t *testing.T, db *DB, r *parley.SessionRecord) {
	t.Helper()
	update(t, db, func(tx *Tx) error { return tx.PutSession(r) })
}

func TestSessionRoundTrip(t *testing.T) {
	db := openTest(t, Options{})
	s := newSession(t, db, "c1", time.Now())
	s.Customer.Profile = []byte(`{"plan":"pro"}`)
	s.Agents = []parley.AgentRef{{ID: "a1", Name: "Ann"}}
	s.Participants = []string{"a1"}
	put(t, db, s)
	require.NoError(t, db.View(func(tx *Tx) error {
		got, err := tx.Session(s.ID)
		require.NoError(t, err)
		assert.Equal(t, s, got)
		_, err = tx.Session(parley.NewID(time.Now()))
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
		_, err = tx.Session("../etc/passwd")
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		return nil
	}))
}

func TestPutSessionValidates(t *testing.T) {
	db := openTest(t, Options{})
	now := time.Now()
	bad := []*parley.SessionRecord{
		nil,
		{ID: "nope", State: parley.StateQueued, Customer: parley.Customer{ID: "c"}},
		{ID: parley.NewID(now), State: "weird", Customer: parley.Customer{ID: "c"}},
		{ID: parley.NewID(now), State: parley.StateQueued},
	}
	for _, r := range bad {
		err := db.Update(t.Context(), func(tx *Tx) error { return tx.PutSession(r) })
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err), "%+v", r)
	}
	assert.Zero(t, bucketLen(t, db, bucketSessions))
}

func TestQueueIndex(t *testing.T) {
	db := openTest(t, Options{})
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	late := newSession(t, db, "c1", t0.Add(2*time.Second))
	early1 := newSession(t, db, "c2", t0)
	early2 := newSession(t, db, "c3", t0)
	require.Less(t, early1.ID, early2.ID)
	assert.Equal(t, []string{early1.ID, early2.ID, late.ID}, queuedIDs(t, db), "by QueuedAt, then id")

	// Assigning removes the session from the queue.
	early1.State = parley.StateActive
	early1.AssignedAt = parley.TimeOf(t0.Add(3 * time.Second))
	early1.Agents = []parley.AgentRef{{ID: "a1", Name: "Ann"}}
	put(t, db, early1)
	assert.Equal(t, []string{early2.ID, late.ID}, queuedIDs(t, db))

	// Changing QueuedAt moves the entry.
	early2.QueuedAt = parley.TimeOf(t0.Add(5 * time.Second))
	put(t, db, early2)
	assert.Equal(t, []string{late.ID, early2.ID}, queuedIDs(t, db))

	// Requeueing an active session (agent left) puts it back by QueuedAt.
	early1.State = parley.StateQueued
	early1.Agents = nil
	early1.QueuedAt = parley.TimeOf(t0.Add(4 * time.Second))
	put(t, db, early1)
	assert.Equal(t, []string{late.ID, early1.ID, early2.ID}, queuedIDs(t, db))
	assert.Equal(t, 3, bucketLen(t, db, bucketQueue), "no stale queue entries")

	// Ending removes it too.
	late.State = parley.StateEnded
	late.EndedAt = parley.TimeOf(t0.Add(time.Minute))
	put(t, db, late)
	assert.Equal(t, []string{early1.ID, early2.ID}, queuedIDs(t, db))
	assert.Equal(t, 2, bucketLen(t, db, bucketQueue))
}

func TestOpenIndexAndConflict(t *testing.T) {
	db := openTest(t, Options{})
	now := time.Now()
	s1 := newSession(t, db, "cust", now)
	s2 := &parley.SessionRecord{
		ID: parley.NewID(now), State: parley.StateQueued, Customer: parley.Customer{ID: "cust"},
		CreatedAt: parley.TimeOf(now), QueuedAt: parley.TimeOf(now),
	}
	err := db.Update(t.Context(), func(tx *Tx) error { return tx.PutSession(s2) })
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err))
	require.NoError(t, db.View(func(tx *Tx) error {
		_, err := tx.Session(s2.ID)
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err), "conflict writes nothing")
		open, err := tx.OpenSessionOf("cust")
		require.NoError(t, err)
		assert.Equal(t, s1.ID, open.ID)
		none, err := tx.OpenSessionOf("someone else")
		assert.Nil(t, none)
		return err
	}))
	assert.Equal(t, 1, bucketLen(t, db, bucketQueue))
	assert.Equal(t, 1, bucketLen(t, db, bucketCustomerSessions))

	other := newSession(t, db, "other", now)
	s1.State = parley.StateEnded
	s1.EndedAt = parley.TimeOf(now)
	put(t, db, s1)
	put(t, db, s2) // now allowed
	require.NoError(t, db.View(func(tx *Tx) error {
		open, err := tx.OpenSessionOf("cust")
		require.NoError(t, err)
		assert.Equal(t, s2.ID, open.ID)
		all, err := tx.OpenSessions()
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, []string{s2.ID, other.ID}, []string{all[0].ID, all[1].ID}, "ordered by id")
		return nil
	}))
	// Re-putting an ended session does not touch the customer's open entry.
	put(t, db, s1)
	require.NoError(t, db.View(func(tx *Tx) error {
		open, err := tx.OpenSessionOf("cust")
		require.NoError(t, err)
		assert.Equal(t, s2.ID, open.ID)
		return nil
	}))
}

func TestCustomerSessionsWindow(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	now := clk.Now()
	day := 24 * time.Hour
	end := func(r *parley.SessionRecord, at time.Time) {
		r.State = parley.StateEnded
		r.EndedAt = parley.TimeOf(at)
		put(t, db, r)
	}
	tooOld := newSession(t, db, "cust", now.Add(-15*day))
	end(tooOld, now.Add(-15*day+time.Hour))
	recent := newSession(t, db, "cust", now.Add(-2*day))
	end(recent, now.Add(-2*day+time.Hour))
	sameTimeA := newSession(t, db, "cust", now.Add(-day))
	end(sameTimeA, now.Add(-day+time.Hour))
	sameTimeB := newSession(t, db, "cust", now.Add(-day))
	end(sameTimeB, now.Add(-day+time.Hour))
	require.Less(t, sameTimeA.ID, sameTimeB.ID)
	oldOpen := newSession(t, db, "cust", now.Add(-16*day)) // open, whatever its age
	newSession(t, db, "cust2", now)                        // another customer
	newSession(t, db, "cus", now)                          // a prefix of the customer id

	var got []*parley.SessionRecord
	require.NoError(t, db.View(func(tx *Tx) error {
		var err error
		got, err = tx.CustomerSessions("cust", tx.Now().Add(-14*day))
		return err
	}))
	ids := []string{}
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{sameTimeB.ID, sameTimeA.ID, recent.ID, oldOpen.ID}, ids)

	// A recent open session is listed once, in its place.
	oldOpen.State = parley.StateEnded
	oldOpen.EndedAt = parley.TimeOf(now)
	put(t, db, oldOpen)
	fresh := newSession(t, db, "cust", now.Add(-36*time.Hour))
	require.NoError(t, db.View(func(tx *Tx) error {
		var err error
		got, err = tx.CustomerSessions("cust", now.Add(-14*day))
		return err
	}))
	ids = ids[:0]
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{sameTimeB.ID, sameTimeA.ID, fresh.ID, recent.ID}, ids)

	require.NoError(t, db.View(func(tx *Tx) error {
		none, err := tx.CustomerSessions("nobody", time.Time{})
		assert.Empty(t, none)
		return err
	}))
}

func TestEndedIndexAndRetention(t *testing.T) {
	db := openTest(t, Options{})
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	s := newSession(t, db, "cust", t0)
	ev := msg("hello")
	ev.ClientMsgID = "m1"
	update(t, db, func(tx *Tx) error { _, err := tx.Append(s.ID, ev); return err })
	s.State = parley.StateEnded
	s.EndedAt = parley.TimeOf(t0.Add(time.Hour))
	s.EndReason = parley.EndCustomer
	put(t, db, s)

	sid, err := ulid.ParseStrict(s.ID)
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *Tx) error {
		b, err := tx.bucket(bucketEnded)
		require.NoError(t, err)
		assert.NotNil(t, b.Get(timeIDKey(t0.Add(time.Hour), sid)), "ended key = EndedAt ms + id")
		ids, err := tx.EndedBefore(t0.Add(time.Hour), 0)
		require.NoError(t, err)
		assert.Empty(t, ids)
		ids, err = tx.EndedBefore(t0.Add(time.Hour+time.Millisecond), 10)
		require.NoError(t, err)
		assert.Equal(t, []string{s.ID}, ids)
		return nil
	}))
	assert.Equal(t, 1, bucketLen(t, db, bucketEnded))

	update(t, db, func(tx *Tx) error { return tx.DeleteSession(s.ID) })
	for _, name := range allBuckets {
		if string(name) == string(bucketMeta) || string(name) == string(bucketQueues) {
			continue // configuration, not session data
		}
		assert.Zero(t, bucketLen(t, db, name), "%s", name)
	}
	err = db.Update(t.Context(), func(tx *Tx) error { return tx.DeleteSession(s.ID) })
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
}
