package storage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// endSession marks a stored session ended at the given time.
func endSession(t testing.TB, db *DB, r *parley.SessionRecord, at time.Time) {
	t.Helper()
	r.State = parley.StateEnded
	r.EndedAt = parley.TimeOf(at)
	r.EndReason = parley.EndCustomer
	update(t, db, func(tx *Tx) error { return tx.PutSession(r) })
}

// appendN appends n messages to a session in one update; every other one
// carries a client_msg_id.
func appendN(t testing.TB, db *DB, sessionID string, n int) {
	t.Helper()
	update(t, db, func(tx *Tx) error {
		for i := range n {
			ev := msg(fmt.Sprintf("message %d %s", i, strings.Repeat("x", 100)))
			if i%2 == 0 {
				ev.ClientMsgID = fmt.Sprintf("cm-%d", i)
			}
			if _, err := tx.Append(sessionID, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// requireHealthy runs Check and requires that it found no problem.
func requireHealthy(t testing.TB, db *DB) CheckReport {
	t.Helper()
	rep, err := db.Check()
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	return rep
}

func sessionIDs(rs []*parley.SessionRecord) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestSessionsFilters(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	t0 := clk.Now()
	at := func(d time.Duration) time.Time { clk.Set(t0.Add(d)); return db.Now() }

	a1 := newSession(t, db, "a", at(0))
	endSession(t, db, a1, at(30*time.Minute))
	a2 := newSession(t, db, "a", at(time.Hour))
	a2.State, a2.AssignedAt = parley.StateActive, parley.TimeOf(at(time.Hour+time.Minute))
	put(t, db, a2)
	b1 := newSession(t, db, "b", at(2*time.Hour))
	endSession(t, db, b1, at(150*time.Minute))
	b2 := newSession(t, db, "b", at(3*time.Hour))
	c1 := newSession(t, db, "c", at(4*time.Hour))

	for _, tc := range []struct {
		f    SessionFilter
		want []*parley.SessionRecord
	}{
		{SessionFilter{}, []*parley.SessionRecord{c1, b2, b1, a2, a1}},
		{SessionFilter{State: parley.StateQueued}, []*parley.SessionRecord{c1, b2}},
		{SessionFilter{State: parley.StateActive}, []*parley.SessionRecord{a2}},
		{SessionFilter{State: parley.StateEnded}, []*parley.SessionRecord{b1, a1}},
		{SessionFilter{CustomerID: "a"}, []*parley.SessionRecord{a2, a1}},
		{SessionFilter{CustomerID: "a", State: parley.StateEnded}, []*parley.SessionRecord{a1}},
		{SessionFilter{CustomerID: "b", State: parley.StateQueued}, []*parley.SessionRecord{b2}},
		{SessionFilter{CustomerID: "b", Limit: 1}, []*parley.SessionRecord{b2}},
		{SessionFilter{CustomerID: "a", Since: t0.Add(time.Hour)}, []*parley.SessionRecord{a2}},
		{SessionFilter{CustomerID: "nobody"}, nil},
		{SessionFilter{Since: t0.Add(time.Hour)}, []*parley.SessionRecord{c1, b2, b1, a2}},
		{SessionFilter{Since: t0.Add(time.Hour + time.Millisecond)}, []*parley.SessionRecord{c1, b2, b1}},
		{SessionFilter{Since: t0.Add(time.Hour), State: parley.StateEnded}, []*parley.SessionRecord{b1}},
		{SessionFilter{Since: t0.Add(3 * time.Hour), State: parley.StateQueued}, []*parley.SessionRecord{c1, b2}},
		{SessionFilter{Since: t0.Add(4 * time.Hour), State: parley.StateQueued}, []*parley.SessionRecord{c1}},
		{SessionFilter{Limit: 2}, []*parley.SessionRecord{c1, b2}},
		{SessionFilter{State: parley.StateQueued, Limit: 1}, []*parley.SessionRecord{c1}},
		{SessionFilter{State: parley.StateEnded, Limit: 1}, []*parley.SessionRecord{b1}},
		{SessionFilter{Since: t0.Add(5 * time.Hour)}, nil},
	} {
		require.NoError(t, db.View(func(tx *Tx) error {
			got, err := tx.Sessions(tc.f)
			require.NoError(t, err)
			assert.Equal(t, sessionIDs(tc.want), sessionIDs(got), "%+v", tc.f)
			return nil
		}))
	}

	require.NoError(t, db.View(func(tx *Tx) error {
		full, err := tx.Sessions(SessionFilter{CustomerID: "a", State: parley.StateActive})
		require.NoError(t, err)
		require.Len(t, full, 1)
		assert.Equal(t, a2, full[0], "whole records are returned")

		for _, bad := range []SessionFilter{{State: "closed"}, {Limit: -1}} {
			_, err := tx.Sessions(bad)
			assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err), "%+v", bad)
		}

		ids, err := tx.CustomerSessionIDs("a")
		require.NoError(t, err)
		assert.Equal(t, []string{a1.ID, a2.ID}, ids, "every session, oldest first")
		ids, err = tx.CustomerSessionIDs("nobody")
		require.NoError(t, err)
		assert.Empty(t, ids)
		return nil
	}))
}

// rawSize sums key and value lengths of every bucket but meta.
func rawSize(t *testing.T, db *DB) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.View(func(tx *Tx) error {
		for _, name := range allBuckets {
			if string(name) == string(bucketMeta) || string(name) == string(bucketQueues) {
				continue // configuration, not session data
			}
			b, err := tx.bucket(name)
			require.NoError(t, err)
			require.NoError(t, b.ForEach(func(k, v []byte) error { n += int64(len(k) + len(v)); return nil }))
		}
		return nil
	}))
	return n
}

func TestSessionSizeCounts(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	s := newSession(t, db, "cust", clk.Now())
	size := func(id string) (int, int64) {
		var (
			n int
			b int64
		)
		require.NoError(t, db.View(func(tx *Tx) (err error) { n, b, err = tx.SessionSize(id); return }))
		return n, b
	}

	n, b := size(s.ID)
	assert.Equal(t, 0, n)
	assert.Equal(t, rawSize(t, db), b, "record + customer, open and queue index entries")

	appendN(t, db, s.ID, 7) // 4 of them with client_msg_ids
	n, b = size(s.ID)
	assert.Equal(t, 7, n)
	assert.Equal(t, rawSize(t, db), b)

	endSession(t, db, s, clk.Now().Add(time.Minute))
	n, b = size(s.ID)
	assert.Equal(t, 7, n)
	assert.Equal(t, rawSize(t, db), b, "ended index instead of open and queue")

	// Another session does not change the first one's size.
	other := newSession(t, db, "cust2", clk.Now().Add(time.Second))
	appendN(t, db, other.ID, 3)
	n2, b2 := size(s.ID)
	assert.Equal(t, n, n2)
	assert.Equal(t, b, b2)

	err := db.View(func(tx *Tx) error { _, _, err := tx.SessionSize(parley.NewID(clk.Now())); return err })
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
	err = db.View(func(tx *Tx) error { _, _, err := tx.SessionSize("garbage"); return err })
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
}

func TestDeleteSessionPart(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	keep := newSession(t, db, "keep", clk.Now())
	appendN(t, db, keep.ID, 2)
	s := newSession(t, db, "cust", clk.Now().Add(time.Second))
	appendN(t, db, s.ID, 10) // 10 events + 5 client_msg_id entries = 15 keys
	endSession(t, db, s, clk.Now().Add(time.Minute))
	before := requireHealthy(t, db)
	assert.Equal(t, 12, before.Events)

	err := db.Update(t.Context(), func(tx *Tx) error { _, err := tx.DeleteSessionPart(s.ID, 0); return err })
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))

	calls := 0
	for done := false; !done; {
		calls++
		require.LessOrEqual(t, calls, 10, "DeleteSessionPart never finished")
		update(t, db, func(tx *Tx) (err error) { done, err = tx.DeleteSessionPart(s.ID, 4); return })
		rep := requireHealthy(t, db) // the remains stay consistent between calls
		if !done {
			assert.Equal(t, 1+1, rep.Sessions)
		}
	}
	assert.Equal(t, 4, calls, "15 keys in chunks of 4")

	rep := requireHealthy(t, db)
	assert.Equal(t, 1, rep.Sessions)
	assert.Equal(t, 2, rep.Events)
	err = db.View(func(tx *Tx) error { _, err := tx.Session(s.ID); return err })
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
	assert.Len(t, allEvents(t, db, keep.ID), 2, "other sessions untouched")
	assert.Equal(t, 1, bucketLen(t, db, bucketClientMsgIDs))
	assert.Zero(t, bucketLen(t, db, bucketEnded))
	assert.Equal(t, 1, bucketLen(t, db, bucketCustomerSessions))

	err = db.Update(t.Context(), func(tx *Tx) error { _, err := tx.DeleteSessionPart(s.ID, 4); return err })
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))

	// A session whose keys fit exactly in maxKeys finishes in one call.
	exact := newSession(t, db, "exact", clk.Now().Add(2*time.Second))
	appendN(t, db, exact.ID, 2) // 3 keys
	endSession(t, db, exact, clk.Now().Add(time.Minute))
	var done bool
	update(t, db, func(tx *Tx) (err error) { done, err = tx.DeleteSessionPart(exact.ID, 3); return })
	assert.True(t, done)
	requireHealthy(t, db)
}

func TestDeleteOpenSessionRefused(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	s := newSession(t, db, "cust", clk.Now())
	appendN(t, db, s.ID, 3)
	for name, del := range map[string]func(tx *Tx) error{
		"DeleteSession":     func(tx *Tx) error { return tx.DeleteSession(s.ID) },
		"DeleteSessionPart": func(tx *Tx) error { _, err := tx.DeleteSessionPart(s.ID, 100); return err },
	} {
		err := db.Update(t.Context(), del)
		assert.Equal(t, parley.EConflict, parley.ErrorCode(err), name)
	}
	assert.Len(t, allEvents(t, db, s.ID), 3)
	rep := requireHealthy(t, db)
	assert.Equal(t, 1, rep.Sessions)
}
