package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
)

func TestOpenCloseReopenKeepsMeta(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)
	assert.Equal(t, path, db.Path())
	assert.Equal(t, SchemaVersion, db.SchemaVersion())
	epoch, secret := db.Epoch(), db.AgentSecret()
	_, err = hex.DecodeString(epoch)
	require.NoError(t, err)
	assert.Len(t, epoch, 32)
	assert.Len(t, secret, 32)
	secret[0] ^= 0xff // callers get a copy
	assert.NotEqual(t, secret, db.AgentSecret())
	secret[0] ^= 0xff
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "second Close is a no-op")

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	db, err = Open(path, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	assert.Equal(t, epoch, db.Epoch())
	assert.Equal(t, secret, db.AgentSecret())

	other := openTest(t, Options{})
	assert.NotEqual(t, epoch, other.Epoch())
	assert.NotEqual(t, secret, other.AgentSecret())
}

func TestOpenLocked(t *testing.T) {
	db := openTest(t, Options{})
	start := time.Now()
	_, err := Open(db.Path(), Options{Timeout: 100 * time.Millisecond})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), db.Path())
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestOpenMissingDirFails(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope", "parley.db"), Options{})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrLocked)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketMeta).Put(metaSchemaVersion, u64(SchemaVersion+1))
	}))
	require.NoError(t, bdb.Close())

	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer than the supported version")
	assert.NotErrorIs(t, err, ErrLocked, "the refused file must have been released")
}

func TestClockInjected(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	assert.Equal(t, clk.Now(), db.Now())
	update(t, db, func(tx *Tx) error {
		assert.Equal(t, clk.Now(), tx.Now())
		return nil
	})
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Equal(t, clk.Now(), tx.Now())
		return nil
	}))
}

func TestUpdateAfterClose(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "parley.db"), Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	ran := false
	err = db.Update(context.Background(), func(tx *Tx) error { ran = true; return nil })
	assert.Equal(t, parley.EUnavailable, parley.ErrorCode(err))
	assert.Equal(t, "storage closed", parley.ErrorMessage(err))
	assert.False(t, ran)
	err = db.View(func(tx *Tx) error { return nil })
	assert.Equal(t, parley.EUnavailable, parley.ErrorCode(err))
}

func TestUpdateCancelledBeforeStart(t *testing.T) {
	db := openTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := db.Update(ctx, func(tx *Tx) error { ran = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
}

func TestUpdateCancelledWhileQueued(t *testing.T) {
	db := openTest(t, Options{})
	release := gateWriter(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	ran := make(chan struct{}, 1)
	go func() {
		errc <- db.Update(ctx, func(tx *Tx) error { ran <- struct{}{}; return nil })
	}()
	waitQueued(t, db, 1)
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	release()
	update(t, db, func(tx *Tx) error { return nil }) // the writer has passed the cancelled op
	assert.Empty(t, ran, "a cancelled op must not run")
}

func TestUpdatePanicBecomesInternalError(t *testing.T) {
	db := openTest(t, Options{})
	err := db.Update(context.Background(), func(tx *Tx) error { panic("boom") })
	require.Error(t, err)
	assert.Equal(t, parley.EInternal, parley.ErrorCode(err))
	assert.Contains(t, err.Error(), "boom")
	err = db.View(func(tx *Tx) error { panic("boom") })
	assert.Equal(t, parley.EInternal, parley.ErrorCode(err))
	update(t, db, func(tx *Tx) error { return nil }) // still usable
}

func TestCloseFinishesQueuedOps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)
	s := newSession(t, db, "c1", time.Now())
	release := gateWriter(t, db)
	const n = 5
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errc <- db.Update(context.Background(), func(tx *Tx) error {
				_, err := tx.Append(s.ID, msg("queued before close"))
				return err
			})
		}()
	}
	waitQueued(t, db, n)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	for { // wait until Close has stopped accepting updates
		db.mu.RLock()
		c := db.closed
		db.mu.RUnlock()
		if c {
			break
		}
		runtime.Gosched()
	}
	err = db.Update(context.Background(), func(tx *Tx) error { return nil })
	assert.Equal(t, parley.EUnavailable, parley.ErrorCode(err))
	release()
	for i := 0; i < n; i++ {
		require.NoError(t, <-errc)
	}
	require.NoError(t, <-closed)

	db, err = Open(path, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	assert.Len(t, allEvents(t, db, s.ID), n)
}

func TestNilUpdateFunction(t *testing.T) {
	db := openTest(t, Options{})
	err := db.Update(context.Background(), nil)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrLocked))
}
