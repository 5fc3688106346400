package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// These tests drive the dispatcher through the hub's API with fake
// connections, no WebSocket: a real bbolt file, the real goroutines.

const testWait = 5 * time.Second

// fakeConn is a Conn that decodes and keeps every frame it is sent.
type fakeConn struct {
	mu     sync.Mutex
	frames []map[string]any
	read   int // frames consumed by next
	got    chan struct{}
}

func newFakeConn() *fakeConn { return &fakeConn{got: make(chan struct{}, 1)} }

func (c *fakeConn) Send(frames ...[]byte) bool {
	c.mu.Lock()
	for _, f := range frames {
		var m map[string]any
		if err := json.Unmarshal(f, &m); err != nil {
			m = map[string]any{"type": "undecodable", "raw": string(f)}
		}
		c.frames = append(c.frames, m)
	}
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	return true
}

// next returns the next frame not yet consumed, waiting for it.
func (c *fakeConn) next(t *testing.T) map[string]any {
	t.Helper()
	return c.waitFor(t, "next", func(map[string]any) bool { return true })
}

// waitFor consumes frames until one satisfies pred and returns it.
func (c *fakeConn) waitFor(t *testing.T, desc string, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(testWait)
	for {
		c.mu.Lock()
		for c.read < len(c.frames) {
			f := c.frames[c.read]
			c.read++
			if pred(f) {
				c.mu.Unlock()
				return f
			}
		}
		c.mu.Unlock()
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("no %s frame", desc)
		}
	}
}

func str(f map[string]any, k string) string { s, _ := f[k].(string); return s }

func obj(f map[string]any, k string) map[string]any { m, _ := f[k].(map[string]any); return m }

func isType(typ string) func(map[string]any) bool {
	return func(f map[string]any) bool { return str(f, "type") == typ }
}

func isRe(req string) func(map[string]any) bool {
	return func(f map[string]any) bool { return str(f, "re") == req }
}

func openTestHub(t *testing.T) *Hub {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	h, err := Open(db, Config{QueueInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() {
		h.Close()
		db.Close()
	})
	return h
}

func putTestAgent(t *testing.T, h *Hub, name string, capacity int) *parley.Agent {
	t.Helper()
	a := &parley.Agent{
		ID: parley.NewID(time.Now()), Name: name, Email: name + "@example.com", Capacity: capacity,
		CreatedAt: parley.TimeOf(time.Now()),
	}
	require.NoError(t, h.db.Update(context.Background(), func(tx *storage.Tx) error { return tx.PutAgent(a) }))
	return a
}

// attachAgent connects an agent and returns its client, connection and
// welcome.
func attachAgent(t *testing.T, h *Hub, a *parley.Agent) (*Client, *fakeConn, map[string]any) {
	t.Helper()
	c := newFakeConn()
	cl, err := h.AttachAgent(c, a.ID, a.TokenGen, "hello")
	require.NoError(t, err)
	w := c.next(t)
	require.Equal(t, "welcome", str(w, "type"), "first frame %v", w)
	return cl, c, w
}

func setStatus(t *testing.T, cl *Client, c *fakeConn, status string) map[string]any {
	t.Helper()
	req := "status-" + status
	cl.Handle(&parley.Inbound{Type: parley.FrameStatus, Status: status, Req: req})
	f := c.waitFor(t, "status reply", isRe(req))
	require.Equal(t, "agent_status", str(f, "type"), "status answered %v", f)
	return f
}

// startCustomer connects a customer, starts a session and returns the
// session id with the client and connection.
func startCustomer(t *testing.T, h *Hub, id string) (string, *Client, *fakeConn) {
	t.Helper()
	c := newFakeConn()
	cl, err := h.AttachCustomer(c, parley.Customer{ID: id, Name: id}, "hello", "")
	require.NoError(t, err)
	require.Equal(t, "welcome", str(c.next(t), "type"))
	cl.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "start"})
	f := c.waitFor(t, "start answer", isRe("start"))
	require.Equal(t, "session", str(f, "type"), "start answered %v", f)
	return str(obj(f, "session"), "id"), cl, c
}

func assignedSession(t *testing.T, c *fakeConn) map[string]any {
	t.Helper()
	return obj(c.waitFor(t, "assigned", isType("assigned")), "session")
}

// TestDispatcherAssignsInQueueOrder makes an agent with five free slots
// available while six sessions wait: the five oldest are assigned, their
// pushes arrive in queue order, and assigned_at follows that order.
func TestDispatcherAssignsInQueueOrder(t *testing.T) {
	h := openTestHub(t)
	ids := make([]string, 6)
	for i := range ids {
		ids[i], _, _ = startCustomer(t, h, fmt.Sprintf("c%d", i))
	}
	a := putTestAgent(t, h, "amy", 5)
	cl, c, _ := attachAgent(t, h, a)
	setStatus(t, cl, c, parley.StatusAvailable)
	var got []string
	var last time.Time
	for range 5 {
		s := assignedSession(t, c)
		got = append(got, str(s, "id"))
		at, err := time.Parse(time.RFC3339Nano, str(s, "assigned_at"))
		require.NoError(t, err)
		assert.False(t, at.Before(last), "assigned_at %v before %v", at, last)
		last = at
	}
	require.Equal(t, ids[:5], got)
	assert.Equal(t, ids[5:], h.disp.queueOrder())
	info := h.disp.agentStatuses()[a.ID]
	assert.Equal(t, 5, info.Active)
}

