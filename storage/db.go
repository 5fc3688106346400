// Package storage is Parley's durable store: sessions, their events and
// agent accounts, kept in a single bbolt file. It is the only package that
// imports bbolt. Writes go through one writer goroutine that groups
// concurrent updates into a single fsync'd commit.
package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/parley-chat/parley/parley"
)

// Defaults of Options.
const (
	DefaultTimeout         = time.Second
	DefaultMaxBatch        = 1024
	DefaultInitialMmapSize = 256 << 20
)

// ErrLocked is returned (wrapped) by Open when another process holds the file
// lock past Timeout.
var ErrLocked = errors.New("database file is locked by another process")

// Options configures Open. The zero value uses the defaults.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Timeout is how long Open waits for the file lock; default 1s.
	Timeout time.Duration
	// MaxBatch is the maximum number of operations per group commit;
	// default 1024.
	MaxBatch int
	// InitialMmapSize is the initial memory map size in bytes; default
	// 256 MiB.
	InitialMmapSize int
	// CommitHook is a seam for fault-injection tests; production code
	// leaves it nil. If set, the writer calls it just before each commit,
	// and a non-nil error makes that commit fail as an I/O failure would:
	// the transaction is rolled back, every update in it fails with
	// parley.EUnavailable and Health reports the failure until a later
	// commit succeeds.
	CommitHook func() error
}

// DB is an open Parley database. It is safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	path   string
	now    func() time.Time
	epoch  string
	secret []byte

	readOnly   bool
	commitHook func() error
	// failure is the error of the last failed commit, or nil once a commit
	// has succeeded since; see Health.
	failure atomic.Pointer[error]

	maxBatch int
	ops      chan *op
	mu       sync.RWMutex // guards closed and sends on ops
	closed   bool
	writerWG sync.WaitGroup

	commits       atomic.Uint64
	opCount       atomic.Uint64
	commitLatency latencyHistogram // of successful commits, fsync included

	// migratedFrom and migrationBackup describe the schema upgrade Open
	// made, if any (migrate.go).
	migratedFrom    int
	migrationBackup string

	blobs     *Blobs // see Blobs (blobs.go)
	blobsOnce sync.Once
}

// Open opens the database file at path, creating it with mode 0600 together
// with all buckets and the meta data if it does not exist. The parent
// directory must exist. If another process holds the file, Open fails with
// an error wrapping ErrLocked after opts.Timeout. A file of an older
// schema version is upgraded after a backup next to it (see migrate.go and
// Migration); a newer one is refused.
func Open(path string, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.InitialMmapSize <= 0 {
		opts.InitialMmapSize = DefaultInitialMmapSize
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         opts.Timeout,
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  true,
		InitialMmapSize: opts.InitialMmapSize,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("storage: open %s: %w", path, ErrLocked)
	} else if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db := &DB{
		bolt:       bdb,
		path:       path,
		now:        opts.Now,
		maxBatch:   opts.MaxBatch,
		ops:        make(chan *op, opts.MaxBatch),
		commitHook: opts.CommitHook,
	}
	from, err := fileVersion(bdb)
	if err == nil && from > 0 && from < SchemaVersion {
		db.migratedFrom = from
		db.migrationBackup, err = db.backupBeforeMigration(from)
	}
	if err == nil {
		err = db.init(from)
	}
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db.writerWG.Add(1)
	go db.writeLoop()
	return db, nil
}

