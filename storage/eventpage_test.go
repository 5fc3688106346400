package storage

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// pageSeqs reads a session's events page by page as StreamTranscript
// does and returns the seqs of each page.
func pageSeqs(t *testing.T, db *DB, sessionID string, q EventPageQuery) [][]uint64 {
	t.Helper()
	var pages [][]uint64
	for done := false; !done; {
		var page []parley.Event
		require.NoError(t, db.View(func(tx *Tx) error {
			var err error
			page, q.AfterSeq, done, err = tx.EventPage(sessionID, q)
			return err
		}))
		seqs := []uint64{}
		for _, ev := range page {
			seqs = append(seqs, ev.Seq)
		}
		pages = append(pages, seqs)
		require.Less(t, len(pages), 100, "no end")
	}
	return pages
}

// TestEventPage reads a session in pages: bounded by events (whispers
// skipped count) and by bytes, up to ThroughSeq only, never into the
// next session's keys, and every event exactly once in order.
func TestEventPage(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	s := newSession(t, db, "c1", clk.Now())
	other := newSession(t, db, "c2", clk.Now().Add(time.Millisecond))
	update(t, db, func(tx *Tx) error {
		for i := 1; i <= 10; i++ {
			ev := msg(fmt.Sprint("m", i))
			ev.Whisper = i%3 == 0
			if _, err := tx.Append(s.ID, ev); err != nil {
				return err
			}
			if _, err := tx.Append(other.ID, msg("other")); err != nil {
				return err
			}
		}
		return nil
	})

	all := EventPageQuery{ThroughSeq: 10, MaxEvents: 4}
	assert.Equal(t, [][]uint64{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10}}, pageSeqs(t, db, s.ID, all))
	noWhispers := all
	noWhispers.NoWhispers = true
	assert.Equal(t, [][]uint64{{1, 2, 4}, {5, 7, 8}, {10}}, pageSeqs(t, db, s.ID, noWhispers))
	assert.Equal(t, [][]uint64{{3, 4, 5}}, pageSeqs(t, db, s.ID, EventPageQuery{AfterSeq: 2, ThroughSeq: 5}))
	// A byte bound smaller than one event still reads one per page.
	assert.Equal(t, [][]uint64{{1}, {2}, {3}}, pageSeqs(t, db, s.ID, EventPageQuery{ThroughSeq: 3, MaxBytes: 1}))
	assert.Equal(t, [][]uint64{{}}, pageSeqs(t, db, s.ID, EventPageQuery{ThroughSeq: 0}))
	assert.Equal(t, [][]uint64{{}}, pageSeqs(t, db, s.ID, EventPageQuery{AfterSeq: 10, ThroughSeq: 10}))
	// Past the session's last event the range ends without error, and
	// next says how far it got.
	require.NoError(t, db.View(func(tx *Tx) error {
		evs, next, done, err := tx.EventPage(s.ID, EventPageQuery{AfterSeq: 8, ThroughSeq: 50})
		require.NoError(t, err)
		assert.Len(t, evs, 2)
		assert.Equal(t, uint64(10), next)
		assert.True(t, done)
		return nil
	}))
	_, _, _, err := (&Tx{}).EventPage("not-an-id", EventPageQuery{ThroughSeq: 1})
	assert.Error(t, err)
}

// TestOpenReadTxs counts the read transactions open.
func TestOpenReadTxs(t *testing.T) {
	db := openTest(t, Options{})
	assert.Equal(t, 0, db.OpenReadTxs())
	require.NoError(t, db.View(func(*Tx) error {
		assert.Equal(t, 1, db.OpenReadTxs())
		return nil
	}))
	assert.Equal(t, 0, db.OpenReadTxs())
}
