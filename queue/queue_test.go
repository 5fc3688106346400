package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func ids(q *Queue) []string {
	var out []string
	q.Each(func(pos int, e Entry) bool {
		out = append(out, e.ID)
		return true
	})
	return out
}

// checkQueueLinks verifies the list's links and index agree in both directions.
func checkQueueLinks(t testing.TB, q *Queue) {
	t.Helper()
	n, count := q.head, 0
	var prev *node
	for n != nil {
		require.Same(t, prev, n.prev, "prev link of %q", n.e.ID)
		require.Same(t, n, q.byID[n.e.ID], "index of %q", n.e.ID)
		if prev != nil {
			require.False(t, prev.e.At.After(n.e.At), "order: %q after %q", prev.e.ID, n.e.ID)
		}
		prev, n = n, n.next
		count++
	}
	require.Same(t, prev, q.tail)
	require.Equal(t, count, len(q.byID))
}

func TestQueueEmpty(t *testing.T) {
	q := NewQueue()
	_, ok := q.Front()
	assert.False(t, ok)
	_, ok = q.PopFront()
	assert.False(t, ok)
	assert.Equal(t, 0, q.Len())
	assert.False(t, q.Contains("x"))
	assert.Equal(t, 0, q.Position("x"))
	assert.False(t, q.Remove("x"))
	q.Each(func(int, Entry) bool { t.Fatal("Each called on empty queue"); return true })
	checkQueueLinks(t, q)
}

func TestQueueFIFO(t *testing.T) {
	q := NewQueue()
	for i, id := range []string{"a", "b", "c"} {
		require.True(t, q.Push(Entry{ID: id, At: at(i)}))
	}
	assert.Equal(t, 3, q.Len())
	e, ok := q.Front()
	require.True(t, ok)
	assert.Equal(t, Entry{ID: "a", At: at(0)}, e)
	assert.Equal(t, 3, q.Len(), "Front must not remove")

	for i, id := range []string{"a", "b", "c"} {
		e, ok := q.PopFront()
		require.True(t, ok)
		assert.Equal(t, Entry{ID: id, At: at(i)}, e)
		checkQueueLinks(t, q)
	}
	_, ok = q.PopFront()
	assert.False(t, ok)
	assert.Equal(t, 0, q.Len())
}

func TestQueueEqualAtKeepsPushOrder(t *testing.T) {
	q := NewQueue()
	for _, id := range []string{"a", "b", "c", "d"} {
		require.True(t, q.Push(Entry{ID: id, At: at(5)}))
	}
	assert.Equal(t, []string{"a", "b", "c", "d"}, ids(q))
	// Zero times are ordinary times too.
	q2 := NewQueue()
	require.True(t, q2.Push(Entry{ID: "x"}))
	require.True(t, q2.Push(Entry{ID: "y"}))
	assert.Equal(t, []string{"x", "y"}, ids(q2))
}

func TestQueueOutOfOrderInsert(t *testing.T) {
	q := NewQueue()
	require.True(t, q.Push(Entry{ID: "t10", At: at(10)}))
	require.True(t, q.Push(Entry{ID: "t20", At: at(20)}))
	require.True(t, q.Push(Entry{ID: "t30", At: at(30)}))
	require.True(t, q.Push(Entry{ID: "t15", At: at(15)}))  // middle
	require.True(t, q.Push(Entry{ID: "t5", At: at(5)}))    // front
	require.True(t, q.Push(Entry{ID: "t20b", At: at(20)})) // after the equal one
	require.True(t, q.Push(Entry{ID: "t40", At: at(40)}))  // tail
	require.True(t, q.Push(Entry{ID: "t30b", At: at(30)})) // equal to an inner one
	assert.Equal(t, []string{"t5", "t10", "t15", "t20", "t20b", "t30", "t30b", "t40"}, ids(q))
	checkQueueLinks(t, q)
	e, _ := q.Front()
	assert.Equal(t, "t5", e.ID)
}

