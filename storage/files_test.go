package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// addFile writes content as a blob and stores a file record for it in
// the session, as an upload does: blob installed and fsync'd first, then
// the record committed, then the blob released.
func addFile(t *testing.T, db *DB, r *parley.SessionRecord, name, content string, from parley.Participant) *parley.FileRecord {
	t.Helper()
	p, err := db.Blobs().Write(strings.NewReader(content), 1<<20)
	require.NoError(t, err)
	release, err := p.Install()
	require.NoError(t, err)
	defer release()
	f := &parley.FileRecord{
		File:      parley.File{Name: name, Size: p.Size, ContentType: "text/plain"},
		Hash:      p.Hash,
		SessionID: r.ID, CustomerID: r.Customer.ID, From: from,
	}
	update(t, db, func(tx *Tx) error { return tx.PutFile(f) })
	return f
}

func blobExists(db *DB, hash string) bool {
	_, err := os.Stat(filepath.Join(db.Blobs().Dir(), hash[:2], hash[2:]))
	return err == nil
}

func checkClean(t *testing.T, db *DB) CheckReport {
	t.Helper()
	rep, err := db.Check()
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	return rep
}

var cust = parley.Participant{Role: parley.RoleCustomer, ID: "c1"}

func TestFilesSharedBlobStaysUntilLastReference(t *testing.T) {
	db := openTest(t, Options{})
	now := time.Now()
	s1 := newSession(t, db, "c1", now)
	s2 := newSession(t, db, "c2", now)
	f1 := addFile(t, db, s1, "a.txt", "same bytes", cust)
	f2 := addFile(t, db, s2, "b.txt", "same bytes", parley.Participant{Role: parley.RoleAgent, ID: "a1"})
	require.Equal(t, f1.Hash, f2.Hash)
	require.NotEqual(t, f1.ID, f2.ID)
	rep := checkClean(t, db)
	require.Equal(t, 2, rep.Files)
	require.Equal(t, 1, rep.Blobs)

	var quota int64
	require.NoError(t, db.View(func(tx *Tx) (err error) { quota, err = tx.CustomerFileBytes("c1"); return }))
	require.EqualValues(t, len("same bytes"), quota)

	endSession(t, db, s1, now)
	var hashes []string
	require.NoError(t, db.View(func(tx *Tx) (err error) { hashes, err = tx.SessionFileHashes(s1.ID); return }))
	require.Equal(t, []string{f1.Hash}, hashes)
	update(t, db, func(tx *Tx) error { return tx.DeleteSession(s1.ID) })
	n, err := db.CollectBlobs(hashes)
	require.NoError(t, err)
	require.Zero(t, n, "the blob is still referenced by session 2")
	require.True(t, blobExists(db, f1.Hash))
	checkClean(t, db)
	require.NoError(t, db.View(func(tx *Tx) (err error) { quota, err = tx.CustomerFileBytes("c1"); return }))
	require.Zero(t, quota)

	endSession(t, db, s2, now)
	for done := false; !done; {
		update(t, db, func(tx *Tx) (err error) { done, err = tx.DeleteSessionPart(s2.ID, 1); return })
		checkClean(t, db)
	}
	n, err = db.CollectBlobs(hashes)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.False(t, blobExists(db, f1.Hash))
	require.Equal(t, 0, bucketLen(t, db, bucketFiles))
	require.Equal(t, 0, bucketLen(t, db, bucketBlobRefs))
	require.Equal(t, 0, bucketLen(t, db, bucketSessionFiles))
	checkClean(t, db)
}

