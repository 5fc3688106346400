package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/parley-chat/parley/parley"
)

// BlobHeadBytes is how many leading bytes of a blob PendingBlob.Head keeps,
// enough to sniff the content type from.
const BlobHeadBytes = 3072

// Blobs is the content-addressed store of the bytes of shared files. It
// lives in the directory BlobDir(database path): the blob of bytes whose
// hex SHA-256 is abcdef… is the file ab/cdef… there, and temp/ holds
// uploads being written. Files with the same bytes share one blob; a blob
// is removed only once no file record references it (CollectBlobs).
//
// A blob is written to temp/, fsync'd, renamed into place and its
// directory fsync'd before the file record that references it is
// committed, so a committed record never points at a missing blob. The
// lock orders that against collection: an installed blob is held (read
// lock) until its record is committed or abandoned, and CollectBlobs takes
// the write lock, so it never removes a blob a commit is about to
// reference.
type Blobs struct {
	dir string
	mu  sync.RWMutex
	// rooted is set once the blob directory's own entry in its parent
	// has been fsync'd by this process (see Install).
	rootMu sync.Mutex
	rooted bool
}

// syncRoot fsyncs the blob directory's parent once per process, so that
// a blob directory created by this process survives a crash.
func (b *Blobs) syncRoot() error {
	b.rootMu.Lock()
	defer b.rootMu.Unlock()
	if b.rooted {
		return nil
	}
	if err := syncDir(filepath.Dir(b.dir)); err != nil {
		return err
	}
	b.rooted = true
	return nil
}

// BlobDir returns the blob directory of the database file at dbPath: the
// file's path with ".files" appended (DATA/parley.db.files).
func BlobDir(dbPath string) string { return dbPath + ".files" }

// Blobs returns the database's blob store.
func (db *DB) Blobs() *Blobs {
	db.blobsOnce.Do(func() { db.blobs = &Blobs{dir: BlobDir(db.path)} })
	return db.blobs
}

// Dir returns the blob directory.
func (b *Blobs) Dir() string { return b.dir }

// path returns where the blob of a hex SHA-256 lives, or an error if hash
// is not one.
func (b *Blobs) path(hash string) (string, error) {
	if len(hash) != 2*sha256.Size {
		return "", fmt.Errorf("storage: blob hash %q: %w", hash, parley.Errorf(parley.EBadRequest, "Bad blob hash."))
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return "", fmt.Errorf("storage: blob hash %q: %w", hash, parley.Errorf(parley.EBadRequest, "Bad blob hash."))
	}
	return filepath.Join(b.dir, hash[:2], hash[2:]), nil
}

// Open opens the blob of a hex SHA-256 for reading (parley.ENotFound if it
// is missing).
func (b *Blobs) Open(hash string) (*os.File, error) {
	p, err := b.path(hash)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("storage: blob %s: %w", hash, parley.Errorf(parley.ENotFound, "The file's bytes are missing."))
	} else if err != nil {
		return nil, fmt.Errorf("storage: open blob: %w", err)
	}
	return f, nil
}

// PendingBlob is a blob written to the temp directory and fsync'd, not yet
// in place: Install or Discard it.
type PendingBlob struct {
	b    *Blobs
	tmp  string
	Hash string // hex SHA-256
	Size int64
	// Head holds the first BlobHeadBytes bytes (fewer for a smaller blob).
	Head []byte
}

// headWriter keeps the first BlobHeadBytes bytes written to it.
type headWriter struct{ buf []byte }

