package httpapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
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
	told := make([]int, n)
	ids := make([]string, n)
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
		ids[i], told[i] = s.str("id"), s.num("position")
		require.GreaterOrEqual(t, told[i], 1)
		require.LessOrEqual(t, told[i], n)
	}

	// The dispatcher's queue holds every session once, in arrival order.
	rows, err := h.admin.Queue(context.Background(), admin.QueueArgs{})
	require.NoError(t, err)
	require.Len(t, rows, n)
	rank := make(map[string]int, n)
	for i, r := range rows {
		require.Equal(t, i+1, r.Position, "row %d", i)
		if i > 0 {
			require.False(t, r.WaitingSince.Before(rows[i-1].WaitingSince.Time), "queue order by arrival at %d", i)
		}
		rank[r.SessionID] = r.Position
	}
	// Every customer is told exactly its place: pushes follow until the
	// last one told is the dispatcher's, and each push changes the
	// position.
	for i, c := range custs {
		want, ok := rank[ids[i]]
		require.True(t, ok, "session %s of customer %d is not in the queue", ids[i], i)
		for told[i] != want {
			f := c.waitFor("queue push", func(f frame) bool { return f.str("type") == "queue" })
			require.Equal(t, ids[i], f.str("session_id"))
			require.NotEqual(t, told[i], f.num("position"), "customer %d was told position %d twice", i, told[i])
			told[i] = f.num("position")
		}
	}
}
