package queue

import (
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// busyAgent brings an agent online with capacity 1 and holds its slot with
// another chat: it counts as available, but no slot is free.
func busyAgent(m *Machine, id string) {
	online(m, id, 1)
	m.Hold(id, "other-"+id)
}

// TestEWTDriftPush: customers waiting in place are told their estimate
// again once it drifted from the one told by at least 15 s and 20%, not
// for smaller changes, and not within 10 s of their last push.
func TestEWTDriftPush(t *testing.T) {
	m := NewMachine()
	busyAgent(m, "amy")
	for _, id := range []string{"a", "b", "c"} {
		m.Enqueue(id, "c-"+id, t0)
	}
	// Nothing was measured: the prior, 30 s per position with one agent.
	effs := ofKind(m.Tick(t0), EffPosition)
	require.Len(t, effs, 3)
	for i, e := range effs {
		assert.Equal(t, 30*(i+1), e.EWTSeconds)
		assert.False(t, e.Drift)
	}

	// The queue stays busy with no slot freeing: the measured rate falls,
	// 1/(busy agent-seconds + 30) per second, so position p's estimate
	// grows by p seconds every second. At +6 s: 36, 72, 108 s. Only c's
	// moved by 15 s and 20% (90 -> 108), but it was told 6 s ago.
	assert.Empty(t, ofKind(m.Tick(t0.Add(6*time.Second)), EffPosition), "small changes, or too soon")
	_, _, ewt, _ := m.Place("c")
	require.Equal(t, 108, ewt)

	// At +10 s: 40 s (10 from 30: small), 80 s (20 from 60), 120 s.
	effs = ofKind(m.Tick(t0.Add(10*time.Second)), EffPosition)
	require.Len(t, effs, 2)
	assert.Equal(t, Effect{Kind: EffPosition, Session: "b", Customer: "c-b", Position: 2, EWTSeconds: 80,
		AgentsAvailable: 1, QueueName: parley.DefaultQueue, Drift: true}, effs[0])
	assert.Equal(t, "c", effs[1].Session)
	assert.Equal(t, 120, effs[1].EWTSeconds)
	assert.True(t, effs[1].Drift)

	// At +15 s a is at 45 s, 15 from what it was told; b and c were told
	// 5 s ago.
	effs = ofKind(m.Tick(t0.Add(15*time.Second)), EffPosition)
	require.Len(t, effs, 1)
	assert.Equal(t, "a", effs[0].Session)
	assert.Equal(t, 45, effs[0].EWTSeconds)

	// A position push is never held back and resets what was told: a
	// leaves, and b and c hear their new place at once.
	m.Ended("a", nil)
	effs = ofKind(m.Tick(t0.Add(16*time.Second)), EffPosition)
	require.Len(t, effs, 2)
	for _, e := range effs {
		assert.False(t, e.Drift)
	}
	assert.Empty(t, ofKind(m.Tick(t0.Add(17*time.Second)), EffPosition))

	// The clock going back never pushes.
	assert.Empty(t, ofKind(m.Tick(t0.Add(-time.Hour)), EffPosition))
}

// TestEWTDriftAdmitted: the estimate in the answer to start counts as
// told, so the first drift push waits for it to drift.
func TestEWTDriftAdmitted(t *testing.T) {
	m := NewMachine()
	busyAgent(m, "amy")
	m.Tick(t0)
	m.Enqueue("a", "c-a", t0)
	pos, ewt := m.Admitted("a")
	require.Equal(t, 1, pos)
	require.Equal(t, 30, ewt)
	assert.Empty(t, ofKind(m.Tick(t0.Add(time.Second)), EffPosition), "told at start")
	assert.Empty(t, ofKind(m.Tick(t0.Add(14*time.Second)), EffPosition), "44 s is 14 s more")
	effs := ofKind(m.Tick(t0.Add(15*time.Second)), EffPosition)
	require.Len(t, effs, 1)
	assert.Equal(t, 45, effs[0].EWTSeconds)
	assert.True(t, effs[0].Drift)
}

// TestEWTDriftRule pins the drift rule at its edges.
func TestEWTDriftRule(t *testing.T) {
	for _, c := range []struct {
		old, now int
		want     bool
	}{
		{0, 14, false}, {0, 15, true}, {60, 75, true}, {60, 45, true}, {90, 105, false},
		{600, 480, true}, {600, 481, false}, {600, 560, false}, {10, 20, false}, {120, 0, true},
	} {
		assert.Equal(t, c.want, drifted(c.old, c.now), "%d s -> %d s", c.old, c.now)
	}
}

// TestEWTDriftBounded: a tick checks the estimates of at most
// 2*ewtDriftScan customers per queue, yet reaches every customer of a long
// queue within a few ticks, telling each once. It holds on quiet ticks and
// when the queue changes every tick (a customer joins at the tail): before,
// a tick after a change checked every customer's estimate, and one tick
// pushed a drifted estimate to all of them.
func TestEWTDriftBounded(t *testing.T) {
	for _, joins := range []bool{false, true} {
		t.Run(fmt.Sprintf("joins=%v", joins), func(t *testing.T) {
			const n = 4 * ewtDriftScan
			m := NewMachine()
			busyAgent(m, "amy")
			for i := range n {
				m.Enqueue(string(rune('A'+i)), "c", t0.Add(time.Duration(i)*time.Millisecond))
			}
			require.Len(t, ofKind(m.Tick(t0), EffPosition), n)

			// Ten minutes later every estimate has drifted far.
			now := t0.Add(10 * time.Minute)
			pushed := map[string]int{}
			for tick := 0; tick < n/ewtDriftScan; tick++ {
				late := fmt.Sprintf("late-%d", tick)
				if joins {
					m.Enqueue(late, "c", now)
				}
				drifts := 0
				for _, e := range ofKind(m.Tick(now), EffPosition) {
					if !e.Drift {
						require.Equal(t, late, e.Session, "only a newcomer is told its place")
						continue
					}
					drifts++
					pushed[e.Session]++
				}
				assert.LessOrEqual(t, drifts, 2*ewtDriftScan, "tick %d", tick)
				now = now.Add(time.Second)
			}
			assert.Len(t, pushed, n, "every customer was told")
			for id, k := range pushed {
				assert.Equal(t, 1, k, "%s told more than once within 10 s", id)
			}
		})
	}
}
