package storage

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// openTest opens a fresh database in t.TempDir and closes it at cleanup.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "parley.db"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// update is db.Update with a background context.
func update(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), fn))
}

// newSession stores a queued session of the customer created at the given
// time and returns it.
func newSession(t testing.TB, db *DB, customerID string, created time.Time) *parley.SessionRecord {
	t.Helper()
	r := &parley.SessionRecord{
		ID:        parley.NewID(created),
		State:     parley.StateQueued,
		Customer:  parley.Customer{ID: customerID, Name: "Cust " + customerID},
		CreatedAt: parley.TimeOf(created),
		QueuedAt:  parley.TimeOf(created),
	}
	update(t, db, func(tx *Tx) error { return tx.PutSession(r) })
	return r
}

// gateWriter occupies the writer with an update that blocks until the
// returned release function is called, so that updates issued meanwhile
// queue up and form the next batch.
func gateWriter(t testing.TB, db *DB) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	var once sync.Once
	go func() {
		errc <- db.Update(context.Background(), func(tx *Tx) error {
			once.Do(func() { close(started) })
			<-gate
			return nil
		})
	}()
	<-started
	return func() {
		close(gate)
		require.NoError(t, <-errc)
	}
}

// waitQueued waits until n updates are queued for the writer.
func waitQueued(t testing.TB, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(db.ops) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d updates queued", len(db.ops), n)
		}
		runtime.Gosched()
	}
}

// allEvents returns every event of a session.
func allEvents(t testing.TB, db *DB, sessionID string) []parley.Event {
	t.Helper()
	var evs []parley.Event
	require.NoError(t, db.View(func(tx *Tx) error {
		var err error
		evs, _, err = tx.Events(sessionID, EventQuery{})
		return err
	}))
	return evs
}

// bucketLen counts the keys of a bucket.
func bucketLen(t testing.TB, db *DB, name []byte) int {
	t.Helper()
	n := 0
	require.NoError(t, db.View(func(tx *Tx) error {
		b, err := tx.bucket(name)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error { n++; return nil })
	}))
	return n
}

func msg(text string) *parley.Event {
	return &parley.Event{Kind: parley.KindMessage, From: parley.Participant{Role: parley.RoleCustomer, ID: "c1"}, Text: text}
}
