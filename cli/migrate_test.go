package cli_test

import (
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
	s.errOut.waitMatch(t, regexp.MustCompile(`upgraded the database schema" from=1 to=\d+ backup=\S+parley\.db\.pre-v\d+\.bak`), s.done)
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
