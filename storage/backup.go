package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/parley-chat/parley/parley"
)

// compactTxMaxSize bounds the bytes copied per transaction by Compact, so
// compacting a large file does not build one huge transaction in memory.
const compactTxMaxSize = 64 << 20

// Size returns the size of the database in bytes as of a read transaction:
// the part of the file in use, which is what a backup copies.
func (db *DB) Size() (int64, error) {
	var n int64
	err := db.View(func(tx *Tx) error {
		n = tx.tx.Size()
		return nil
	})
	return n, err
}

// BackupTo writes a consistent copy of the live database to path and
// returns its size. Writers keep running meanwhile: the copy is the
// snapshot of one read transaction, written to path+".tmp", fsync'd and
// renamed to path with mode 0600. The blobs of the files the snapshot
// references are copied to BlobDir(path) (path + ".files"), so restoring
// is copying both back (README, "Backups"). It fails with parley.EConflict
// if path or its blob directory exists, or path is the database's own
// file. A long backup holds its read transaction open, so a writer that
// needs to grow the memory map beyond Options.InitialMmapSize waits for it.
func (db *DB) BackupTo(path string) (int64, error) {
	tmp := path + ".tmp"
	for _, p := range []string{path, tmp} {
		same, err := samePath(p, db.path)
		if err != nil {
			return 0, fmt.Errorf("storage: backup to %s: %w", path, err)
		}
		if same {
			return 0, fmt.Errorf("storage: backup to %s: %w", path, parley.Errorf(parley.EConflict,
				"The backup path is the database's own file."))
		}
	}
	if err := mustNotExist(path); err != nil {
		return 0, fmt.Errorf("storage: backup to %s: %w", path, err)
	}
	if err := mustNotExist(BlobDir(path)); err != nil {
		return 0, fmt.Errorf("storage: backup to %s: %w", path, err)
	}
	blobsTmp := BlobDir(path) + ".tmp"
	if err := os.RemoveAll(blobsTmp); err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	defer func() { _ = os.RemoveAll(blobsTmp) }()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil { // a stale tmp file keeps its old mode
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	var n int64
	blobs := db.Blobs()
	blobs.mu.RLock() // no blob the snapshot references is collected meanwhile
	err = db.View(func(tx *Tx) (err error) {
		if n, err = tx.tx.WriteTo(f); err != nil {
			return err
		}
		return tx.copyBlobs(blobs, blobsTmp)
	})
	blobs.mu.RUnlock()
	if err != nil {
		return 0, fmt.Errorf("storage: backup to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("storage: backup: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("storage: backup: close %s: %w", tmp, err)
	}
	if err := mustNotExist(path); err != nil { // appeared while copying
		return 0, fmt.Errorf("storage: backup to %s: %w", path, err)
	}
	// The blobs go into place first, so a backup file that exists always
	// has its blobs beside it.
	if err := os.Rename(blobsTmp, BlobDir(path)); err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	ok = true
	if err := syncDir(filepath.Dir(path)); err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	return n, nil
}

// Compact copies the database file src into a new, compacted file dst and
// returns the sizes of both files. src must not be in use: Compact takes
// its file lock like Open, failing with an error wrapping ErrLocked after
// timeout (default 1s). dst must not exist (parley.EConflict). The caller
// may then rename dst over src; CompactInPlace does all of it.
func Compact(dst, src string, timeout time.Duration) (before, after int64, err error) {
	srcDB, err := openForCompact(src, timeout)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = srcDB.Close() }()
	return compactLocked(srcDB, src, dst)
}

// CompactInPlace compacts the database file at path, which must not be in
// use (ErrLocked otherwise): it compacts into path+".compact" (replacing a
// leftover of an interrupted run), fsyncs it and renames it over path while
// still holding the lock on the original, so no process can write to the
// old file in between. It returns the file sizes before and after.
func CompactInPlace(path string, timeout time.Duration) (before, after int64, err error) {
	srcDB, err := openForCompact(path, timeout)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = srcDB.Close() }()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, fmt.Errorf("storage: compact %s: %w", path, err)
	}
	before, after, err = compactLocked(srcDB, path, tmp)
	if err != nil {
		_ = os.Remove(tmp)
		return 0, 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("storage: compact %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return 0, 0, fmt.Errorf("storage: compact %s: %w", path, err)
	}
	return before, after, nil
}

// openForCompact opens an existing database file exclusively (not read-only,
// so that no other process can open it for writing during the copy).
func openForCompact(path string, timeout time.Duration) (*bolt.DB, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("storage: compact %s: %w", path, parley.Errorf(parley.ENotFound,
			"Database file %s does not exist.", path))
	} else if err != nil {
		return nil, fmt.Errorf("storage: compact: %w", err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        timeout,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("storage: compact %s: %w", path, ErrLocked)
	} else if err != nil {
		return nil, fmt.Errorf("storage: compact %s: %w", path, err)
	}
	return bdb, nil
}

// compactLocked copies the open srcDB (file src) into the new file dst and
// returns both file sizes. dst is complete and fsync'd when it returns nil.
func compactLocked(srcDB *bolt.DB, src, dst string) (before, after int64, err error) {
	if same, err := samePath(dst, src); err != nil {
		return 0, 0, fmt.Errorf("storage: compact to %s: %w", dst, err)
	} else if same {
		return 0, 0, fmt.Errorf("storage: compact to %s: %w", dst, parley.Errorf(parley.EConflict,
			"The destination is the source file."))
	}
	if err := mustNotExist(dst); err != nil {
		return 0, 0, fmt.Errorf("storage: compact to %s: %w", dst, err)
	}
	dstDB, err := bolt.Open(dst, 0o600, &bolt.Options{
		Timeout:        DefaultTimeout,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("storage: compact to %s: %w", dst, err)
	}
	// Compact commits (and so fsyncs) every transaction it runs.
	if err := bolt.Compact(dstDB, srcDB, compactTxMaxSize); err != nil {
		_ = dstDB.Close()
		_ = os.Remove(dst)
		return 0, 0, fmt.Errorf("storage: compact %s to %s: %w", src, dst, err)
	}
	if err := dstDB.Close(); err != nil {
		return 0, 0, fmt.Errorf("storage: compact: close %s: %w", dst, err)
	}
	if before, err = fileSize(src); err != nil {
		return 0, 0, err
	}
	if after, err = fileSize(dst); err != nil {
		return 0, 0, err
	}
	return before, after, nil
}

// mustNotExist fails with parley.EConflict if path exists.
func mustNotExist(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return parley.Errorf(parley.EConflict, "%s already exists.", path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

// samePath reports whether a and b name the same file: the same absolute
// path, or (if both exist) the same inode.
func samePath(a, b string) (bool, error) {
	absA, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	absB, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	if absA == absB {
		return true, nil
	}
	infoA, errA := os.Stat(a)
	infoB, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(infoA, infoB), nil
}

func fileSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	return info.Size(), nil
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}
