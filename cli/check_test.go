package cli_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// checkedFile is what parley check must leave unchanged.
type checkedFile struct {
	sum   [32]byte
	size  int64
	mtime time.Time
}

// untouched backdates path's mtime by an hour, so that any write would
// change it, and returns a function asserting that the file still has the
// same bytes and mtime.
func untouched(t *testing.T, path string) func() {
	t.Helper()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(path, old, old))
	state := func() checkedFile {
		t.Helper()
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return checkedFile{sha256.Sum256(data), fi.Size(), fi.ModTime()}
	}
	before := state()
	return func() {
		t.Helper()
		assert.Equal(t, before, state(), "%s was written to", path)
	}
}

// checkData creates a data directory with a database of one session.
func checkData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "parley.db"), storage.Options{})
	require.NoError(t, err)
	now := time.Now()
	r := &parley.SessionRecord{
		ID: parley.NewID(now), State: parley.StateQueued, Customer: parley.Customer{ID: "c1", Name: "C"},
		Agents: []parley.AgentRef{}, CreatedAt: parley.TimeOf(now), QueuedAt: parley.TimeOf(now),
	}
	require.NoError(t, db.Update(context.Background(), func(tx *storage.Tx) error {
		if err := tx.PutSession(r); err != nil {
			return err
		}
		_, err := tx.Append(r.ID, &parley.Event{Kind: parley.KindQueued,
			From: parley.Participant{Role: parley.RoleCustomer, ID: "c1", Name: "C"}})
		return err
	}))
	require.NoError(t, db.Close())
	return dir
}

// TestCheckFileNeverWrites checks a Parley database as FILE and, with no
// server running, through --data: it passes and its file is byte-identical
// with the same mtime afterwards.
func TestCheckFileNeverWrites(t *testing.T) {
	dir := checkData(t)
	file := filepath.Join(dir, "parley.db")
	same := untouched(t, file)
	const want = "Checked 1 session, 1 event, 0 agents, 0 holds, 0 audit entries.\nOK\n"
	assert.Equal(t, want, runOK(t, env{}, "", "check", file, "--data", t.TempDir()))
	same()
	assert.Equal(t, want, runOK(t, env{}, "", "check", "--data", dir))
	same()
	var rep storage.CheckReport
	a3JSON(t, &rep, "check", file)
	assert.Equal(t, 1, rep.Sessions)
	assert.Empty(t, rep.Problems)
	same()
	assert.NoFileExists(t, filepath.Join(dir, "admin.sock"))
}

// TestCheckRefusesOtherFiles checks that parley check refuses files that
// are not Parley databases and leaves them as they were.
func TestCheckRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("these are not the sessions you are looking for\n"), 0o600))
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for _, f := range []string{text, empty} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			same := untouched(t, f)
			runFail(t, env{}, "", f+" is not a Parley database", "check", f, "--data", dir)
			same()
		})
	}

	// With no server and no database in the data directory, there is
	// nothing to check, and none is created.
	runFail(t, env{}, "", "no such file", "check", "--data", dir)
	assert.NoFileExists(t, filepath.Join(dir, "parley.db"))
}

// TestOfflineLookingNeverWrites runs the admin commands that only read
// with no server running: each leaves the database byte-identical with
// the same mtime, and still answers.
func TestOfflineLookingNeverWrites(t *testing.T) {
	dir := checkData(t)
	same := untouched(t, filepath.Join(dir, "parley.db"))
	for _, args := range [][]string{
		{"agent", "ls"}, {"queue", "ls"}, {"queue", "ls", "--sessions"}, {"sessions", "ls"}, {"hold", "ls"}, {"audit", "ls"}, {"stats"},
	} {
		out := runOK(t, env{}, "", append(args, "--data", dir)...)
		assert.NotEmpty(t, out, "%v answers", args)
		same()
	}
	assert.Contains(t, runOK(t, env{}, "", "queue", "ls", "--sessions", "--data", dir), "c1", "the queued session is listed")
}
