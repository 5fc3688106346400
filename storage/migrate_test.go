package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
)

// rawVersion reads the schema version stored in the file at path.
func rawVersion(t *testing.T, path string) uint64 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	require.NoError(t, err)
	defer bdb.Close()
	var v uint64
	require.NoError(t, bdb.View(func(btx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(btx.Bucket(bucketMeta).Get(metaSchemaVersion))
		return nil
	}))
	return v
}

// copyFixture copies a fixture into a new data directory as parley.db.
func copyFixture(t *testing.T, fixture string) string {
	t.Helper()
	raw, err := os.ReadFile(fixture)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "parley.db")
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	return path
}

// fixtures returns the schema fixtures by version.
func fixtures(t *testing.T) map[int]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "schema-v*.db"))
	require.NoError(t, err)
	out := make(map[int]string)
	re := regexp.MustCompile(`schema-v(\d+)\.db$`)
	for _, f := range files {
		m := re.FindStringSubmatch(f)
		require.NotNil(t, m, f)
		v, _ := strconv.Atoi(m[1])
		out[v] = f
	}
	return out
}

// TestMigrationSteps: one step per version after 1, in order, up to
// SchemaVersion, and a fixture of every version before it.
func TestMigrationSteps(t *testing.T) {
	require.Len(t, migrations, SchemaVersion-1)
	for i, m := range migrations {
		assert.Equal(t, i+2, m.To, "step %d", i)
		assert.NotEmpty(t, m.What)
	}
	fx := fixtures(t)
	for v := 1; v < SchemaVersion; v++ {
		assert.Contains(t, fx, v, "no testdata/schema-v%d.db: write it before raising SchemaVersion (see migrate.go)", v)
	}
}

// TestMigrateFixtures opens every older fixture: the file is backed up
// next to itself first, upgraded in place, keeps all its data and passes
// Check; opening it again upgrades nothing.
func TestMigrateFixtures(t *testing.T) {
	for v, fixture := range fixtures(t) {
		if v >= SchemaVersion {
			continue
		}
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			path := copyFixture(t, fixture)
			clk := newClock()
			clk.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			db, err := Open(path, Options{Now: clk.Now})
			require.NoError(t, err)
			from, backup := db.Migration()
			assert.Equal(t, v, from)
			wantBackup := fmt.Sprintf("%s.pre-v%d.bak", path, SchemaVersion)
			require.Equal(t, wantBackup, backup)

			// The backup is the old file, untouched by the upgrade.
			fi, err := os.Stat(backup)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			assert.Equal(t, uint64(v), rawVersion(t, backup))
			old, err := OpenReadOnly(backup, Options{})
			require.NoError(t, err)
			rep, err := old.Check()
			require.NoError(t, err)
			assert.Empty(t, rep.Problems)
			assert.Equal(t, 2, rep.Sessions)
			require.NoError(t, old.Close())

			// The upgraded file: the new version, the history, all data.
			require.NoError(t, db.View(func(tx *Tx) error {
				h, err := tx.SchemaHistory()
				require.NoError(t, err)
				require.Len(t, h, 2)
				assert.Equal(t, SchemaChange{Version: 1, At: parley.TimeOf(fixtureTime)}, h[0])
				assert.Equal(t, SchemaChange{Version: SchemaVersion, At: parley.TimeOf(clk.Now()), From: v, Backup: backup}, h[1])
				a, err := tx.AgentByEmail(fixtureAgentEmail)
				require.NoError(t, err)
				assert.Equal(t, "Fixture Agent", a.Name)
				q, err := tx.QueuedSessions()
				require.NoError(t, err)
				require.Len(t, q, 1)
				assert.Equal(t, fixtureQueuedCust, q[0].Customer.ID)
				evs, _, err := tx.Events(q[0].ID, EventQuery{})
				require.NoError(t, err)
				require.Len(t, evs, 2)
				assert.Equal(t, fixtureQueuedText, evs[1].Text)
				held, err := tx.OnHold(fixtureEndedCustomer)
				require.NoError(t, err)
				assert.True(t, held)
				return nil
			}))
			rep, err = db.Check()
			require.NoError(t, err)
			assert.Empty(t, rep.Problems)
			assert.Equal(t, 7, rep.Events)
			require.NoError(t, db.Close())
			assert.Equal(t, uint64(SchemaVersion), rawVersion(t, path))

			// Opened again: nothing to do, no second backup.
			db, err = Open(path, Options{Now: clk.Now})
			require.NoError(t, err)
			from, backup = db.Migration()
			assert.Equal(t, 0, from)
			assert.Empty(t, backup)
			require.NoError(t, db.Close())
			_, err = os.Stat(wantBackup + ".1")
			assert.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

// TestMigrationFailureLeavesFileAlone: a step that fails rolls the whole
// upgrade back (including what earlier steps wrote); the file keeps its
// version and data, the backup stays, and a later attempt backs up
// again under the next free name.
func TestMigrationFailureLeavesFileAlone(t *testing.T) {
	path := copyFixture(t, fixtures(t)[1])
	saved := migrations[len(migrations)-1].Run
	t.Cleanup(func() { migrations[len(migrations)-1].Run = saved })
	migrations[len(migrations)-1].Run = func(btx *bolt.Tx, now time.Time) error {
		if err := saved(btx, now); err != nil {
			return err
		}
		return errors.New("disk on fire")
	}
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk on fire")
	assert.Contains(t, err.Error(), "the file is unchanged; a copy of it is "+path+".pre-v")
	assert.Equal(t, uint64(1), rawVersion(t, path))
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, bdb.View(func(btx *bolt.Tx) error {
		assert.Nil(t, btx.Bucket(bucketMeta).Get(metaSchemaHistory), "the first step's write was not rolled back")
		return nil
	}))
	require.NoError(t, bdb.Close())

	migrations[len(migrations)-1].Run = saved
	db, err := Open(path, Options{})
	require.NoError(t, err)
	_, backup := db.Migration()
	assert.Equal(t, fmt.Sprintf("%s.pre-v%d.bak.1", path, SchemaVersion), backup)
	require.NoError(t, db.Close())
}

// TestNewFileHistory: a new file starts its history at SchemaVersion and
// makes no backup.
func TestNewFileHistory(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	from, backup := db.Migration()
	assert.Zero(t, from)
	assert.Empty(t, backup)
	require.NoError(t, db.View(func(tx *Tx) error {
		h, err := tx.SchemaHistory()
		require.NoError(t, err)
		assert.Equal(t, []SchemaChange{{Version: SchemaVersion, At: parley.TimeOf(clk.Now())}}, h)
		return nil
	}))
}
