package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrReadOnly is returned (wrapped) by Update on a DB opened with
// OpenReadOnly.
var ErrReadOnly = errors.New("database is open read-only")

// ErrNotParley is returned (wrapped) by OpenReadOnly when the file is not a
// Parley database: not a bbolt file at all, or a bbolt file without
// Parley's meta data.
var ErrNotParley = errors.New("not a Parley database")

// OpenReadOnly opens the existing database file at path for reading only,
// for example to check a backup. It never writes to the file, never creates
// it, its buckets or its meta data, and starts no writer: View, Check, Size
// and BackupTo work, Update fails with an error wrapping ErrReadOnly. It
// takes a shared file lock, so it fails with an error wrapping ErrLocked
// after opts.Timeout while a process has the file open read-write. A file
// that is empty, not a bbolt file, or a bbolt file without a meta bucket and
// schema version is refused with an error wrapping ErrNotParley; a newer
// schema version is refused too. opts.MaxBatch and opts.CommitHook are
// ignored.
func OpenReadOnly(path string, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notParley(path, "it is not a regular file")
	}
	if fi.Size() == 0 {
		// bbolt would try to initialise an empty file.
		return nil, notParley(path, "the file is empty")
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.Timeout,
		ReadOnly:       true,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("storage: open %s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum):
		return nil, notParley(path, fmt.Sprintf("it is not a bbolt file (%v)", err))
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("storage: open %s: %w", path, err)
		}
		// Anything else bbolt rejects while reading its meta pages (for
		// example a file too short to hold them) is not a database either.
		return nil, notParley(path, fmt.Sprintf("it cannot be read as a bbolt file (%v)", err))
	}
	db := &DB{bolt: bdb, path: path, now: opts.Now, readOnly: true}
	if err := db.load(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	return db, nil
}

// notParley is the error of OpenReadOnly for a file that is not a Parley
// database.
func notParley(path, reason string) error {
	return fmt.Errorf("storage: %s is %w: %s", path, ErrNotParley, reason)
}

// load reads the meta data of a file opened read-only, refusing a file
// without it.
func (db *DB) load() error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		if meta == nil {
			return notParley(db.path, "it has no meta bucket")
		}
		v := meta.Get(metaSchemaVersion)
		switch {
		case v == nil:
			return notParley(db.path, "its meta bucket has no schema version")
		case len(v) != 8:
			return notParley(db.path, fmt.Sprintf("its schema version is %d bytes long instead of 8", len(v)))
		case binary.BigEndian.Uint64(v) == 0:
			return notParley(db.path, "its schema version is 0")
		case binary.BigEndian.Uint64(v) > SchemaVersion:
			return fmt.Errorf("storage: open %s: database schema version %d is newer than the supported version %d; "+
				"upgrade Parley to open this file", db.path, binary.BigEndian.Uint64(v), SchemaVersion)
		}
		db.epoch = string(meta.Get(metaEpoch))
		db.secret = append([]byte(nil), meta.Get(metaAgentSecret)...)
		return nil
	})
}
