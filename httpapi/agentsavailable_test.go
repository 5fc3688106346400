package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAgentsAvailableLive checks that waiting customers learn, live, how
// many agents are taking chats, and get no wait estimate while none is.
func TestAgentsAvailableLive(t *testing.T) {
	h := newHarness(t)
	c1, _ := h.customer("aa1")
	s1 := h.startSession(c1)
	c2, _ := h.customer("aa2")
	s2 := h.startSession(c2)
	for _, s := range []frame{s1, s2} {
		require.Contains(t, s, "agents_available", "queued sessions say how many agents are available")
		assert.Equal(t, 0, s.num("agents_available"))
		assert.NotContains(t, s, "ewt_s", "no estimate while nobody is available")
	}

	ag, _ := h.fastAgent("Ava", 1)
	ag.available()
	require.Equal(t, s1.str("id"), ag.expect("assigned").obj("session").str("id"))

	push := c2.waitFor("a queue push with an agent available", func(f frame) bool {
		return f.str("type") == "queue" && f.num("agents_available") == 1
	})
	assert.Equal(t, 1, push.num("position"))
	assert.Contains(t, push, "ewt_s")

	// Asking for a break with a chat open: draining, so nobody takes chats.
	h.do(ag, frame{"type": "status", "status": "break"})
	push = c2.waitFor("a queue push with no agent available", func(f frame) bool {
		return f.str("type") == "queue" && f.num("agents_available") == 0
	})
	assert.Equal(t, 1, push.num("position"))
	assert.NotContains(t, push, "ewt_s")

	again := h.do(c2, frame{"type": "start"}).obj("session")
	assert.Equal(t, 0, again.num("agents_available"))
	assert.NotContains(t, again, "ewt_s")
}
