package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func TestQueuesBucket(t *testing.T) {
	db := openTest(t, Options{})
	var qs []parley.Queue
	require.NoError(t, db.View(func(tx *Tx) (err error) { qs, err = tx.Queues(); return }))
	require.Len(t, qs, 1)
	assert.Equal(t, parley.DefaultQueue, qs[0].Name, "the default queue exists from the start")
	assert.False(t, qs[0].CreatedAt.IsZero())

	update(t, db, func(tx *Tx) error { return tx.AddQueue(parley.Queue{Name: "sales", Greeting: "Hi from sales"}) })
	err := db.Update(t.Context(), func(tx *Tx) error { return tx.AddQueue(parley.Queue{Name: "sales"}) })
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err))
	err = db.Update(t.Context(), func(tx *Tx) error { return tx.AddQueue(parley.Queue{Name: "bad name"}) })
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
	require.NoError(t, db.View(func(tx *Tx) error {
		q, err := tx.Queue("sales")
		require.NoError(t, err)
		assert.Equal(t, "Hi from sales", q.Greeting)
		_, err = tx.Queue("nope")
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
		return nil
	}))
	err = db.Update(t.Context(), func(tx *Tx) error { return tx.DeleteQueue(parley.DefaultQueue) })
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err))
	update(t, db, func(tx *Tx) error { return tx.DeleteQueue("sales") })
	require.NoError(t, db.View(func(tx *Tx) (err error) { qs, err = tx.Queues(); return }))
	assert.Len(t, qs, 1)
}

func TestRoutingsPurgedWithSession(t *testing.T) {
	db := openTest(t, Options{})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newSession(t, db, "c1", at)
	other := newSession(t, db, "c2", at)
	r1 := &parley.Routing{SessionID: s.ID, Queue: "default", AgentID: "a1", At: parley.TimeOf(at)}
	r2 := &parley.Routing{SessionID: s.ID, Queue: "default", AgentID: "a2", At: parley.TimeOf(at.Add(time.Minute)), Manual: true}
	r3 := &parley.Routing{SessionID: other.ID, Queue: "default", AgentID: "a1", At: parley.TimeOf(at)}
	update(t, db, func(tx *Tx) error {
		for _, r := range []*parley.Routing{r2, r1, r3} {
			if err := tx.PutRouting(r); err != nil {
				return err
			}
		}
		return nil
	})
	var got []parley.Routing
	require.NoError(t, db.View(func(tx *Tx) (err error) { got, err = tx.Routings(s.ID); return }))
	assert.Equal(t, []parley.Routing{*r1, *r2}, got, "oldest first, only this session's")

	update(t, db, func(tx *Tx) error {
		rec, err := tx.Session(s.ID)
		require.NoError(t, err)
		rec.State, rec.EndedAt = parley.StateEnded, parley.TimeOf(at)
		if err := tx.PutSession(rec); err != nil {
			return err
		}
		return tx.DeleteSession(s.ID)
	})
	require.NoError(t, db.View(func(tx *Tx) (err error) { got, err = tx.Routings(s.ID); return }))
	assert.Empty(t, got, "purged with the session")
	require.NoError(t, db.View(func(tx *Tx) (err error) { got, err = tx.Routings(other.ID); return }))
	assert.Len(t, got, 1)
}
