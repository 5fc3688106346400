package chat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// turnDone reports whether h's turn has come, without blocking.
func turnDone(h *handoff) bool {
	if h.after == nil {
		return true
	}
	select {
	case <-h.after:
		return true
	default:
		return false
	}
}

// TestHandoffsChainOrderedPerAgent checks that each ordered handoff of an
// agent waits for the one before it, whatever order they finish in, and
// that unordered handoffs and other agents do not wait.
func TestHandoffsChainOrderedPerAgent(t *testing.T) {
	hs := newHandoffs()
	at := time.Unix(100, 0)
	hs.add("amy", "s1", at, true)
	hs.add("amy", "s2", at, true)
	hs.add("amy", "join", at, false)
	hs.add("amy", "s3", at, true)
	hs.add("bob", "s4", at, true)

	h1, h2, join, h3, h4 := hs.take("amy", "s1"), hs.take("amy", "s2"), hs.take("amy", "join"), hs.take("amy", "s3"), hs.take("bob", "s4")
	require.NotNil(t, h3)
	assert.Equal(t, at, h3.at)
	assert.Nil(t, hs.take("amy", "s1"), "take removes the handoff")
	assert.True(t, turnDone(h1), "the first has nothing to wait for")
	assert.True(t, turnDone(join), "a join does not wait")
	assert.True(t, turnDone(h4), "another agent's chain is separate")
	assert.False(t, turnDone(h2))
	assert.False(t, turnDone(h3))

	h2.finish() // a failure out of turn: s3 must still wait for s1
	assert.False(t, turnDone(h2), "s2 still waits for s1")
	assert.False(t, turnDone(h3), "s3 waits for s1 too")
	h1.finish()
	h1.finish() // finishing twice is harmless
	assert.True(t, turnDone(h2))
	assert.True(t, turnDone(h3))

	// The dispatcher finishes a handoff whose assignment never ran.
	hs.add("amy", "s5", at, true)
	hs.add("amy", "s6", at, true)
	h6 := hs.take("amy", "s6")
	h3.finish()
	assert.False(t, turnDone(h6))
	hs.finish("amy", "s5")
	assert.True(t, turnDone(h6))
	var nilTurn *handoff
	nilTurn.finish()
	nilTurn.waitTurn(nil)
}
