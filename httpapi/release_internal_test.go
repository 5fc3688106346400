package httpapi

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/wsclient"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// TestReconnectOnCloseFindsSlotFree: a customer at its connection cap
// whose connection the server closes (its token expired) reconnects the
// moment it reads the close frame, and is let in. The test holds the old
// connection's reader back after the close frame went out (the hook), as
// a busy server may.
// Before, the slot was freed only after that, so the reconnect was
// refused with rate_limited.
func TestReconnectOnCloseFindsSlotFree(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	hub, err := chat.Open(db, chat.Config{QueueInterval: time.Hour})
	require.NoError(t, err)
	secret := []byte("0123456789abcdef0123456789abcdef")
	// The server's clock stands 200 ms before the first token expires, so
	// the server closes that connection (4401) 200 ms after its hello: a
	// close of the server's own, with nothing the client writes in flight.
	base := time.Now().Truncate(time.Second) // tokens count whole seconds
	serverNow := func() time.Time { return base.Add(time.Hour - 200*time.Millisecond) }
	s := New(hub, Config{CustomerSecret: secret, AgentSecret: db.AgentSecret(), Now: serverNow,
		HelloTimeout: 5 * time.Second, MaxConnsPerCustomer: 1})
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
	cust := parley.Customer{ID: "u-capped", Name: "Cap"}
	expiring, err := auth.SignCustomer(secret, cust, time.Hour, base)
	require.NoError(t, err)
	lasting, err := auth.SignCustomer(secret, cust, 2*time.Hour, base)
	require.NoError(t, err)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/customer/ws"
	hello := func(req, tok string) *wsclient.Client[wsclient.Frame] {
		c, err := wsclient.Dial(t.Context(), url, wsclient.Options{Timeout: 5 * time.Second})
		require.NoError(t, err)
		cl := wsclient.Listen[wsclient.Frame](c, wsclient.ListenOptions{})
		require.NoError(t, cl.Send(wsclient.Frame{"type": "hello", "token": tok, "req": req}))
		f, err := cl.WaitFor(5*time.Second, "the answer to hello", func(f wsclient.Frame) bool { return f.Str("re") == req })
		require.NoError(t, err)
		require.Equal(t, "welcome", f.Str("type"), "the hello was refused: %v", f)
		return cl
	}
	first := hello("h1", expiring)
	code, _, err := first.WaitClose(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, CloseUnauthorized, code, "the token expired")

	// Reconnect the moment the close is read.
	hello("h2", lasting)
	letGo.Do(func() { close(hold) })
}