func TestQueueRequeueKeepsPlace(t *testing.T) {
	q := NewQueue()
	for i, id := range []string{"a", "b", "c"} {
		q.Push(Entry{ID: id, At: at(i)})
	}
	e, _ := q.PopFront()
	require.Equal(t, "a", e.ID)
	q.Push(Entry{ID: "d", At: at(3)})
	// The agent declined: a goes back with its original time.
	require.True(t, q.Push(e))
	assert.Equal(t, []string{"a", "b", "c", "d"}, ids(q))
	assert.Equal(t, 1, q.Position("a"))
}

func TestQueueDuplicatePush(t *testing.T) {
	q := NewQueue()
	require.True(t, q.Push(Entry{ID: "a", At: at(1)}))
	require.True(t, q.Push(Entry{ID: "b", At: at(2)}))
	assert.False(t, q.Push(Entry{ID: "a", At: at(0)}))
	assert.False(t, q.Push(Entry{ID: "b", At: at(9)}))
	assert.Equal(t, 2, q.Len())
	assert.Equal(t, []string{"a", "b"}, ids(q))
	e, _ := q.Front()
	assert.Equal(t, at(1), e.At, "duplicate push must not change the entry")
}

func TestQueueRemove(t *testing.T) {
	newQ := func() *Queue {
		q := NewQueue()
		for i, id := range []string{"a", "b", "c", "d"} {
			q.Push(Entry{ID: id, At: at(i)})
		}
		return q
	}
	cases := map[string][]string{
		"a": {"b", "c", "d"},
		"b": {"a", "c", "d"},
		"d": {"a", "b", "c"},
	}
	for id, want := range cases {
		q := newQ()
		require.True(t, q.Remove(id))
		assert.False(t, q.Remove(id), "second remove")
		assert.False(t, q.Contains(id))
		assert.Equal(t, 0, q.Position(id))
		assert.Equal(t, want, ids(q))
		checkQueueLinks(t, q)
		// The list stays usable at both ends.
		q.Push(Entry{ID: "z", At: at(100)})
		q.Push(Entry{ID: "y", At: at(-1)})
		assert.Equal(t, append(append([]string{"y"}, want...), "z"), ids(q))
		checkQueueLinks(t, q)
	}

	q := NewQueue()
	q.Push(Entry{ID: "only", At: at(0)})
	require.True(t, q.Remove("only"))
	assert.Equal(t, 0, q.Len())
	_, ok := q.Front()
	assert.False(t, ok)
	checkQueueLinks(t, q)
	require.True(t, q.Push(Entry{ID: "only", At: at(0)}), "id can be pushed again after removal")
	checkQueueLinks(t, q)
}

func TestQueuePositionAndContains(t *testing.T) {
	q := NewQueue()
	for i, id := range []string{"a", "b", "c"} {
		q.Push(Entry{ID: id, At: at(i)})
	}
	for i, id := range []string{"a", "b", "c"} {
		assert.Equal(t, i+1, q.Position(id))
		assert.True(t, q.Contains(id))
	}
	assert.Equal(t, 0, q.Position("nope"))
	assert.False(t, q.Contains("nope"))
	q.PopFront()
	assert.Equal(t, 1, q.Position("b"))
	assert.Equal(t, 2, q.Position("c"))
}

func TestQueueEach(t *testing.T) {
	q := NewQueue()
	for i, id := range []string{"a", "b", "c", "d"} {
		q.Push(Entry{ID: id, At: at(i)})
	}
	var got []int
	q.Each(func(pos int, e Entry) bool {
		got = append(got, pos)
		assert.Equal(t, pos, q.Position(e.ID))
		return pos < 2
	})
	assert.Equal(t, []int{1, 2}, got, "Each stops when fn returns false")

	// fn may remove the entry it is given.
	q.Each(func(pos int, e Entry) bool {
		if e.ID == "b" || e.ID == "c" {
			q.Remove(e.ID)
		}
		return true
	})
	assert.Equal(t, []string{"a", "d"}, ids(q))
	checkQueueLinks(t, q)
}
