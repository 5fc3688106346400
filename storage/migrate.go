package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
)

// Schema upgrades.
//
// SchemaVersion is the layout this package writes. A file of an older
// version is upgraded by Open: first a backup of it is written next to it
// (parley.db.pre-v2.bak for an upgrade to version 2), then every step
// from the file's version up runs in the one transaction that also stores
// the new version, so a failed upgrade leaves the file as it was. A file
// of a newer version is refused.
//
// New buckets need no step: allBuckets is created on every Open. A change
// that rewrites data or changes what existing keys or values mean needs
// one:
//
//  1. Before changing anything, write a fixture of today's schema:
//     PARLEY_WRITE_FIXTURE=1 go test ./storage -run TestWriteSchemaFixture
//     (it writes testdata/schema-vN.db; commit it).
//  2. Append a step to migrations with To = N+1 and raise SchemaVersion.
//  3. TestMigrateFixtures opens every fixture, checks the backup and the
//     upgrade; cli's TestServeMigratesFixture serves the oldest one.
const SchemaVersion = 2

// migration upgrades a file from version To-1 to To. Run is called inside
// the upgrade's read-write transaction after every bucket of allBuckets
// exists; now is the database clock's time.
type migration struct {
	To   int
	What string
	Run  func(btx *bolt.Tx, now time.Time) error
}

// migrations are the upgrade steps, in order; migrations[i].To is i+2.
var migrations = []migration{
	{To: 2, What: "keep the schema history in the meta bucket", Run: migrateV2},
}

// SchemaChange is one entry of a file's schema history: the version the
// file was created with or upgraded to, when, and from which version.
type SchemaChange struct {
	Version int         `json:"version"`
	At      parley.Time `json:"at"`
	From    int         `json:"from,omitempty"`
	// Backup is the file the upgrade backed the old version up to.
	Backup string `json:"backup,omitempty"`
}

// metaSchemaHistory holds the JSON list of SchemaChange (since version 2).
var metaSchemaHistory = []byte("schema_history")

// migrateV2 starts the schema history of a version 1 file: created as
// version 1 at its created_at. The upgrade itself is appended by the
// caller, as for every step.
func migrateV2(btx *bolt.Tx, now time.Time) error {
	meta := btx.Bucket(bucketMeta)
	created := parley.TimeOf(now)
	if v := meta.Get(metaCreatedAt); v != nil {
		t, err := time.Parse(parley.TimeLayout, string(v))
		if err != nil {
			return fmt.Errorf("created_at %q: %w", v, err)
		}
		created = parley.TimeOf(t)
	}
	return putSchemaHistory(meta, []SchemaChange{{Version: 1, At: created}})
}

func schemaHistory(meta *bolt.Bucket) ([]SchemaChange, error) {
	v := meta.Get(metaSchemaHistory)
	if v == nil {
		return nil, nil
	}
	var h []SchemaChange
	if err := json.Unmarshal(v, &h); err != nil {
		return nil, fmt.Errorf("schema history: %w", err)
	}
	return h, nil
}

func putSchemaHistory(meta *bolt.Bucket, h []SchemaChange) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("schema history: %w", err)
	}
	if err := meta.Put(metaSchemaHistory, b); err != nil {
		return fmt.Errorf("write schema history: %w", err)
	}
	return nil
}

// SchemaHistory returns the file's schema history, oldest first: the
// version it was created with and every upgrade. Files created before
// version 2 start with their created_at as version 1.
func (tx *Tx) SchemaHistory() ([]SchemaChange, error) {
	meta, err := tx.bucket(bucketMeta)
	if err != nil {
		return nil, err
	}
	return schemaHistory(meta)
}

// Migration reports the upgrade Open made: the version the file had and
// the backup written before, or 0 and "" when the file needed none.
func (db *DB) Migration() (from int, backup string) { return db.migratedFrom, db.migrationBackup }

// fileVersion reads the schema version of an open file; 0 means a new
// file (no meta bucket or no version yet).
func fileVersion(bdb *bolt.DB) (int, error) {
	var ver uint64
	err := bdb.View(func(btx *bolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		v := meta.Get(metaSchemaVersion)
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("corrupt schema version in meta (%d bytes)", len(v))
		}
		ver = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if ver > SchemaVersion {
		return 0, fmt.Errorf("database schema version %d is newer than the supported version %d; "+
			"upgrade Parley to open this file (or restore the backup an older Parley made before upgrading it)", ver, SchemaVersion)
	}
	return int(ver), nil
}

// backupBeforeMigration writes a copy of the file at version from next to
// it, under the first free name of path.pre-vN.bak, path.pre-vN.bak.1, …
func (db *DB) backupBeforeMigration(from int) (string, error) {
	base := fmt.Sprintf("%s.pre-v%d.bak", db.path, SchemaVersion)
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return "", fmt.Errorf("backup before upgrading from schema version %d: %w", from, err)
		}
		name = base + "." + strconv.Itoa(i)
	}
	if _, err := db.BackupTo(name); err != nil {
		return "", fmt.Errorf("backup before upgrading from schema version %d: %w", from, err)
	}
	return name, nil
}

// migrate runs the steps from version from up to SchemaVersion in btx and
// records the upgrade in the schema history.
func migrate(btx *bolt.Tx, from int, now time.Time, backup string) error {
	for _, m := range migrations {
		if m.To <= from {
			continue
		}
		if err := m.Run(btx, now); err != nil {
			return fmt.Errorf("upgrade to schema version %d (%s): %w", m.To, m.What, err)
		}
	}
	meta := btx.Bucket(bucketMeta)
	h, err := schemaHistory(meta)
	if err != nil {
		return err
	}
	h = append(h, SchemaChange{Version: SchemaVersion, At: parley.TimeOf(now), From: from, Backup: backup})
	return putSchemaHistory(meta, h)
}