// TestAttachAgentSeesChatRoutedWhileAttaching routes a chat to an agent
// between the snapshot of a second connection's attach and its welcome.
// The second connection must hear of it: in the welcome or as a push
// after it.
func TestAttachAgentSeesChatRoutedWhileAttaching(t *testing.T) {
	h := openTestHub(t)
	a := putTestAgent(t, h, "amy", 2)
	cl1, c1, _ := attachAgent(t, h, a)
	setStatus(t, cl1, c1, parley.StatusAvailable)

	var sid string
	h.disp.hooks.attached = func(agentID string) {
		sid, _, _ = startCustomer(t, h, "cust")
		require.Equal(t, sid, str(assignedSession(t, c1), "id"), "the first connection gets it")
	}
	c2 := newFakeConn()
	_, err := h.AttachAgent(c2, a.ID, a.TokenGen, "hello-2")
	require.NoError(t, err)
	h.disp.hooks.attached = nil
	require.NotEmpty(t, sid, "the hook ran")

	w := c2.next(t)
	require.Equal(t, "welcome", str(w, "type"), "the welcome comes first, got %v", w)
	sessions, _ := w["sessions"].([]any)
	for _, s := range sessions {
		if str(s.(map[string]any), "id") == sid {
			return
		}
	}
	assert.Equal(t, sid, str(assignedSession(t, c2), "id"), "the routed chat is neither in the welcome nor pushed")
}

// TestDispatcherPanicInHandover makes the dispatcher panic in the middle
// of giving a session to an agent. The panic is contained, the session
// goes back to its original place and then to the agent, and the agent's
// slot is not leaked: once that chat ends it takes the next one.
func TestDispatcherPanicInHandover(t *testing.T) {
	h := openTestHub(t)
	s1, cust1, c1 := startCustomer(t, h, "first")
	s2, _, _ := startCustomer(t, h, "second")
	a := putTestAgent(t, h, "amy", 1)
	cl, c, _ := attachAgent(t, h, a)

	var panics atomic.Int32
	var panicked atomic.Value
	require.NoError(t, h.disp.call(func() {
		h.disp.hooks.handover = func(agentID, sessionID string) {
			if panics.Add(1) == 1 {
				panicked.Store(sessionID)
				panic("injected handover panic")
			}
		}
	}))
	setStatus(t, cl, c, parley.StatusAvailable)

	// The first session is routed again after the panic, ahead of the
	// second: it kept its place.
	assert.Equal(t, s1, str(assignedSession(t, c), "id"))
	assert.Equal(t, s1, panicked.Load(), "the panic happened while giving the first session")
	assert.GreaterOrEqual(t, panics.Load(), int32(2), "the session was handed over again after the panic")
	info := h.disp.agentStatuses()[a.ID]
	assert.Equal(t, 1, info.Active, "the agent holds exactly the one chat")
	assert.Equal(t, []string{s2}, h.disp.queueOrder())

	// The slot is fully usable: the chat ends and the agent takes the next.
	cust1.Handle(&parley.Inbound{Type: parley.FrameEnd, Req: "end"})
	c1.waitFor(t, "end answer", isRe("end"))
	assert.Equal(t, s2, str(assignedSession(t, c), "id"))
	assert.Empty(t, h.disp.queueOrder())
}

// TestAttachCustomerSeesEventsWhileAttaching assigns the customer's
// session between the read of its open session and the welcome of a
// second connection: that connection must hear of the join, in the
// welcome's session or as an event after it.
func TestAttachCustomerSeesEventsWhileAttaching(t *testing.T) {
	h := openTestHub(t)
	sid, _, _ := startCustomer(t, h, "cust")
	a := putTestAgent(t, h, "amy", 1)
	cl, c, _ := attachAgent(t, h, a)

	h.disp.hooks.customerRead = func(string) {
		setStatus(t, cl, c, parley.StatusAvailable)
		require.Equal(t, sid, str(assignedSession(t, c), "id"))
	}
	c2 := newFakeConn()
	_, err := h.AttachCustomer(c2, parley.Customer{ID: "cust", Name: "cust"}, "hello-2", "")
	require.NoError(t, err)
	h.disp.hooks.customerRead = nil

	w := c2.next(t)
	require.Equal(t, "welcome", str(w, "type"), "the welcome comes first, got %v", w)
	open := obj(w, "open_session")
	require.Equal(t, sid, str(open, "id"))
	if str(open, "state") == parley.StateActive {
		return
	}
	ev := c2.waitFor(t, "agent_joined", func(f map[string]any) bool {
		return str(f, "type") == "event" && str(obj(f, "event"), "kind") == parley.KindAgentJoined
	})
	assert.Equal(t, sid, str(ev, "session_id"))
}
