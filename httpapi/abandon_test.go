package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
)

// waitCustomerConns polls until the hub counts n customer connections.
func waitCustomerConns(t *testing.T, h *harness, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return h.hub.Stats().CustomerConns == n }, waitTime, time.Millisecond,
		"customer connections never reached %d", n)
}

// TestAbandonedQueuedSessionsEnd: visitors who start a session and leave
// stop holding places in the queue once they have been gone for
// AbandonAfter: their sessions end with reason abandoned and the real
// customer behind them moves up. A customer who stays connected, however
// long it waits, keeps its place.
func TestAbandonedQueuedSessionsEnd(t *testing.T) {
	h := newHarness(t)
	h.hubConfig = func(c *chat.Config) { c.AbandonAfter = 2 * time.Minute }
	h.restart()

	var ghosts []*client
	for _, id := range []string{"ghost-1", "ghost-2", "ghost-3"} {
		c, _ := h.customer(id)
		secStart(t, c)
		ghosts = append(ghosts, c)
	}
	real, _ := h.customer("real-1")
	real.send(frame{"type": "start", "req": "s"})
	assert.Equal(t, 4, real.expectRe("s").obj("session").num("position"))
	for _, g := range ghosts {
		g.conn.Close()
	}
	waitCustomerConns(t, h, 1)

	h.clock.advance(time.Minute)
	assert.Equal(t, 0, h.hub.SweepAbandoned(), "gone for a minute only")
	h.clock.advance(time.Minute + time.Second)
	assert.Equal(t, 3, h.hub.SweepAbandoned())
	f := real.waitFor("position 1", func(f frame) bool { return f.str("type") == "queue" && f.num("position") == 1 })
	assert.Equal(t, 1, f.num("position"))

	h.clock.advance(time.Hour)
	assert.Equal(t, 0, h.hub.SweepAbandoned(), "a connected customer is never abandoned")

	back, w := h.customer("ghost-1")
	assert.Nil(t, w["open_session"])
	back.send(frame{"type": "sessions", "req": "l"})
	list := back.expectRe("l").list("sessions")
	require.Len(t, list, 1)
	assert.Equal(t, "ended", list[0].str("state"))
	assert.Equal(t, "abandoned", list[0].str("end_reason"))
	ids, err := h.hub.QueueOrder()
	require.NoError(t, err)
	assert.Len(t, ids, 1)
}

// TestAbandonSparesActiveAndRecovered: a session an agent took is not
// abandoned when its customer leaves, and after a restart the count for
// a queued session starts at the restart.
func TestAbandonSparesActiveAndRecovered(t *testing.T) {
	h := newHarness(t)
	h.hubConfig = func(c *chat.Config) { c.AbandonAfter = 2 * time.Minute }
	h.restart()
	_, cust, _ := secActive(t, h, "act-1", "Ann")
	cust.conn.Close()
	q, _ := h.customer("queued-1")
	secStart(t, q)
	q.conn.Close()
	waitCustomerConns(t, h, 0)

	h.restart()
	h.clock.advance(time.Hour)
	assert.Equal(t, 0, h.hub.SweepAbandoned(), "the first sweep after a start only starts counting")
	h.clock.advance(2 * time.Minute)
	assert.Equal(t, 1, h.hub.SweepAbandoned(), "only the queued session ends")
	ids, err := h.hub.QueueOrder()
	require.NoError(t, err)
	assert.Empty(t, ids)
	assert.Equal(t, 1, h.hub.Stats().OpenSessions)
}
