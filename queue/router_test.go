package queue

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouterNoMatch(t *testing.T) {
	r := NewRouter()
	require.NotNil(t, r.Queue)
	require.NotNil(t, r.Pool)
	_, ok := r.Match()
	assert.False(t, ok)

	// Sessions but no routable agent: nothing is popped.
	r.Queue.Push(Entry{ID: "s1", At: at(1)})
	r.Pool.Add("a", 1)
	_, ok = r.Match()
	assert.False(t, ok)
	assert.Equal(t, 1, r.Queue.Len())

	// Agent but no session: nothing is taken.
	r.Queue.Remove("s1")
	r.Pool.SetAvailable("a", true)
	_, ok = r.Match()
	assert.False(t, ok)
	assert.Equal(t, 0, r.Pool.Active("a"))
	assert.Equal(t, 1, r.Pool.Free("a"))
}

func TestRouterMatch(t *testing.T) {
	r := NewRouter()
	r.Pool.Add("a", 1)
	r.Pool.Add("b", 2)
	r.Pool.SetAvailable("b", true)
	r.Pool.SetAvailable("a", true)
	r.Queue.Push(Entry{ID: "s2", At: at(2)})
	r.Queue.Push(Entry{ID: "s3", At: at(3)})
	r.Queue.Push(Entry{ID: "s1", At: at(1)})
	r.Queue.Push(Entry{ID: "s4", At: at(4)})
	r.Queue.Push(Entry{ID: "s5", At: at(5)})

	var got []Assignment
	for {
		as, ok := r.Match()
		if !ok {
			break
		}
		got = append(got, as)
	}
	assert.Equal(t, []Assignment{
		{Session: Entry{ID: "s1", At: at(1)}, Agent: "b"},
		{Session: Entry{ID: "s2", At: at(2)}, Agent: "b"},
		{Session: Entry{ID: "s3", At: at(3)}, Agent: "a"},
	}, got)
	assert.Equal(t, 2, r.Queue.Len())
	assert.Equal(t, 2, r.Pool.Active("b"))
	assert.Equal(t, 1, r.Pool.Active("a"))

	// a finishes first, so a is first in line.
	r.Pool.Release("a")
	r.Pool.Release("b")
	as, ok := r.Match()
	require.True(t, ok)
	assert.Equal(t, Assignment{Session: Entry{ID: "s4", At: at(4)}, Agent: "a"}, as)
	as, ok = r.Match()
	require.True(t, ok)
	assert.Equal(t, Assignment{Session: Entry{ID: "s5", At: at(5)}, Agent: "b"}, as)
	checkPool(t, r.Pool)
	checkQueueLinks(t, r.Queue)
}

func TestRouterRequeueAfterDecline(t *testing.T) {
	r := NewRouter()
	r.Pool.Add("a", 1)
	r.Pool.Add("b", 1)
	r.Pool.SetAvailable("a", true)
	r.Pool.SetAvailable("b", true)
	r.Queue.Push(Entry{ID: "s1", At: at(1)})
	r.Queue.Push(Entry{ID: "s2", At: at(2)})

	as, ok := r.Match()
	require.True(t, ok)
	require.Equal(t, "a", as.Agent)
	// a declines and goes on break; the session goes back to its place.
	r.Pool.Release("a")
	r.Pool.SetAvailable("a", false)
	require.True(t, r.Queue.Push(as.Session))
	as, ok = r.Match()
	require.True(t, ok)
	assert.Equal(t, Assignment{Session: Entry{ID: "s1", At: at(1)}, Agent: "b"}, as)
	_, ok = r.Match()
	assert.False(t, ok)
}
