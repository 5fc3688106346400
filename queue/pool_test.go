package queue

import (
	"github.com/parley-chat/parley/parley"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkPool verifies the pool's internal invariants.
func checkPool(t testing.TB, p *Pool) {
	t.Helper()
	for i, a := range p.ready {
		require.Equal(t, i, a.index, "heap index of %q", a.id)
		require.Same(t, a, p.agents[a.id], "heap agent %q registered", a.id)
		require.True(t, a.routable(), "heap agent %q routable", a.id)
		if i > 0 {
			parent := p.ready[(i-1)/2]
			require.Less(t, parent.free.front(), a.free.front(), "heap order")
		}
	}
	for id, a := range p.agents {
		require.Equal(t, id, a.id)
		require.Equal(t, max(0, a.capacity-a.active), a.free.len(), "free tickets of %q", id)
		require.GreaterOrEqual(t, a.capacity, 0)
		require.GreaterOrEqual(t, a.active, 0)
		for i := 1; i < a.free.len(); i++ {
			prev := a.free.buf[(a.free.head+i-1)%len(a.free.buf)]
			cur := a.free.buf[(a.free.head+i)%len(a.free.buf)]
			require.Less(t, prev.ticket, cur.ticket, "tickets of %q ordered", id)
			require.False(t, cur.at.Before(prev.at), "slot times of %q ordered", id)
		}
		if a.routable() {
			require.GreaterOrEqual(t, a.index, 0, "routable agent %q in heap", id)
		} else {
			require.Equal(t, -1, a.index, "unroutable agent %q not in heap", id)
		}
	}
}

func next(t testing.TB, p *Pool) string {
	t.Helper()
	id, ok := p.Next()
	require.True(t, ok, "Next")
	return id
}

func TestPoolUnknownAgent(t *testing.T) {
	p := NewPool()
	assert.NotPanics(t, func() {
		p.Remove("x")
		p.SetAvailable("x", true)
		p.SetAvailable("x", false)
		p.SetCapacity("x", 5)
		p.Hold("x")
		p.Release("x")
	})
	assert.False(t, p.Has("x"))
	assert.False(t, p.Available("x"))
	assert.Equal(t, 0, p.Active("x"))
	assert.Equal(t, 0, p.Capacity("x"))
	assert.Equal(t, 0, p.Free("x"))
	assert.Equal(t, 0, p.Len())
	assert.ErrorIs(t, p.Take("x"), ErrUnknownAgent)
	_, ok := p.Next()
	assert.False(t, ok)
	checkPool(t, p)
}

func TestPoolAdd(t *testing.T) {
	p := NewPool()
	p.Add("a", 3)
	assert.True(t, p.Has("a"))
	assert.False(t, p.Available("a"), "new agents are not available")
	assert.Equal(t, 0, p.Active("a"))
	assert.Equal(t, 3, p.Capacity("a"))
	assert.Equal(t, 3, p.Free("a"))
	assert.Equal(t, 1, p.Len())
	_, ok := p.Next()
	assert.False(t, ok, "unavailable agent is not routable")

	p.Add("d", 0)
	assert.Equal(t, parley.DefaultCapacity, p.Capacity("d"))
	p.Add("n", -4)
	assert.Equal(t, parley.DefaultCapacity, p.Capacity("n"))
	assert.Equal(t, 3, p.Len())

	// Add on a present agent only updates its capacity.
	p.SetAvailable("a", true)
	p.Hold("a")
	p.Add("a", 5)
	assert.Equal(t, 3, p.Len())
	assert.Equal(t, 5, p.Capacity("a"))
	assert.Equal(t, 1, p.Active("a"))
	assert.Equal(t, 4, p.Free("a"))
	assert.True(t, p.Available("a"))
	checkPool(t, p)
}

func TestPoolLongestFreeFirst(t *testing.T) {
	p := NewPool()
	for _, id := range []string{"a", "b", "c"} {
		p.Add(id, 1)
	}
	p.SetAvailable("b", true)
	p.SetAvailable("a", true)
	p.SetAvailable("c", true)
	assert.Equal(t, "b", next(t, p), "available first, free longest")
	assert.Equal(t, "b", next(t, p), "Next does not take")

	require.NoError(t, p.Take("b"))
	require.NoError(t, p.Take("a"))
	require.NoError(t, p.Take("c"))
	_, ok := p.Next()
	assert.False(t, ok, "no free slot")

	// Finishing a chat earlier puts an agent earlier in line.
	p.Release("c")
	p.Release("a")
	p.Release("b")
	assert.Equal(t, "c", next(t, p))
	require.NoError(t, p.Take("c"))
	assert.Equal(t, "a", next(t, p))
	require.NoError(t, p.Take("a"))
	assert.Equal(t, "b", next(t, p))
	checkPool(t, p)
}

func TestPoolSlotsOfOneAgentKeepTheirOwnTimes(t *testing.T) {
	p := NewPool()
	p.Add("a", 2)
	p.Add("b", 2)
	p.SetAvailable("a", true)
	p.SetAvailable("b", true)
	// Both of a's slots have been free since before b's.
	assert.Equal(t, "a", next(t, p))
	require.NoError(t, p.Take("a"))
	assert.Equal(t, "a", next(t, p))
	require.NoError(t, p.Take("a"))
	assert.Equal(t, "b", next(t, p))
	// Releasing puts the new free slot behind b's older ones.
	p.Release("a")
	require.NoError(t, p.Take("b"))
	assert.Equal(t, "b", next(t, p))
	require.NoError(t, p.Take("b"))
	assert.Equal(t, "a", next(t, p))
	checkPool(t, p)
}

func TestPoolSetAvailable(t *testing.T) {
	p := NewPool()
	p.Add("a", 2)
	p.Add("b", 2)
	p.SetAvailable("a", true)
	p.SetAvailable("b", true)
	assert.True(t, p.Available("a"))

	// Setting the same state again keeps the agent's place.
	p.SetAvailable("a", true)
	assert.Equal(t, "a", next(t, p))

	// Going away and coming back puts all free slots at the back.
	p.SetAvailable("a", false)
	assert.False(t, p.Available("a"))
	assert.Equal(t, "b", next(t, p))
	assert.ErrorIs(t, p.Take("a"), ErrUnavailable)
	p.SetAvailable("a", true)
	assert.Equal(t, "b", next(t, p))
	require.NoError(t, p.Take("b"))
	require.NoError(t, p.Take("b"))
	assert.Equal(t, "a", next(t, p))

	// Unavailable agents get nothing even with free slots.
	p.SetAvailable("a", false)
	_, ok := p.Next()
	assert.False(t, ok)
	assert.Equal(t, 2, p.Free("a"), "free slots are still counted")
	checkPool(t, p)
}

func TestPoolTakeErrors(t *testing.T) {
	p := NewPool()
	p.Add("a", 1)
	assert.ErrorIs(t, p.Take("a"), ErrUnavailable)
	assert.Equal(t, 0, p.Active("a"))
	p.SetAvailable("a", true)
	require.NoError(t, p.Take("a"))
	assert.Equal(t, 1, p.Active("a"))
	assert.Equal(t, 0, p.Free("a"))
	assert.ErrorIs(t, p.Take("a"), ErrNoFreeSlot)
	assert.Equal(t, 1, p.Active("a"), "failed Take changes nothing")
	assert.ErrorIs(t, p.Take("zz"), ErrUnknownAgent)

	p.Add("zero", 1)
	p.SetCapacity("zero", 0)
	p.SetAvailable("zero", true)
	assert.ErrorIs(t, p.Take("zero"), ErrNoFreeSlot)
	checkPool(t, p)
}

func TestPoolTakeConsumesLongestFreeSlot(t *testing.T) {
	p := NewPool()
	p.Add("a", 2)
	p.Add("b", 1)
	p.SetAvailable("a", true)
	require.NoError(t, p.Take("a"))
	require.NoError(t, p.Take("a"))
	p.Release("a") // a's slot 1
	p.SetAvailable("b", true)
	p.Release("a") // a's slot 2, newer than b's
	// A manual accept by a consumes slot 1, leaving slot 2 behind b.
	require.NoError(t, p.Take("a"))
	assert.Equal(t, "b", next(t, p))
	checkPool(t, p)
}

func TestPoolSetCapacity(t *testing.T) {
	p := NewPool()
	p.Add("a", 1)
	p.Add("b", 1)
	p.SetAvailable("a", true)
	p.SetAvailable("b", true)
	// Raising: new slots are free from now, at the back.
	p.SetCapacity("b", 2)
	assert.Equal(t, 2, p.Capacity("b"))
	assert.Equal(t, 2, p.Free("b"))
	require.NoError(t, p.Take("a"))
	require.NoError(t, p.Take("b"))
	p.SetCapacity("a", 2)
	assert.Equal(t, "b", next(t, p), "b's extra slot is older than a's")
	checkPool(t, p)

	// Negative means zero.
	p.SetCapacity("a", -3)
	assert.Equal(t, 0, p.Capacity("a"))
	assert.Equal(t, 0, p.Free("a"))
	checkPool(t, p)
}

func TestPoolLowerCapacityRemovesNewestSlots(t *testing.T) {
	p := NewPool()
	p.Add("a", 3)
	p.Add("c", 1)
	p.SetAvailable("a", true)
	p.SetAvailable("c", true)
	for range 3 {
		require.NoError(t, p.Take("a"))
	}
	require.NoError(t, p.Take("c"))
	p.Release("a") // older a slot
	p.Release("c")
	p.Release("a") // newer a slot
	assert.Equal(t, 2, p.Free("a"))
	p.SetCapacity("a", 2) // active 1: keeps one free slot, the older one
	assert.Equal(t, 1, p.Free("a"))
	assert.Equal(t, "a", next(t, p))
	checkPool(t, p)
}

func TestPoolActiveOverCapacity(t *testing.T) {
	p := NewPool()
	p.Add("a", 2)
	p.SetAvailable("a", true)
	require.NoError(t, p.Take("a"))
	require.NoError(t, p.Take("a"))
	p.SetCapacity("a", 1)
	assert.Equal(t, 2, p.Active("a"))
	assert.Equal(t, 0, p.Free("a"))
	assert.ErrorIs(t, p.Take("a"), ErrNoFreeSlot)
	p.Release("a")
	assert.Equal(t, 1, p.Active("a"))
	assert.Equal(t, 0, p.Free("a"), "still at capacity")
	_, ok := p.Next()
	assert.False(t, ok)
	p.Release("a")
	assert.Equal(t, 1, p.Free("a"))
	assert.Equal(t, "a", next(t, p))
	checkPool(t, p)
}

func TestPoolHold(t *testing.T) {
	p := NewPool()
	p.Add("a", 2)
	// Recovery: sessions are counted while the agent is not available.
	p.Hold("a")
	assert.Equal(t, 1, p.Active("a"))
	assert.Equal(t, 1, p.Free("a"))
	p.Hold("a")
	p.Hold("a") // beyond capacity
	assert.Equal(t, 3, p.Active("a"))
	assert.Equal(t, 0, p.Free("a"))
	p.SetAvailable("a", true)
	_, ok := p.Next()
	assert.False(t, ok)
	p.Release("a")
	p.Release("a")
	assert.Equal(t, 1, p.Active("a"))
	assert.Equal(t, 1, p.Free("a"))
	assert.Equal(t, "a", next(t, p))
	checkPool(t, p)

	// Hold on an available agent consumes its longest-free slot.
	p.Add("b", 1)
	p.SetAvailable("b", true)
	p.Release("a") // a now has an older and a newer slot around b's
	p.Hold("a")
	assert.Equal(t, "b", next(t, p))
	checkPool(t, p)
}

func TestPoolRelease(t *testing.T) {
	p := NewPool()
	p.Add("a", 1)
	p.Release("a")
	assert.Equal(t, 0, p.Active("a"), "release at 0 is a no-op")
	assert.Equal(t, 1, p.Free("a"))
	p.SetAvailable("a", true)
	require.NoError(t, p.Take("a"))
	p.Release("a")
	assert.Equal(t, 0, p.Active("a"))
	assert.Equal(t, 1, p.Free("a"))
	p.Release("a")
	assert.Equal(t, 1, p.Free("a"))
	checkPool(t, p)
}

func TestPoolRemove(t *testing.T) {
	p := NewPool()
	p.Add("a", 1)
	p.Add("b", 1)
	p.SetAvailable("a", true)
	p.SetAvailable("b", true)
	p.Remove("a")
	assert.False(t, p.Has("a"))
	assert.Equal(t, 1, p.Len())
	assert.Equal(t, "b", next(t, p))
	checkPool(t, p)

	// Re-adding starts from scratch.
	p.Add("a", 4)
	assert.False(t, p.Available("a"))
	assert.Equal(t, 0, p.Active("a"))
	assert.Equal(t, 4, p.Free("a"))
	p.Remove("b")
	p.Remove("a")
	assert.Equal(t, 0, p.Len())
	_, ok := p.Next()
	assert.False(t, ok)
	checkPool(t, p)
}

func TestTicketsRing(t *testing.T) {
	var tk tickets
	for i := range uint64(5) {
		tk.pushBack(i, time.Time{})
	}
	tk.popFront()
	tk.popFront()
	tk.pushBack(5, time.Time{})
	tk.pushBack(6, time.Time{})
	tk.pushBack(7, time.Time{}) // grows while wrapped
	tk.popBack()
	var got []uint64
	for tk.len() > 0 {
		got = append(got, tk.front())
		tk.popFront()
	}
	assert.Equal(t, []uint64{2, 3, 4, 5, 6}, got)
	tk.pushBack(9, time.Time{})
	tk.reset()
	assert.Equal(t, 0, tk.len())
}
