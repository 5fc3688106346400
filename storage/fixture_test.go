package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/parley-chat/parley/parley"
)

// The schema fixtures in testdata/schema-vN.db are databases written by
// the code of schema version N, kept so that every later version is
// tested upgrading them (migrate_test.go; cli's TestServeMigratesFixture
// serves one). TestWriteSchemaFixture writes the fixture of the current
// version; run it BEFORE raising SchemaVersion (see migrate.go):
//
//	PARLEY_WRITE_FIXTURE=1 go test ./storage -run TestWriteSchemaFixture
//
// Every fixture holds the same data, described by these constants.
const (
	fixtureAgentEmail    = "fixture-agent@example.com"
	fixtureAgentPassword = "fixture-password-1"
	fixtureEndedCustomer = "fixture-cust-1" // one ended session, on hold
	fixtureQueuedCust    = "fixture-cust-2" // one queued session
	fixtureEndedText     = "hello from the fixture"
	fixtureAnswerText    = "answered in the fixture"
	fixtureQueuedText    = "still waiting in the fixture"
)

// fixtureTime is the clock of the fixture's writes.
var fixtureTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// writeFixtureData fills db with the fixture data.
func writeFixtureData(t *testing.T, db *DB) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(fixtureAgentPassword), bcrypt.MinCost)
	require.NoError(t, err)
	agent := &parley.Agent{
		ID: parley.NewID(fixtureTime), Name: "Fixture Agent", Email: fixtureAgentEmail, Capacity: 2,
		Status: parley.StatusOffline, PasswordHash: hash, CreatedAt: parley.TimeOf(fixtureTime),
	}
	cust := parley.Participant{Role: parley.RoleCustomer, ID: fixtureEndedCustomer, Name: "Fixture One"}
	ended := &parley.SessionRecord{
		ID: parley.NewID(fixtureTime), State: parley.StateEnded,
		Customer:     parley.Customer{ID: fixtureEndedCustomer, Name: "Fixture One"},
		Participants: []string{agent.ID},
		CreatedAt:    parley.TimeOf(fixtureTime), QueuedAt: parley.TimeOf(fixtureTime),
		AssignedAt: parley.TimeOf(fixtureTime.Add(time.Minute)),
		EndedAt:    parley.TimeOf(fixtureTime.Add(5 * time.Minute)), EndReason: "customer",
	}
	queued := &parley.SessionRecord{
		ID: parley.NewID(fixtureTime.Add(time.Hour)), State: parley.StateQueued,
		Customer:  parley.Customer{ID: fixtureQueuedCust, Name: "Fixture Two"},
		CreatedAt: parley.TimeOf(fixtureTime.Add(time.Hour)), QueuedAt: parley.TimeOf(fixtureTime.Add(time.Hour)),
	}
	require.NoError(t, db.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutAgent(agent); err != nil {
			return err
		}
		for _, r := range []*parley.SessionRecord{ended, queued} {
			if err := tx.PutSession(r); err != nil {
				return err
			}
		}
		for _, ev := range []*parley.Event{
			{Kind: parley.KindQueued, From: parley.Participant{Role: parley.RoleSystem}},
			{Kind: parley.KindMessage, From: cust, Text: fixtureEndedText, ClientMsgID: "fx-1"},
			{Kind: parley.KindAgentJoined, From: agent.Participant()},
			{Kind: parley.KindMessage, From: agent.Participant(), Text: fixtureAnswerText, ClientMsgID: "fx-2"},
			{Kind: parley.KindEnded, From: cust, Reason: "customer"},
		} {
			if _, err := tx.Append(ended.ID, ev); err != nil {
				return err
			}
		}
		for _, ev := range []*parley.Event{
			{Kind: parley.KindQueued, From: parley.Participant{Role: parley.RoleSystem}},
			{Kind: parley.KindMessage, From: parley.Participant{Role: parley.RoleCustomer, ID: fixtureQueuedCust, Name: "Fixture Two"},
				Text: fixtureQueuedText, ClientMsgID: "fx-3"},
		} {
			if _, err := tx.Append(queued.ID, ev); err != nil {
				return err
			}
		}
		if err := tx.PutHold(parley.Hold{CustomerID: fixtureEndedCustomer, Reason: "fixture", CreatedAt: parley.TimeOf(fixtureTime)}); err != nil {
			return err
		}
		return tx.AppendAudit(&parley.AuditEntry{Action: parley.AuditHoldAdd, Actor: "cli", CustomerID: fixtureEndedCustomer})
	}))
}

// TestWriteSchemaFixture writes testdata/schema-v<SchemaVersion>.db when
// PARLEY_WRITE_FIXTURE=1; otherwise it is skipped.
func TestWriteSchemaFixture(t *testing.T) {
	if os.Getenv("PARLEY_WRITE_FIXTURE") != "1" {
		t.Skip("set PARLEY_WRITE_FIXTURE=1 to (re)write the schema fixture of this version")
	}
	c := &clock{t: fixtureTime}
	db, err := Open(filepath.Join(t.TempDir(), "parley.db"), Options{Now: c.Now})
	require.NoError(t, err)
	writeFixtureData(t, db)
	out := filepath.Join("testdata", fmt.Sprintf("schema-v%d.db", SchemaVersion))
	require.NoError(t, os.MkdirAll("testdata", 0o755))
	_ = os.Remove(out)
	_, err = db.BackupTo(out) // compact: only the pages in use
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, os.Chmod(out, 0o644))
	t.Logf("wrote %s", out)
}
