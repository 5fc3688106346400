package storage

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// fileState is what must not change when a file is only read.
type fileState struct {
	sum   [32]byte
	size  int64
	mtime time.Time
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fileState{sum: sha256.Sum256(data), size: fi.Size(), mtime: fi.ModTime()}
}

// backdate sets a file's mtime an hour back, so that any write, however
// soon, would change it.
func backdate(t *testing.T, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(path, old, old))
}

func TestOpenReadOnlyChecksWithoutWriting(t *testing.T) {
	f := newCheckFixture(t)
	path, epoch, secret := f.db.Path(), f.db.Epoch(), f.db.AgentSecret()
	require.NoError(t, f.db.Close())
	backdate(t, path)
	before := stateOf(t, path)

	db, err := OpenReadOnly(path, Options{})
	require.NoError(t, err)
	assert.Equal(t, epoch, db.Epoch())
	assert.Equal(t, secret, db.AgentSecret())
	rep, err := db.Check()
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	assert.Equal(t, 3, rep.Sessions)
	assert.Equal(t, 2, rep.Agents)
	assert.Len(t, allEvents(t, db, f.active.ID), 4)

	ran := false
	err = db.Update(context.Background(), func(tx *Tx) error { ran = true; return nil })
	require.ErrorIs(t, err, ErrReadOnly)
	assert.Contains(t, err.Error(), path)
	assert.False(t, ran)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close())

	assert.Equal(t, before, stateOf(t, path), "the file is byte-identical, with the same mtime")
}

func TestOpenReadOnlyWhileOpenReadWriteIsLocked(t *testing.T) {
	db := openTest(t, Options{})
	_, err := OpenReadOnly(db.Path(), Options{Timeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
}

func TestOpenReadOnlyRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.db")
	bdb, err := bolt.Open(plain, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}))
	require.NoError(t, bdb.Close())

	noVersion := filepath.Join(dir, "noversion.db")
	bdb, err = bolt.Open(noVersion, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(btx *bolt.Tx) error {
		_, err := btx.CreateBucket(bucketMeta)
		return err
	}))
	require.NoError(t, bdb.Close())

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("not a database\n"), 0o600))
	big := filepath.Join(dir, "zeros.bin")
	require.NoError(t, os.WriteFile(big, make([]byte, 64<<10), 0o600))
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	for _, c := range []struct{ path, reason string }{
		{plain, "no meta bucket"},
		{noVersion, "no schema version"},
		{text, "not a bbolt file"},
		{big, "bbolt"},
		{empty, "empty"},
	} {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			backdate(t, c.path)
			before := stateOf(t, c.path)
			db, err := OpenReadOnly(c.path, Options{})
			require.ErrorIs(t, err, ErrNotParley)
			assert.Nil(t, db)
			assert.Contains(t, err.Error(), c.path+" is not a Parley database")
			assert.Contains(t, err.Error(), c.reason)
			assert.Equal(t, before, stateOf(t, c.path), "the file is left as it was")
		})
	}

	missing := filepath.Join(dir, "missing.db")
	_, err = OpenReadOnly(missing, Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.NoFileExists(t, missing)
}
