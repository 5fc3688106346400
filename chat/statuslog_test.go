package chat

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// statusHistory returns an agent's stored status changes as
// "status/reason@offset" strings, offsets from t0.
func statusHistory(t *testing.T, db *storage.DB, agentID string, t0 time.Time) []string {
	t.Helper()
	var out []string
	require.NoError(t, db.View(func(tx *storage.Tx) error {
		return tx.StatusHistory(agentID, t0, t0.Add(24*time.Hour), func(c storage.StatusChange) error {
			out = append(out, c.Status+"/"+c.Reason+"@"+c.At.Sub(t0).String())
			return nil
		})
	}))
	return out
}

// waitHistory waits until the agent's history has n changes (they are
// written in the background) and returns it.
func waitHistory(t *testing.T, db *storage.DB, agentID string, t0 time.Time, n int) []string {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		got = statusHistory(t, db, agentID, t0)
		return len(got) >= n
	}, 10*time.Second, time.Millisecond, "history never reached %d changes", n)
	return got
}

// TestStatusHistoryRecordsEffectiveStatus follows an agent through its
// status requests, a disconnect, a reconnect, a shutdown and a crash: each
// change is stored once, at the time it happened, and offline whenever no
// connection is left.
func TestStatusHistoryRecordsEffectiveStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clk := &testClock{t: t0}
	at := func(m int) { clk.Set(t0.Add(time.Duration(m) * time.Minute)) }
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := storage.Open(path, storage.Options{Now: clk.Now})
	require.NoError(t, err)
	h, err := Open(db, Config{QueueInterval: time.Hour, Now: clk.Now})
	require.NoError(t, err)

	id := parley.NewID(t0)
	cl, rec := addAgent(t, h, db, id)
	// Connected but offline (never asked for anything): nothing changed.
	at(1)
	do(t, cl, rec, parley.Inbound{Type: parley.FrameStatus, Status: parley.StatusAvailable})
	at(2)
	do(t, cl, rec, parley.Inbound{Type: parley.FrameStatus, Status: parley.StatusBreak})
	// Asking for the status it has changes nothing.
	at(3)
	do(t, cl, rec, parley.Inbound{Type: parley.FrameStatus, Status: parley.StatusBreak})
	at(4)
	do(t, cl, rec, parley.Inbound{Type: parley.FrameStatus, Status: parley.StatusAvailable})
	waitHistory(t, db, id, t0, 3)

	// The last connection goes: offline, though it asked for available.
	at(5)
	cl.Detach()
	waitHistory(t, db, id, t0, 4)
	// It comes back: available again.
	at(7)
	cl, _ = addAgentConn(t, h, id)
	// A second connection going away changes nothing.
	cl2, _ := addAgentConn(t, h, id)
	at(8)
	cl2.Detach()
	waitHistory(t, db, id, t0, 5)
	// Shutting down: offline, and Close waits for the write.
	at(9)
	require.NoError(t, h.Close())
	assert.Equal(t, []string{
		"available/@1m0s", "break/@2m0s", "available/@4m0s", "offline/disconnected@5m0s",
		"available/@7m0s", "offline/shutdown@9m0s",
	}, statusHistory(t, db, id, t0))

	// A crash: the history ends with available (as if the process died
	// before recording the disconnect). The next start closes it.
	require.NoError(t, db.Update(t.Context(), func(tx *storage.Tx) error {
		return tx.AppendStatus(storage.StatusChange{AgentID: id, At: t0.Add(10 * time.Minute), Status: parley.StatusAvailable}, 1)
	}))
	at(20)
	h, err = Open(db, Config{QueueInterval: time.Hour, Now: clk.Now})
	require.NoError(t, err)
	// A change within the same millisecond as the restart sorts after it.
	cl, rec = addAgentConn(t, h, id)
	do(t, cl, rec, parley.Inbound{Type: parley.FrameStatus, Status: parley.StatusAvailable})
	got := waitHistory(t, db, id, t0, 9)
	assert.Equal(t, []string{"available/@10m0s", "offline/restart@20m0s", "available/@20m0s"}, got[6:])
	require.NoError(t, h.Close())
	require.NoError(t, db.Close())
}

// addAgentConn attaches one more recording connection of a stored agent.
func addAgentConn(t *testing.T, h *Hub, id string) (*Client, *recorder) {
	t.Helper()
	rec := newRecorder()
	cl, err := h.AttachAgent(rec, id, 0, "")
	require.NoError(t, err)
	return cl, rec
}

// TestStatusHistoryDisabledAgent: disabling an online agent records
// offline.
func TestStatusHistoryDisabledAgent(t *testing.T) {
	h, db := openHub(t)
	t0 := h.now().Add(-time.Hour)
	id := parley.NewID(t0)
	cl, rec := addAgent(t, h, db, id)
	do(t, cl, rec, parley.Inbound{Type: parley.FrameStatus, Status: parley.StatusAvailable})
	a, err := h.Agent(id)
	require.NoError(t, err)
	a.Disabled = true
	h.AgentChanged(a)
	got := waitHistory(t, db, id, t0, 2)
	require.Len(t, got, 2)
	assert.Regexp(t, `^available/@`, got[0])
	assert.Regexp(t, `^offline/@`, got[1])
}
