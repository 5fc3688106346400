package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func TestSize(t *testing.T) {
	db := openTest(t, Options{})
	before, err := db.Size()
	require.NoError(t, err)
	assert.Positive(t, before)
	s := newSession(t, db, "c", db.Now())
	appendN(t, db, s.ID, 2000)
	after, err := db.Size()
	require.NoError(t, err)
	assert.Greater(t, after, before)
}

func TestBackupToWhileWriting(t *testing.T) {
	db := openTest(t, Options{})
	const writers = 4
	sessions := make([]string, writers)
	for i := range sessions {
		sessions[i] = newSession(t, db, fmt.Sprintf("c%d", i), db.Now()).ID
	}
	const preloaded = 5000 // so that copying takes a while
	appendN(t, db, sessions[0], preloaded)

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var appended atomic.Int64
	warm := make(chan struct{})
	var warmOnce sync.Once
	for _, id := range sessions {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := db.Update(ctx, func(tx *Tx) error { _, err := tx.Append(id, msg("hello")); return err })
				if err != nil {
					assert.ErrorIs(t, err, context.Canceled)
					return
				}
				if appended.Add(1) >= 50 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	<-warm // writers are running

	dir := t.TempDir()
	path := filepath.Join(dir, "backup.db")
	n, err := db.BackupTo(path)
	require.NoError(t, err)
	during := appended.Load()
	requireHealthy(t, db) // Check also runs beside live writers
	stop()
	wg.Wait()
	require.Greater(t, appended.Load(), int64(50))
	t.Logf("backup of %d bytes taken after %d appends; %d appends in total", n, during, appended.Load())

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, n, info.Size())
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	_, err = os.Stat(path + ".tmp")
	assert.ErrorIs(t, err, os.ErrNotExist)

	bk, err := Open(path, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, bk.Close()) }()
	assert.Equal(t, db.Epoch(), bk.Epoch())
	rep := requireHealthy(t, bk)
	assert.Equal(t, writers, rep.Sessions)
	assert.GreaterOrEqual(t, rep.Events, preloaded+50)
	assert.LessOrEqual(t, int64(rep.Events), preloaded+appended.Load())

	_, err = db.BackupTo(path)
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "existing file")
	_, err = db.BackupTo(db.Path())
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "own file")
	_, err = db.BackupTo(filepath.Join(filepath.Dir(db.Path()), ".", filepath.Base(db.Path())))
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "own file, other spelling")
	link := filepath.Join(dir, "link.db")
	require.NoError(t, os.Symlink(db.Path(), link+".tmp"))
	_, err = db.BackupTo(link)
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "temporary file is the own file")
	assert.Positive(t, fileSizeOf(t, db.Path()), "own file untouched")
}

// fileSizeOf returns the size of a file.
func fileSizeOf(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}

func TestCompactInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)
	epoch := db.Epoch()
	now := db.Now()
	var ids []string
	for i := range 60 {
		s := newSession(t, db, fmt.Sprintf("c%d", i), now.Add(time.Duration(i)*time.Millisecond))
		appendN(t, db, s.ID, 200)
		endSession(t, db, s, now.Add(time.Minute))
		ids = append(ids, s.ID)
	}
	update(t, db, func(tx *Tx) error {
		for _, id := range ids[5:] {
			if err := tx.DeleteSession(id); err != nil {
				return err
			}
		}
		return nil
	})
	requireHealthy(t, db)
	require.NoError(t, db.Close())
	sizeBefore := fileSizeOf(t, path)

	before, after, err := CompactInPlace(path, 100*time.Millisecond)
	require.NoError(t, err)
	t.Logf("compacted %d -> %d bytes", before, after)
	assert.Equal(t, sizeBefore, before)
	assert.Less(t, after, before)
	assert.Equal(t, after, fileSizeOf(t, path))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	_, err = os.Stat(path + ".compact")
	assert.ErrorIs(t, err, os.ErrNotExist)

	db, err = Open(path, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	assert.Equal(t, epoch, db.Epoch())
	rep := requireHealthy(t, db)
	assert.Equal(t, 5, rep.Sessions)
	assert.Equal(t, 5*200, rep.Events)
	assert.Len(t, allEvents(t, db, ids[0]), 200)
	s := newSession(t, db, "after", db.Now()) // still writable
	appendN(t, db, s.ID, 1)
}

func TestCompactLockedAndConflicts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.db")
	dst := filepath.Join(dir, "compact.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)

	_, _, err = Compact(dst, path, 100*time.Millisecond)
	require.ErrorIs(t, err, ErrLocked)
	_, _, err = CompactInPlace(path, 100*time.Millisecond)
	require.ErrorIs(t, err, ErrLocked)
	_, err = os.Stat(dst)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing written while locked")
	require.NoError(t, db.Close())

	before, after, err := Compact(dst, path, 0)
	require.NoError(t, err)
	assert.Equal(t, fileSizeOf(t, path), before)
	assert.Equal(t, fileSizeOf(t, dst), after)
	_, _, err = Compact(dst, path, 0)
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "dst exists")
	_, _, err = Compact(path, path, 0)
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "dst is src")
	_, _, err = Compact(filepath.Join(dir, "x.db"), filepath.Join(dir, "missing.db"), 0)
	assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
	_, err = os.Stat(filepath.Join(dir, "missing.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "Compact never creates src")

	cdb, err := Open(dst, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, cdb.Close()) }()
	requireHealthy(t, cdb)
}
