package storage

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func TestAppendFillsInFields(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	s := newSession(t, db, "c1", clk.Now())
	clk.Set(clk.Now().Add(1500 * time.Microsecond))

	ev1, ev2 := msg("one"), msg("two")
	ev2.ID = parley.NewID(clk.Now())
	preset := ev2.ID
	update(t, db, func(tx *Tx) error {
		last, err := tx.LastSeq(s.ID)
		require.NoError(t, err)
		assert.Zero(t, last)
		for _, ev := range []*parley.Event{ev1, ev2} {
			dup, err := tx.Append(s.ID, ev)
			require.NoError(t, err)
			assert.False(t, dup)
		}
		return nil
	})
	assert.Equal(t, uint64(1), ev1.Seq)
	assert.Equal(t, uint64(2), ev2.Seq)
	_, err := parley.ParseID(ev1.ID)
	assert.NoError(t, err)
	assert.Equal(t, preset, ev2.ID)
	assert.Equal(t, parley.TimeOf(clk.Now()), ev1.At)

	require.NoError(t, db.View(func(tx *Tx) error {
		got, err := tx.Event(s.ID, 1)
		require.NoError(t, err)
		assert.Equal(t, *ev1, got)
		last, err := tx.LastSeq(s.ID)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), last)

		_, err = tx.Event(s.ID, 3)
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
		_, err = tx.Event("garbage", 1)
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		_, err = tx.LastSeq("garbage")
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		return nil
	}))
}

func TestAppendErrors(t *testing.T) {
	db := openTest(t, Options{})
	s := newSession(t, db, "c1", time.Now())
	update(t, db, func(tx *Tx) error {
		_, err := tx.Append(parley.NewID(time.Now()), msg("x"))
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
		_, err = tx.Append("not-an-id", msg("x"))
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		_, err = tx.Append(s.ID, nil)
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		long := msg("x")
		long.ClientMsgID = string(make([]byte, parley.MaxClientMsgIDBytes+1))
		_, err = tx.Append(s.ID, long)
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		return nil
	})
	assert.Empty(t, allEvents(t, db, s.ID))
	err := db.View(func(tx *Tx) error {
		_, err := tx.Append(s.ID, msg("read-only"))
		return err
	})
	assert.Error(t, err, "writes fail in View")
}

func TestAppendDuplicateClientMsgID(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	s := newSession(t, db, "c1", clk.Now())
	other := newSession(t, db, "c2", clk.Now())

	first := msg("hello")
	first.ClientMsgID = "cm-1"
	update(t, db, func(tx *Tx) error {
		dup, err := tx.Append(s.ID, first)
		assert.False(t, dup)
		return err
	})
	update(t, db, func(tx *Tx) error {
		_, err := tx.Append(s.ID, msg("in between"))
		return err
	})

	clk.Set(clk.Now().Add(time.Minute))
	again := msg("hello, retried")
	again.ClientMsgID = "cm-1"
	update(t, db, func(tx *Tx) error {
		dup, err := tx.Append(s.ID, again)
		assert.True(t, dup)
		return err
	})
	assert.Equal(t, *first, *again, "the duplicate gets the original seq, id, at and text")
	assert.Len(t, allEvents(t, db, s.ID), 2, "the duplicate stored nothing")

	// The same client_msg_id in another session is not a duplicate.
	elsewhere := msg("hello")
	elsewhere.ClientMsgID = "cm-1"
	update(t, db, func(tx *Tx) error {
		dup, err := tx.Append(other.ID, elsewhere)
		assert.False(t, dup)
		return err
	})
	assert.Equal(t, uint64(1), elsewhere.Seq)

	// The index survives a restart.
	require.NoError(t, db.Close())
	db, err = Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	afterReopen := msg("hello, after restart")
	afterReopen.ClientMsgID = "cm-1"
	update(t, db, func(tx *Tx) error {
		dup, err := tx.Append(s.ID, afterReopen)
		assert.True(t, dup)
		return err
	})
	assert.Equal(t, *first, *afterReopen)
	assert.Len(t, allEvents(t, db, s.ID), 2)
}

