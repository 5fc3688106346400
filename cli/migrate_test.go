package cli_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// TestVersionSchema: parley version names the database schema version,
// in text and JSON.
func TestVersionSchema(t *testing.T) {
	out := runOK(t, env{}, "", "version")
	assert.Contains(t, out, fmt.Sprintf("database schema version %d\n", storage.SchemaVersion))
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "version", "--json")), &v))
	assert.Equal(t, float64(storage.SchemaVersion), v["schema_version"])
}

// The data of storage/testdata/schema-v1.db (storage/fixture_test.go).
const (
	fixtureAgentEmail    = "fixture-agent@example.com"
	fixtureAgentPassword = "fixture-password-1"
	fixtureQueuedCust    = "fixture-cust-2"
	fixtureQueuedText    = "still waiting in the fixture"
)

// TestServeMigratesFixture serves a database written by schema version 1:
// parley serve backs it up next to itself, upgrades it, says so, and then
// serves its data: the fixture's agent signs in with its password and is
// routed the fixture's queued session with its history, and the waiting
// customer finds it open.
func TestServeMigratesFixture(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "storage", "testdata", "schema-v1.db"))
	require.NoError(t, err)
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "parley.db"), raw, 0o600))
	secret := "fixture-secret-0123456789abcdef0123"
	s := startServe(t, env{}, "--data", data, "--customer-secret", secret)
	s.errOut.waitMatch(t, regexp.MustCompile(`Upgraded the database from schema 1 to \d+; the old file is kept at \S+parley\.db\.pre-v\d+\.bak" from=1 to=\d+ backup=\S+parley\.db\.pre-v\d+\.bak`), s.done)
	backup := filepath.Join(data, fmt.Sprintf("parley.db.pre-v%d.bak", storage.SchemaVersion))
	require.FileExists(t, backup)
	// The backup is a schema 1 database that parley check accepts.
	out := runOK(t, env{}, "", "check", backup, "--data", data)
	assert.Contains(t, out, "OK\n")

	status, token := login(t, s.addr, fixtureAgentEmail, fixtureAgentPassword)
	require.Equal(t, http.StatusOK, status)
	ag, _ := agentWS(t, s.addr, token)
	ag.mustSend(frame{"type": "status", "status": "available", "req": "av"})
	assigned := ag.expect("assigned").obj("session")
	assert.Equal(t, fixtureQueuedCust, assigned.obj("customer").str("id"))

	tok, err := auth.SignCustomer([]byte(secret), parley.Customer{ID: fixtureQueuedCust, Name: "Fixture Two"}, time.Hour, time.Now())
	require.NoError(t, err)
	cust, _ := customerWS(t, s.addr, tok)
	cust.mustSend(frame{"type": "resume", "session_id": assigned.str("id"), "after_seq": 0, "req": "r"})
	var texts []string
	for {
		f := cust.waitFor("resumed history", func(f frame) bool {
			return f.str("type") == "event" || f.str("type") == "resumed" || f.str("re") == "r"
		})
		if f.str("type") == "event" && f.obj("event").str("kind") == "message" {
			texts = append(texts, f.obj("event").str("text"))
		}
		if f.str("type") == "resumed" {
			break
		}
	}
	assert.Contains(t, texts, fixtureQueuedText)
}

// TestServeRefusesNewerSchema: a file written by a newer Parley is
// refused with a message that says so, and nothing is written: no backup,
// no upgrade.
func TestServeRefusesNewerSchema(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(data, "parley.db")
	db, err := storage.Open(path, storage.Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(storage.SchemaVersion+1))
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), v)
	}))
	require.NoError(t, bdb.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	runFail(t, env{}, "", fmt.Sprintf("database schema version %d is newer than the supported version %d; upgrade Parley",
		storage.SchemaVersion+1, storage.SchemaVersion), "serve", "--data", data, "--listen", "127.0.0.1:0")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the refused file was written")
	matches, err := filepath.Glob(path + ".pre-v*")
	require.NoError(t, err)
	assert.Empty(t, matches)
}
