package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// newFaultHarness is newHarness with storage.Options.CommitHook set to
// hook, so that a test can make commits fail as a broken disk would. It
// builds its own server rather than going through harness.start, which
// cannot pass storage options, and fills in only what harness methods used
// here need.
func newFaultHarness(t *testing.T, hook func() error) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{}, dir: t.TempDir(), secret: []byte("0123456789abcdef0123456789abcdef")}
	db, err := storage.Open(filepath.Join(h.dir, "parley.db"), storage.Options{Now: h.clock.now, CommitHook: hook})
	require.NoError(t, err)
	hub, err := chat.Open(db, chat.Config{Now: h.clock.now, QueueInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	h.admin = admin.New(db, admin.HubLive(hub))
	api := httpapi.New(hub, httpapi.Config{
		CustomerSecret: h.secret,
		AgentSecret:    db.AgentSecret(),
		Now:            h.clock.now,
		HelloTimeout:   2 * time.Second,
		Accounts:       h.admin,
	})
	srv := httptest.NewServer(api)
	h.db, h.hub, h.api, h.srv = db, hub, api, srv
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		_ = api.Shutdown(ctx)
		_ = hub.Close()
		_ = db.Close()
	})
	return h
}

// readyz returns the status and decoded body of GET /readyz.
func readyz(h *harness) (int, map[string]any) {
	h.t.Helper()
	code, body, _ := h.get("/readyz", "")
	var out map[string]any
	require.NoError(h.t, json.Unmarshal(body, &out), "body %s", body)
	return code, out
}

// TestStorageFaultSendUnavailableAndReadyz makes every commit fail: a
// customer's send is answered with an unavailable error and /readyz turns
// 503; once commits succeed again /readyz is 200 and the same send is
// stored.
func TestStorageFaultSendUnavailableAndReadyz(t *testing.T) {
	var failing atomic.Bool
	h := newFaultHarness(t, func() error {
		if failing.Load() {
			return errors.New("injected I/O error")
		}
		return nil
	})
	c, _ := h.customer("fault-1")
	c.send(frame{"type": "start", "req": "s"})
	started := c.expectRe("s")
	require.NotEqual(t, "error", started.str("type"), "start answered %v", started)
	code, body := readyz(h)
	require.Equal(t, http.StatusOK, code, "%v", body)

	failing.Store(true)
	c.send(frame{"type": "send", "text": "hello?", "client_msg_id": "m-1", "req": "t1"})
	f := c.expectRe("t1")
	assert.Equal(t, "error", f.str("type"), "send answered %v", f)
	assert.Equal(t, parley.EUnavailable, f.str("code"), "send answered %v", f)
	assert.NotContains(t, f.str("message"), "injected", "internal details stay out of the frame")

	code, body = readyz(h)
	assert.Equal(t, http.StatusServiceUnavailable, code, "%v", body)
	assert.Equal(t, parley.EUnavailable, body["code"], "%v", body)
	// Still failing: readyz's own probe fails too.
	code, _ = readyz(h)
	assert.Equal(t, http.StatusServiceUnavailable, code)

	// The disk comes back. /readyz recovers by itself, before any traffic.
	failing.Store(false)
	code, body = readyz(h)
	assert.Equal(t, http.StatusOK, code, "%v", body)
	assert.Equal(t, "ready", body["status"])

	// The retried send is stored (not a duplicate: the failed one was not).
	c.send(frame{"type": "send", "text": "hello?", "client_msg_id": "m-1", "req": "t2"})
	f = c.expectRe("t2")
	require.Equal(t, "sent", f.str("type"), "send answered %v", f)
	assert.Equal(t, 2, f.num("seq"), "right after queued")
	assert.NotEqual(t, true, f["duplicate"], "%v", f)
	code, _ = readyz(h)
	assert.Equal(t, http.StatusOK, code)
}
