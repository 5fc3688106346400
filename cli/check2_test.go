package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// fixtureData copies storage/testdata/schema-v1.db into a new data
// directory and returns the directory.
func fixtureData(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "storage", "testdata", "schema-v1.db"))
	require.NoError(t, err)
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "parley.db"), raw, 0o600))
	return data
}

// TestOfflineAdminSaysItUpgraded: an offline admin command that writes
// upgrades a schema 1 file, and says so on standard error, once, naming
// the backup it kept; a read-only one upgrades nothing and says nothing.
func TestOfflineAdminSaysItUpgraded(t *testing.T) {
	data := fixtureData(t)
	backup := filepath.Join(data, fmt.Sprintf("parley.db.pre-v%d.bak", storage.SchemaVersion))

	r := runCLI(t, env{}, "", "queue", "ls", "--data", data)
	require.Equal(t, 0, r.code, r.err)
	assert.Empty(t, r.err, "a read-only command does not upgrade")
	assert.NoFileExists(t, backup)

	r = runCLI(t, env{}, "", "queue", "add", "sales", "--data", data)
	require.Equal(t, 0, r.code, r.err)
	assert.Equal(t, fmt.Sprintf("Upgraded the database from schema 1 to %d; the old file is kept at %s\n",
		storage.SchemaVersion, backup), r.err)
	require.FileExists(t, backup)
	assert.Contains(t, runOK(t, env{}, "", "check", backup, "--data", data), "OK\n", "the kept file is a sound schema 1 database")

	r = runCLI(t, env{}, "", "queue", "add", "support", "--data", data)
	require.Equal(t, 0, r.code, r.err)
	assert.Empty(t, r.err, "the file is upgraded already")
}

// allBucketsData creates a data directory whose database has data in the
// buckets check verifies besides sessions and agents: a second queue, a
// routing decision, a status change, an outbox job, a webhook and an API
// key. It returns the directory and the API key.
func allBucketsData(t *testing.T) (string, *storage.APIKey) {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "parley.db"), storage.Options{})
	require.NoError(t, err)
	now := time.Now()
	r := &parley.SessionRecord{
		ID: parley.NewID(now), State: parley.StateQueued, Customer: parley.Customer{ID: "c1", Name: "C"},
		Agents: []parley.AgentRef{}, CreatedAt: parley.TimeOf(now), QueuedAt: parley.TimeOf(now), Queue: "sales",
	}
	ag := &parley.Agent{ID: parley.NewID(now), Name: "Ann", Email: "ann@example.com", Capacity: parley.DefaultCapacity,
		Status: parley.StatusOffline, PasswordHash: []byte("hash"), CreatedAt: parley.TimeOf(now)}
	sum := sha256.Sum256([]byte("the key"))
	key := &storage.APIKey{ID: parley.NewID(now), Name: "crm", Hash: sum[:], Prefix: "pk_the", CreatedAt: parley.TimeOf(now)}
	require.NoError(t, db.Update(context.Background(), func(tx *storage.Tx) error {
		if err := tx.AddQueue(parley.Queue{Name: "sales"}); err != nil {
			return err
		}
		if err := tx.PutSession(r); err != nil {
			return err
		}
		if err := tx.PutAgent(ag); err != nil {
			return err
		}
		if err := tx.AppendStatus(storage.StatusChange{AgentID: ag.ID, At: now, Status: parley.StatusAvailable}, 1); err != nil {
			return err
		}
		if err := tx.PutRouting(&parley.Routing{SessionID: r.ID, Queue: "sales", AgentID: ag.ID, At: parley.TimeOf(now)}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(&storage.Job{Kind: storage.JobMail, IdemKey: "k1", SessionID: r.ID, Target: "a@example.com", Payload: []byte(`{}`)}); err != nil {
			return err
		}
		if err := tx.PutWebhook(&storage.Webhook{ID: parley.NewID(now), URL: "https://example.com/h", Events: []string{"session.ended"}, Secret: "s"}); err != nil {
			return err
		}
		return tx.PutAPIKey(key)
	}))
	require.NoError(t, db.Close())
	return dir, key
}

// TestCheckAllBuckets: parley check passes on a sound file with data in
// the newer buckets, and its JSON report counts them; once the API key hash
// index loses its entry behind Parley's back, it names the problem and
// fails. It never writes.
func TestCheckAllBuckets(t *testing.T) {
	dir, key := allBucketsData(t)
	file := filepath.Join(dir, "parley.db")
	same := untouched(t, file)
	assert.Equal(t, "Checked 1 session, 0 events, 1 agent, 0 holds, 0 audit entries.\nOK\n",
		runOK(t, env{}, "", "check", "--data", dir))
	same()
	var rep storage.CheckReport
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "check", "--data", dir, "--json")), &rep))
	assert.Equal(t, storage.CheckReport{Sessions: 1, Agents: 1, StatusChanges: 1, Queues: 2, Routings: 1, Jobs: 1,
		Webhooks: 1, APIKeys: 1, Problems: []string{}}, rep)
	same()

	bdb, err := bolt.Open(file, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("apikey_hashes")).Delete(key.Hash) }))
	require.NoError(t, bdb.Close())
	same = untouched(t, file)
	r := runCLI(t, env{}, "", "check", "--data", dir)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.out, fmt.Sprintf("PROBLEM: API key %s (\"crm\") has no entry in the apikey_hashes index.\n", key.ID))
	assert.Contains(t, r.err, "the database has 1 problem(s)")
	same()
}