// pagingFixture stores 10 events in a session (whispers at seq 1, 6 and 9)
// and events in neighbouring sessions, which must never leak into pages.
func pagingFixture(t *testing.T) (*DB, string) {
	db := openTest(t, Options{})
	now := time.Now()
	before := newSession(t, db, "c0", now)
	s := newSession(t, db, "c1", now)
	after := newSession(t, db, "c2", now)
	require.Less(t, before.ID, s.ID)
	require.Less(t, s.ID, after.ID)
	update(t, db, func(tx *Tx) error {
		for _, id := range []string{before.ID, after.ID} {
			for i := 0; i < 3; i++ {
				if _, err := tx.Append(id, msg("neighbour")); err != nil {
					return err
				}
			}
		}
		for i := 1; i <= 10; i++ {
			ev := msg("m")
			ev.Whisper = i == 1 || i == 6 || i == 9
			if _, err := tx.Append(s.ID, ev); err != nil {
				return err
			}
		}
		return nil
	})
	return db, s.ID
}

func seqs(evs []parley.Event) []uint64 {
	out := []uint64{}
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}

func TestEventsPaging(t *testing.T) {
	db, sid := pagingFixture(t)
	empty := newSession(t, db, "c9", time.Now())
	cases := []struct {
		name string
		q    EventQuery
		want []uint64
		more bool
	}{
		{"all", EventQuery{}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, false},
		{"after", EventQuery{AfterSeq: 4, Limit: 3}, []uint64{5, 6, 7}, true},
		{"after to end", EventQuery{AfterSeq: 7, Limit: 3}, []uint64{8, 9, 10}, false},
		{"after unlimited", EventQuery{AfterSeq: 7}, []uint64{8, 9, 10}, false},
		{"after last", EventQuery{AfterSeq: 10, Limit: 3}, []uint64{}, false},
		{"after beyond", EventQuery{AfterSeq: ^uint64(0)}, []uint64{}, false},
		{"latest", EventQuery{Limit: 3}, []uint64{8, 9, 10}, true},
		{"before", EventQuery{BeforeSeq: 5, Limit: 3}, []uint64{2, 3, 4}, true},
		{"before to start", EventQuery{BeforeSeq: 4, Limit: 3}, []uint64{1, 2, 3}, false},
		{"before first", EventQuery{BeforeSeq: 1, Limit: 3}, []uint64{}, false},
		{"before beyond end", EventQuery{BeforeSeq: 100, Limit: 2}, []uint64{9, 10}, true},
		{"before unlimited", EventQuery{BeforeSeq: 4}, []uint64{1, 2, 3}, false},
		{"latest visible", EventQuery{Limit: 3, NoWhispers: true}, []uint64{7, 8, 10}, true},
		{"visible before, only whispers older", EventQuery{BeforeSeq: 3, Limit: 1, NoWhispers: true}, []uint64{2}, false},
		{"visible before", EventQuery{BeforeSeq: 8, Limit: 2, NoWhispers: true}, []uint64{5, 7}, true},
		{"visible after", EventQuery{AfterSeq: 7, Limit: 1, NoWhispers: true}, []uint64{8}, true},
		{"visible after skips a whisper", EventQuery{AfterSeq: 5, Limit: 1, NoWhispers: true}, []uint64{7}, true},
		{"visible after to end", EventQuery{AfterSeq: 8, Limit: 1, NoWhispers: true}, []uint64{10}, false},
		{"visible all", EventQuery{NoWhispers: true}, []uint64{2, 3, 4, 5, 7, 8, 10}, false},
	}
	require.NoError(t, db.View(func(tx *Tx) error {
		for _, c := range cases {
			evs, more, err := tx.Events(sid, c.q)
			require.NoError(t, err, c.name)
			assert.Equal(t, c.want, seqs(evs), c.name)
			assert.Equal(t, c.more, more, c.name)
			for _, ev := range evs {
				assert.False(t, c.q.NoWhispers && ev.Whisper, c.name)
			}
		}
		evs, more, err := tx.Events(empty.ID, EventQuery{Limit: 5})
		require.NoError(t, err)
		assert.Empty(t, evs)
		assert.False(t, more)

		_, _, err = tx.Events(sid, EventQuery{Limit: -1})
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		_, _, err = tx.Events("nope", EventQuery{})
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
		return nil
	}))
}
