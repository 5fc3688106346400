package chat

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// recorder is a Conn that keeps every frame it is sent.
type recorder struct {
	mu     sync.Mutex
	frames []string
	got    chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 1024)} }

func (r *recorder) Send(frames ...[]byte) bool {
	r.mu.Lock()
	for _, f := range frames {
		r.frames = append(r.frames, string(f))
	}
	r.mu.Unlock()
	r.got <- struct{}{}
	return true
}

// wait blocks until a frame containing substr arrives.
func (r *recorder) wait(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for _, f := range r.frames {
			if contains(f, substr) {
				r.mu.Unlock()
				return f
			}
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("no frame containing %q in %v", substr, r.frames)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestPanicInSessionIsContained makes one session goroutine panic and
// checks that the session, the other sessions and the hub keep working.
func TestPanicInSessionIsContained(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	h, err := Open(db, Config{})
	require.NoError(t, err)
	defer h.Close()

	var convs []*recorder
	var clients []*Client
	for _, id := range []string{"a", "b"} {
		rec := newRecorder()
		cl, err := h.AttachCustomer(rec, parley.Customer{ID: id}, "", "")
		require.NoError(t, err)
		cl.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "s"})
		rec.wait(t, `"type":"session"`)
		convs, clients = append(convs, rec), append(clients, cl)
	}

	// A send with no connection to answer panics inside the session.
	s := h.openSessionOf("a")
	require.NotNil(t, s)
	s.post(command{kind: cmdSend, from: parley.Participant{Role: parley.RoleCustomer, ID: "a"}, text: "boom"})
	// A resume is answered after the bad send was handled.
	clients[0].Handle(&parley.Inbound{Type: parley.FrameResume, SessionID: s.id, AfterSeq: 1, Req: "marker"})
	convs[0].wait(t, `"re":"marker"`)

	// The same session still answers, and so does the other one.
	for i, cl := range clients {
		cl.Handle(&parley.Inbound{Type: parley.FrameSend, Text: "still here", ClientMsgID: "m", Req: "after"})
		convs[i].wait(t, `"type":"sent","re":"after"`)
	}
	require.NoError(t, h.Ready())
	sessions, err := h.CustomerSessions("a")
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	require.NoError(t, h.EndSession(context.Background(), sessions[0].ID, parley.EndAdmin))
}