func (h *headWriter) Write(p []byte) (int, error) {
	if n := BlobHeadBytes - len(h.buf); n > 0 {
		h.buf = append(h.buf, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// Write copies r into a new temp file, hashing it, and fsyncs it. More
// than max bytes fail with parley.ETooLarge (nothing is kept); so does an
// error of r that wraps one.
func (b *Blobs) Write(r io.Reader, max int64) (*PendingBlob, error) {
	tmpDir := filepath.Join(b.dir, "temp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: blob temp directory: %w", err)
	}
	f, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("storage: create blob: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	sum, head := sha256.New(), &headWriter{}
	n, err := io.Copy(io.MultiWriter(f, sum, head), io.LimitReader(r, max+1))
	if err != nil {
		var pe *parley.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("storage: write blob: %w", err)
	}
	if n > max {
		return nil, parley.Errorf(parley.ETooLarge, "The file is larger than %d bytes.", max)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("storage: sync blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("storage: close blob: %w", err)
	}
	ok = true
	return &PendingBlob{b: b, tmp: f.Name(), Hash: hex.EncodeToString(sum.Sum(nil)), Size: n, Head: head.buf}, nil
}

// Discard removes a pending blob that will not be installed.
func (p *PendingBlob) Discard() { _ = os.Remove(p.tmp) }

// Install renames the pending blob into place (replacing a blob with the
// same name, which holds the same bytes) and fsyncs the directories
// concerned, so the blob survives a crash. It returns holding the store's
// read lock: call release once the record referencing the blob is
// committed, or its commit failed (then collect the blob). On an error
// the pending blob is discarded and nothing is held.
func (p *PendingBlob) Install() (release func(), err error) {
	b := p.b
	b.mu.RLock()
	defer func() {
		if err != nil {
			b.mu.RUnlock()
			p.Discard()
		}
	}()
	dst, err := b.path(p.Hash)
	if err != nil {
		return nil, err
	}
	// The blob directory may have just been created (Write): make its
	// entry in the data directory durable too, once per process.
	if err := b.syncRoot(); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	shard := filepath.Dir(dst)
	if _, serr := os.Stat(shard); errors.Is(serr, fs.ErrNotExist) {
		if err := os.MkdirAll(shard, 0o700); err != nil {
			return nil, fmt.Errorf("storage: blob directory: %w", err)
		}
		if err := syncDir(b.dir); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	if err := os.Rename(p.tmp, dst); err != nil {
		return nil, fmt.Errorf("storage: install blob: %w", err)
	}
	if err := syncDir(shard); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var once sync.Once
	return func() { once.Do(b.mu.RUnlock) }, nil
}

// CollectBlobs removes the blobs of the given hashes that no file record
// references any more, and returns how many it removed. Call it after
// committing the deletion of file records (retention, erasure, a failed
// upload). Missing blobs are skipped.
func (db *DB) CollectBlobs(hashes []string) (int, error) {
	if len(hashes) == 0 {
		return 0, nil
	}
	b := db.Blobs()
	b.mu.Lock()
	defer b.mu.Unlock()
	removed := 0
	for _, h := range hashes {
		var used bool
		if err := db.View(func(tx *Tx) (err error) { used, err = tx.BlobReferenced(h); return }); err != nil {
			return removed, err
		}
		if used {
			continue
		}
		p, err := b.path(h)
		if err != nil {
			return removed, err
		}
		if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return removed, fmt.Errorf("storage: remove blob: %w", err)
		}
		removed++
		if err := syncDir(filepath.Dir(p)); err != nil {
			return removed, fmt.Errorf("storage: %w", err)
		}
	}
	return removed, nil
}

// staleUpload is how old a temp file must be before CollectOrphanBlobs
// takes it for the remains of an upload that never finished.
const staleUpload = time.Hour

// removeStaleTemps removes the temp files last written before cutoff.
func removeStaleTemps(dir string, cutoff time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() && info.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// CollectOrphanBlobs removes every blob no file record references (left
// behind by a crash between deleting records and their blobs), and temp
// files of uploads untouched for an hour (a crash mid-upload). Uploads in
// flight hold their blobs, so it is safe while the server runs.
func (db *DB) CollectOrphanBlobs() (int, error) {
	b := db.Blobs()
	shards, err := os.ReadDir(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("storage: read blob directory: %w", err)
	}
	removeStaleTemps(filepath.Join(b.dir, "temp"), db.now().Add(-staleUpload))
	var hashes []string
	for _, s := range shards {
		if !s.IsDir() || len(s.Name()) != 2 {
			continue
		}
		names, err := os.ReadDir(filepath.Join(b.dir, s.Name()))
		if err != nil {
			return 0, fmt.Errorf("storage: read blob directory: %w", err)
		}
		for _, n := range names {
			if _, err := b.path(s.Name() + n.Name()); err == nil {
				hashes = append(hashes, s.Name()+n.Name())
			}
		}
	}
	return db.CollectBlobs(hashes)
}