func TestCheckFindsMissingAndCorruptBlobs(t *testing.T) {
	db := openTest(t, Options{})
	s := newSession(t, db, "c1", time.Now())
	missing := addFile(t, db, s, "gone.txt", "will vanish", cust)
	corrupt := addFile(t, db, s, "bad.txt", "will change", cust)
	checkClean(t, db)
	require.NoError(t, os.Remove(filepath.Join(db.Blobs().Dir(), missing.Hash[:2], missing.Hash[2:])))
	require.NoError(t, os.WriteFile(filepath.Join(db.Blobs().Dir(), corrupt.Hash[:2], corrupt.Hash[2:]), []byte("will chang3"), 0o600))
	rep, err := db.Check()
	require.NoError(t, err)
	require.Len(t, rep.Problems, 2, "%q", rep.Problems)
	require.Contains(t, strings.Join(rep.Problems, "\n"), "gone.txt")
	require.Contains(t, strings.Join(rep.Problems, "\n"), "is missing")
	require.Contains(t, strings.Join(rep.Problems, "\n"), "SHA-256")
}

func TestBlobTooLargeKeepsNothing(t *testing.T) {
	db := openTest(t, Options{})
	_, err := db.Blobs().Write(bytes.NewReader(make([]byte, 101)), 100)
	require.Equal(t, parley.ETooLarge, parley.ErrorCode(err))
	left, err := os.ReadDir(filepath.Join(db.Blobs().Dir(), "temp"))
	require.NoError(t, err)
	require.Empty(t, left)
	p, err := db.Blobs().Write(bytes.NewReader(make([]byte, 100)), 100)
	require.NoError(t, err)
	require.EqualValues(t, 100, p.Size)
	require.Len(t, p.Head, 100)
	p.Discard()
}

func TestBackupCopiesBlobsAndChecksClean(t *testing.T) {
	db := openTest(t, Options{})
	s := newSession(t, db, "c1", time.Now())
	f := addFile(t, db, s, "a.txt", "backed up", cust)
	addFile(t, db, s, "b.txt", "backed up", cust) // shares the blob
	// An orphan blob (no record) is not copied.
	p, err := db.Blobs().Write(strings.NewReader("orphan"), 100)
	require.NoError(t, err)
	release, err := p.Install()
	require.NoError(t, err)
	release()

	dst := filepath.Join(t.TempDir(), "backup.db")
	_, err = db.BackupTo(dst)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(BlobDir(dst), f.Hash[:2], f.Hash[2:]))
	require.NoError(t, err)
	require.Equal(t, "backed up", string(got))
	shards, err := os.ReadDir(BlobDir(dst))
	require.NoError(t, err)
	require.Len(t, shards, 1, "only the referenced blob is copied")

	bdb, err := OpenReadOnly(dst, Options{})
	require.NoError(t, err)
	defer bdb.Close()
	rep := checkClean(t, bdb)
	require.Equal(t, 2, rep.Files)

	_, err = db.BackupTo(dst)
	require.Equal(t, parley.EConflict, parley.ErrorCode(err))

	n, err := db.CollectOrphanBlobs()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.True(t, blobExists(db, f.Hash))
	require.False(t, blobExists(db, p.Hash))
}

func TestCollectOrphanBlobsRemovesStaleTemps(t *testing.T) {
	c := newClock()
	db := openTest(t, Options{Now: c.Now})
	tmp := filepath.Join(db.Blobs().Dir(), "temp")
	require.NoError(t, os.MkdirAll(tmp, 0o700))
	stale, fresh := filepath.Join(tmp, "upload-stale"), filepath.Join(tmp, "upload-fresh")
	require.NoError(t, os.WriteFile(stale, []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(fresh, []byte("y"), 0o600))
	require.NoError(t, os.Chtimes(stale, c.Now().Add(-2*time.Hour), c.Now().Add(-2*time.Hour)))
	require.NoError(t, os.Chtimes(fresh, c.Now().Add(-time.Minute), c.Now().Add(-time.Minute)))
	_, err := db.CollectOrphanBlobs()
	require.NoError(t, err)
	_, err = os.Stat(stale)
	require.True(t, os.IsNotExist(err), "the stale temp file is removed")
	_, err = os.Stat(fresh)
	require.NoError(t, err, "an upload in flight keeps its temp file")
}