// init creates the buckets and the meta data, upgrades a file of schema
// version from (0: a new file) to SchemaVersion, all in one transaction,
// and loads the meta data.
func (db *DB) init(from int) error {
	return db.bolt.Update(func(btx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := btx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if err := initQueues(btx, parley.TimeOf(db.now())); err != nil {
			return err
		}
		meta := btx.Bucket(bucketMeta)
		switch {
		case from == 0:
			h := []SchemaChange{{Version: SchemaVersion, At: parley.TimeOf(db.now())}}
			if err := putSchemaHistory(meta, h); err != nil {
				return err
			}
		case from < SchemaVersion:
			if err := migrate(btx, from, db.now(), db.migrationBackup); err != nil {
				return fmt.Errorf("%w (the file is unchanged; a copy of it is %s)", err, db.migrationBackup)
			}
		}
		if from != SchemaVersion {
			if err := meta.Put(metaSchemaVersion, u64(SchemaVersion)); err != nil {
				return fmt.Errorf("write schema version: %w", err)
			}
		}
		if meta.Get(metaCreatedAt) == nil {
			ts := parley.TimeOf(db.now()).Format(parley.TimeLayout)
			if err := meta.Put(metaCreatedAt, []byte(ts)); err != nil {
				return fmt.Errorf("write created_at: %w", err)
			}
		}
		epoch := meta.Get(metaEpoch)
		if epoch == nil {
			b, err := randomBytes(16)
			if err != nil {
				return err
			}
			epoch = []byte(hex.EncodeToString(b))
			if err := meta.Put(metaEpoch, epoch); err != nil {
				return fmt.Errorf("write epoch: %w", err)
			}
		}
		db.epoch = string(epoch)
		secret := meta.Get(metaAgentSecret)
		if secret == nil {
			b, err := randomBytes(32)
			if err != nil {
				return err
			}
			secret = b
			if err := meta.Put(metaAgentSecret, secret); err != nil {
				return fmt.Errorf("write agent secret: %w", err)
			}
		}
		db.secret = bytes.Clone(secret)
		return nil
	})
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}

// Close stops accepting updates, finishes every update already queued,
// stops the writer and closes the file. Closing a closed DB returns nil.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	if db.ops != nil { // nil when opened read-only: there is no writer
		close(db.ops)
	}
	db.mu.Unlock()
	db.writerWG.Wait()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", db.path, err)
	}
	return nil
}

// Path returns the path of the database file.
func (db *DB) Path() string { return db.path }

// Epoch returns the random hex string created when the file was first
// opened. It changes only if the database is recreated.
func (db *DB) Epoch() string { return db.epoch }

// SchemaVersion returns the schema version of the open file.
func (db *DB) SchemaVersion() int { return SchemaVersion }

// AgentSecret returns a copy of the 32 random bytes created when the file was
// first opened, used to sign agent tokens.
func (db *DB) AgentSecret() []byte { return bytes.Clone(db.secret) }

// Now returns the current time of the database's clock.
func (db *DB) Now() time.Time { return db.now() }

// Stats counts the writer's work since Open.
type Stats struct {
	// Commits is the number of read-write transactions committed.
	Commits uint64
	// Ops is the number of update functions completed, successfully or not.
	Ops uint64
	// CommitSeconds is the latency of successful commits, fsync included.
	CommitSeconds Histogram
}

// Stats returns the writer's counters. Ops/Commits is the average batch size.
func (db *DB) Stats() Stats {
	return Stats{Commits: db.commits.Load(), Ops: db.opCount.Load(), CommitSeconds: db.commitLatency.snapshot()}
}

// errClosed is returned by Update and View once the DB is closed.
func errClosed() error {
	return fmt.Errorf("storage: %w", parley.Errorf(parley.EUnavailable, "storage closed"))
}

// View runs fn in a read-only transaction, directly rather than through the
// writer. Values fn gets from the Tx are copies and stay valid after View
// returns; the Tx itself must not be used after fn returns.
func (db *DB) View(fn func(tx *Tx) error) (err error) {
	btx, err := db.bolt.Begin(false)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return errClosed()
	} else if err != nil {
		return fmt.Errorf("storage: begin read transaction: %w", err)
	}
	defer func() { _ = btx.Rollback() }()
	return callFn(fn, &Tx{tx: btx, now: db.now()})
}

// callFn runs fn, turning a panic into an EInternal error.
func callFn(fn func(tx *Tx) error, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("storage: transaction function panicked: %v: %w", r,
				parley.Errorf(parley.EInternal, "Internal error."))
		}
	}()
	return fn(tx)
}
