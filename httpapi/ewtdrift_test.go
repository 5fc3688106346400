package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEWTDriftPushLive checks, over the real server, that a customer who
// waits in place is told a new wait estimate once the measured service
// rate moved it: with the only agent busy and no slot freeing for five
// minutes, the estimate of position 1 grows from about 30 s to about
// 330 s, with no change of position or agents available.
func TestEWTDriftPushLive(t *testing.T) {
	h := newHarness(t)
	ag, _ := h.fastAgent("Ava", 1)
	ag.available()
	c1, _ := h.customer("drift1")
	h.startSession(c1)
	ag.expect("assigned")

	c2, _ := h.customer("drift2")
	s2 := h.startSession(c2)
	require.Equal(t, 1, s2.num("position"))
	require.Equal(t, 1, s2.num("agents_available"))
	require.Less(t, s2.num("ewt_s"), 60, "the prior: about 30 s")

	h.clock.advance(5 * time.Minute)
	push := c2.waitFor("a queue push with the drifted estimate", func(f frame) bool {
		return f.str("type") == "queue" && f.num("ewt_s") >= 300
	})
	assert.Equal(t, s2.str("id"), push.str("session_id"))
	assert.Equal(t, 1, push.num("position"))
	assert.Equal(t, 1, push.num("agents_available"))
	assert.InDelta(t, 330, push.num("ewt_s"), 10)
}
