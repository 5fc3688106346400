package httpapi

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/wsclient"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// TestReconnectOnCloseFindsSlotFree: a customer at its connection cap
// whose connection the server closes reconnects the moment it reads the
// close frame, and is let in. The test holds the old connection's reader
// back after the close frame went out (the hook), as a busy server may.
// Before, the slot was freed only after that, so the reconnect was
// refused with rate_limited.
func TestReconnectOnCloseFindsSlotFree(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	hub, err := chat.Open(db, chat.Config{QueueInterval: time.Hour})
	require.NoError(t, err)
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := New(hub, Config{CustomerSecret: secret, AgentSecret: db.AgentSecret(), HelloTimeout: 5 * time.Second, MaxConnsPerCustomer: 1})
	hold := make(chan struct{})
	var letGo sync.Once
	s.hooks.ended = func() { <-hold }
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		letGo.Do(func() { close(hold) })
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		_ = hub.Close()
		_ = db.Close()
	})
	tok, err := auth.SignCustomer(secret, parley.Customer{ID: "u-capped", Name: "Cap"}, time.Hour, time.Now())
	require.NoError(t, err)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/customer/ws"
	hello := func(req string) *wsclient.Client[wsclient.Frame] {
		c, err := wsclient.Dial(t.Context(), url, wsclient.Options{Timeout: 5 * time.Second})
		require.NoError(t, err)
		cl := wsclient.Listen[wsclient.Frame](c, wsclient.ListenOptions{})
		require.NoError(t, cl.Send(wsclient.Frame{"type": "hello", "token": tok, "req": req}))
		f, err := cl.WaitFor(5*time.Second, "the answer to hello", func(f wsclient.Frame) bool { return f.Str("re") == req })
		require.NoError(t, err)
		require.Equal(t, "welcome", f.Str("type"), "%v", f)
		return cl
	}
	first := hello("h1")

	// A frame over the size limit: the server closes with 1009.
	require.NoError(t, first.WriteMessage(websocket.TextMessage, []byte(`{"type":"typing","pad":"`+strings.Repeat("x", 70<<10)+`"}`)))
	code, _, err := first.WaitClose(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, websocket.CloseMessageTooBig, code)

	c, err := wsclient.Dial(t.Context(), url, wsclient.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	again := wsclient.Listen[wsclient.Frame](c, wsclient.ListenOptions{})
	require.NoError(t, again.Send(wsclient.Frame{"type": "hello", "token": tok, "req": "h2"}))
	f, err := again.WaitFor(5*time.Second, "the answer to hello", func(f wsclient.Frame) bool { return f.Str("re") == "h2" })
	require.NoError(t, err)
	assert.Equal(t, "welcome", f.Str("type"), "the reconnect was refused: %v", f)
	letGo.Do(func() { close(hold) })
}
