package chat

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// waitLimit bounds every wait in these tests; they never sleep.
const waitLimit = 5 * time.Second

// recorder is a Conn that keeps every frame it is sent, in order.
type recorder struct {
	mu     sync.Mutex
	frames []string
	got    chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 1)} }

func (r *recorder) Send(frames ...[]byte) bool {
	r.mu.Lock()
	for _, f := range frames {
		r.frames = append(r.frames, string(f))
	}
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
	return true
}

// all returns the frames so far.
func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.frames...)
}

// wait blocks until a frame containing substr arrives and returns it.
func (r *recorder) wait(t *testing.T, substr string) string {
	t.Helper()
	var found string
	r.waitFor(t, "a frame containing "+substr, func(frames []string) bool {
		for _, f := range frames {
			if strings.Contains(f, substr) {
				found = f
				return true
			}
		}
		return false
	})
	return found
}

// waitFor blocks until ok holds for the frames so far.
func (r *recorder) waitFor(t *testing.T, what string, ok func(frames []string) bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if ok(r.all()) {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("no %s in %v", what, r.all())
		}
	}
}

// wireFrame is the part of a server frame the tests look at.
type wireFrame struct {
	Type       string        `json:"type"`
	Re         string        `json:"re"`
	Code       string        `json:"code"`
	SessionID  string        `json:"session_id"`
	Event      *parley.Event `json:"event"`
	ThroughSeq uint64        `json:"through_seq"`
	More       bool          `json:"more"`
}

func decodeFrame(t *testing.T, s string) wireFrame {
	t.Helper()
	var f wireFrame
	require.NoError(t, json.Unmarshal([]byte(s), &f), "frame %s", s)
	return f
}

// eventSeqs returns the seqs of the event frames among frames, in order.
func eventSeqs(t *testing.T, frames []string) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, s := range frames {
		if f := decodeFrame(t, s); f.Type == parley.FrameEvent {
			seqs = append(seqs, f.Event.Seq)
		}
	}
	return seqs
}

// openHub opens a hub over a new bbolt file in t.TempDir.
func openHub(t *testing.T) (*Hub, *storage.DB) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	h, err := Open(db, Config{QueueInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, h.Close())
		require.NoError(t, db.Close())
	})
	return h, db
}

// customer attaches a recording connection of customer id.
func customer(t *testing.T, h *Hub, id string) (*Client, *recorder) {
	t.Helper()
	rec := newRecorder()
	cl, err := h.AttachCustomer(rec, parley.Customer{ID: id, Name: "Customer " + id}, "", "")
	require.NoError(t, err)
	return cl, rec
}

// startSession starts a session for cl and waits for its session frame.
func startSession(t *testing.T, h *Hub, cl *Client, rec *recorder) *session {
	t.Helper()
	cl.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "start"})
	rec.wait(t, `"re":"start"`)
	s := h.openSessionOf(cl.customer.ID)
	require.NotNil(t, s)
	return s
}

// addAgent stores an agent and attaches a recording connection for it.
func addAgent(t *testing.T, h *Hub, db *storage.DB, id string) (*Client, *recorder) {
	t.Helper()
	a := &parley.Agent{ID: id, Name: "Agent " + id, Email: id + "@example.com", Capacity: 2}
	require.NoError(t, db.Update(t.Context(), func(tx *storage.Tx) error { return tx.PutAgent(a) }))
	rec := newRecorder()
	cl, err := h.AttachAgent(rec, id, 0, "")
	require.NoError(t, err)
	return cl, rec
}

// do runs one client frame with a fresh req and returns the frame that
// answers it.
func do(t *testing.T, cl *Client, rec *recorder, in parley.Inbound) wireFrame {
	t.Helper()
	in.Req = parley.NewID(time.Now())
	cl.Handle(&in)
	return decodeFrame(t, rec.wait(t, `"re":"`+in.Req+`"`))
}
