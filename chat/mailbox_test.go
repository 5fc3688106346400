package chat

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// manualBox returns a mailbox whose worker the test runs by hand: start
// only counts how often a worker would have been started.
func manualBox(limit int) (*mailbox[int], *int) {
	starts := new(int)
	return newMailbox[int](limit, func() { *starts++ }), starts
}

func takeAll(m *mailbox[int], max int, more func(a, b int) bool) [][]int {
	var out [][]int
	for {
		b, ok := m.next(max, more)
		if !ok {
			return out
		}
		out = append(out, b)
	}
}

func TestMailboxOrderBatchesAndWorkerLifecycle(t *testing.T) {
	m, starts := manualBox(100)
	for _, v := range []int{1, 2, 3, 10, 4, 5, 6, 7} {
		require.NoError(t, m.post(v))
	}
	assert.Equal(t, 1, *starts, "one worker for a burst of posts")
	// Small numbers batch together, at most three at a time; 10 stands
	// alone; order is kept.
	small := func(first, v int) bool { return first < 10 && v < 10 }
	assert.Equal(t, [][]int{{1, 2, 3}, {10}, {4, 5, 6}, {7}}, takeAll(m, 3, small))
	assert.Nil(t, m.items, "an empty mailbox keeps no buffer")
	assert.False(t, m.running, "the worker exits when the mailbox is empty")

	require.NoError(t, m.post(8))
	assert.Equal(t, 2, *starts, "the next post starts a new worker")
	assert.Equal(t, [][]int{{8}}, takeAll(m, 3, small))
}

// waitForWaiters polls until n posters block in postWait.
func waitForWaiters(t *testing.T, m *mailbox[int], n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d waiting posters", n), func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.waiters == n
	})
}

func TestMailboxPostWaitBlocksWhileFull(t *testing.T) {
	m, _ := manualBox(2)
	require.NoError(t, m.postWait(1))
	require.NoError(t, m.postWait(2))
	posted := make(chan error, 1)
	go func() { posted <- m.postWait(3) }()
	waitForWaiters(t, m, 1)
	select {
	case err := <-posted:
		t.Fatalf("postWait returned %v on a full mailbox", err)
	default:
	}
	// Control posts never block.
	require.NoError(t, m.post(100))
	b, ok := m.next(1, func(int, int) bool { return false })
	require.True(t, ok)
	assert.Equal(t, []int{1}, b)
	// Taking one item is not enough room: the control post took it.
	b, _ = m.next(1, func(int, int) bool { return false })
	assert.Equal(t, []int{2}, b)
	require.NoError(t, <-posted)
	assert.Equal(t, [][]int{{100}, {3}}, takeAll(m, 1, func(int, int) bool { return false }))
}

// TestMailboxCloseRefusesWaitingPoster is the race of a session stopping
// while a client waits on its full mailbox: the waiting post must be
// refused with the reason, and everything queued must be handed back, so
// nothing is lost.
func TestMailboxCloseRefusesWaitingPoster(t *testing.T) {
	m, _ := manualBox(1)
	require.NoError(t, m.postWait(1))
	posted := make(chan error, 1)
	go func() { posted <- m.postWait(2) }()
	waitForWaiters(t, m, 1)
	reason := errors.New("ended")
	assert.Equal(t, []int{1}, m.close(reason))
	assert.Equal(t, reason, <-posted)
	assert.Equal(t, reason, m.post(3))
	assert.Nil(t, m.close(errors.New("again")), "a second close returns nothing")
	_, ok := m.next(1, func(int, int) bool { return false })
	assert.False(t, ok, "a closed mailbox gives no more work")
}
