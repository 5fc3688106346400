package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// TestRepliesBoundedForNonReader pipelines 50 history requests and 10
// resumes of a 3,000-event session from a socket that reads nothing. The
// server stops reading its commands once a budget's worth of replies
// waits, so the bytes queued for it stay within the budget plus one
// reply, nothing is cut off (the client is within its write timeout), and
// when it reads at last every reply arrives, in order.
func TestRepliesBoundedForNonReader(t *testing.T) {
	const wait = 10 * time.Second
	const budget = 64 << 10
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	sid := seedOpenSession(t, db, "c-hoard", 3000)
	hub, err := chat.Open(db, chat.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := New(hub, Config{CustomerSecret: secret, AgentSecret: db.AgentSecret(), OutboundBytes: budget,
		WriteTimeout: time.Minute, CommandRate: -1})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	d := websocket.Dialer{HandshakeTimeout: wait, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		}
		return c, err
	}}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/v1/customer/ws", nil)
	require.NoError(t, err)
	resp.Body.Close()
	defer conn.Close()
	tok, err := auth.SignCustomer(secret, parley.Customer{ID: "c-hoard"}, time.Hour, time.Now())
	require.NoError(t, err)
	write := func(v any) { t.Helper(); require.NoError(t, conn.WriteJSON(v)) }
	write(map[string]any{"type": "hello", "token": tok})
	for i := range 50 {
		write(map[string]any{"type": "history", "session_id": sid, "limit": parley.MaxHistoryLimit, "req": fmt.Sprint("h", i)})
	}
	for i := range 10 {
		write(map[string]any{"type": "resume", "session_id": sid, "after_seq": 0, "limit": parley.MaxResumeLimit, "req": fmt.Sprint("r", i)})
	}

	// Wait until the server holds the reader back.
	var c *wsConn
	deadline := time.Now().Add(wait)
	for c == nil || func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.queued <= budget }() {
		require.True(t, time.Now().Before(deadline), "the replies never filled the budget")
		s.mu.Lock()
		for k := range s.conns {
			c = k
		}
		s.mu.Unlock()
		runtime.Gosched() // polling with a deadline
	}

	// Read everything: the replies come in order, all of them.
	type reply struct {
		Type, Re string
		More     bool
		Events   []json.RawMessage
	}
	next := func() reply {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
		for {
			var f reply
			require.NoError(t, conn.ReadJSON(&f))
			if f.Type != "queue" { // position pushes of the queued session
				return f
			}
		}
	}
	require.Equal(t, "welcome", next().Type)
	for i := range 50 {
		f := next()
		require.Equal(t, fmt.Sprint("h", i), f.Re, f.Type)
		require.Len(t, f.Events, parley.MaxHistoryLimit)
	}
	for i := range 10 {
		require.Equal(t, fmt.Sprint("r", i), next().Re)
		for {
			f := next()
			if f.Type == "resumed" {
				require.True(t, f.More, "a 3,000-event session does not fit one page")
				break
			}
			require.Equal(t, "event", f.Type)
		}
	}
	c.mu.Lock()
	peak := c.peak
	c.mu.Unlock()
	t.Logf("peak bytes queued: %d", peak)
	require.LessOrEqual(t, peak, budget+parley.MaxResumePageBytes+16<<10, "replies were buffered beyond the budget")
}

// seedOpenSession stores a queued session of customer with n messages of
// about 200 characters each and returns its id.
func seedOpenSession(t *testing.T, db *storage.DB, customer string, n int) string {
	t.Helper()
	now := parley.TimeOf(time.Now())
	r := &parley.SessionRecord{ID: parley.NewID(now.Time), State: parley.StateQueued, Customer: parley.Customer{ID: customer},
		Agents: []parley.AgentRef{}, CreatedAt: now, QueuedAt: now}
	from := parley.Participant{Role: parley.RoleCustomer, ID: customer}
	text := strings.Repeat("lorem ipsum ", 17)
	for start := 0; start < n; start += 500 {
		require.NoError(t, db.Update(context.Background(), func(tx *storage.Tx) error {
			if start == 0 {
				if err := tx.PutSession(r); err != nil {
					return err
				}
			}
			for i := start; i < min(n, start+500); i++ {
				ev := &parley.Event{Kind: parley.KindMessage, From: from, Text: fmt.Sprint(i, text)}
				if _, err := tx.Append(r.ID, ev); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return r.ID
}
