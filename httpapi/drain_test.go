package httpapi_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// storedIDs returns the client_msg_ids of a session's messages in stored
// order.
func storedIDs(t *testing.T, db *storage.DB, id string) []string {
	t.Helper()
	var out []string
	require.NoError(t, db.View(func(tx *storage.Tx) error {
		events, _, err := tx.Events(id, storage.EventQuery{AfterSeq: 1, Limit: parley.MaxHistoryLimit})
		for _, ev := range events {
			if ev.Kind == parley.KindMessage {
				out = append(out, ev.ClientMsgID)
			}
		}
		return err
	}))
	return out
}

// TestShutdownAnswersAcceptedCommandsBefore1001 holds a commit while a
// customer's sends queue up behind it, then shuts the server down. New
// WebSockets get 503 while it drains; the customer gets an answer to every
// send the server read (an acknowledgement, or unavailable for those the
// stopping sessions refused) before the 1001 close, and exactly the
// acknowledged messages are stored. Before, the close frame went out at
// once and acknowledgements of messages stored after it were dropped.
func TestShutdownAnswersAcceptedCommandsBefore1001(t *testing.T) {
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	h := newFaultHarness(t, func() error {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	})
	c, _ := h.customer("drain-1")
	c.send(frame{"type": "start", "req": "s"})
	id := c.expectRe("s").obj("session").str("id")

	hold.Store(true)
	c.send(frame{"type": "send", "text": "m0", "client_msg_id": "m0", "req": "m0"})
	<-entered
	sent := []string{"m0"}
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		c.send(frame{"type": "send", "text": m, "client_msg_id": m, "req": m})
		sent = append(sent, m)
	}
	// The reader answers sessions itself, after handing m1..m4 over.
	c.send(frame{"type": "sessions", "req": "list"})
	c.expectRe("list")

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		shut <- h.api.Shutdown(ctx)
	}()
	// Clients arriving while the server drains get 503.
	deadline := time.Now().Add(waitTime)
	for {
		ws, resp, err := websocket.DefaultDialer.Dial(h.wsURL("/v1/customer/ws"), nil)
		if err == nil {
			ws.Close()
			require.True(t, time.Now().Before(deadline), "upgrades still accepted during shutdown")
			continue
		}
		require.NotNil(t, resp, "%v", err)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		break
	}
	close(release)

	answered := map[string]string{}
	for {
		f, err := c.wc.Next(waitTime)
		if err != nil {
			break
		}
		if re := f.str("re"); re != "" {
			switch f.str("type") {
			case "sent":
				answered[re] = "sent"
			case "error":
				assert.Equal(t, parley.EUnavailable, f.str("code"), "%v", f)
				answered[re] = "error"
			}
		}
	}
	code, _ := c.expectClose()
	assert.Equal(t, httpapi.CloseGoingAway, code)
	require.NoError(t, <-shut)

	var acked []string
	for _, m := range sent {
		require.Contains(t, answered, m, "no answer to %s before the close", m)
		if answered[m] == "sent" {
			acked = append(acked, m)
		}
	}
	assert.Equal(t, "sent", answered["m0"], "the send under way is stored and acknowledged")
	assert.Equal(t, acked, storedIDs(t, h.db, id), "exactly the acknowledged messages are stored")
}
