package httpapi_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartAnswerPrecedesQueuePushes starts many sessions at once and checks
// that each customer hears its session (with its position) before any
// queue push for it, so the position a client shows is never older than
// one it was already told.
func TestStartAnswerPrecedesQueuePushes(t *testing.T) {
	h := newHarness(t)
	const n = 30
	custs := make([]*client, n)
	for i := range custs {
		custs[i], _ = h.customer(fmt.Sprintf("qo-%d", i))
	}
	var wg sync.WaitGroup
	for _, c := range custs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, c.conn.WriteJSON(frame{"type": "start", "req": "go"}))
		}()
	}
	wg.Wait()
	for i, c := range custs {
		var answer frame
		for answer == nil {
			f := c.next()
			switch {
			case f.str("re") == "go":
				answer = f
			case f.str("type") == "queue":
				t.Fatalf("customer %d got a queue push %v before its session", i, f)
			}
		}
		s := answer.obj("session")
		require.Equal(t, "queued", s.str("state"))
		// Sessions started in the same millisecond may still be ordered
		// after this answer; later pushes correct the position.
		assert.GreaterOrEqual(t, s.num("position"), 1)
		assert.LessOrEqual(t, s.num("position"), n)
	}
}
