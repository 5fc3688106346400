package queue

import (
	"fmt"
	"github.com/parley-chat/parley/parley"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

var benchSizes = []int{1_000, 100_000}

// benchIDs returns n distinct session IDs.
func benchIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// filledQueue returns a queue holding the given IDs, one second apart, and
// the time just after the last one.
func filledQueue(ids []string) (*Queue, time.Time) {
	q := NewQueue()
	at := t0
	for _, id := range ids {
		q.Push(Entry{ID: id, At: at})
		at = at.Add(time.Second)
	}
	return q, at
}

// BenchmarkQueuePush measures pushing at the tail of a queue with n waiting
// sessions.
func BenchmarkQueuePush(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			q, at := filledQueue(benchIDs("w", n))
			ids := benchIDs("p", b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				q.Push(Entry{ID: ids[i], At: at})
				at = at.Add(time.Millisecond)
			}
		})
	}
}

// BenchmarkQueuePushRequeue measures re-queueing a session a few places
// before the tail (an agent declined a recently offered session).
func BenchmarkQueuePushRequeue(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ids := benchIDs("w", n)
			q, _ := filledQueue(ids)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				e := Entry{ID: ids[n-1-i%8], At: t0.Add(time.Duration(n-1-i%8) * time.Second)}
				q.Remove(e.ID)
				q.Push(e)
			}
		})
	}
}

// BenchmarkQueuePopFront measures popping the front of a queue holding at
// least n waiting sessions.
func BenchmarkQueuePopFront(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			q, _ := filledQueue(benchIDs("w", n+b.N))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				q.PopFront()
			}
		})
	}
}

// BenchmarkQueueRemove measures removing sessions at random places from a
// queue holding at least n waiting sessions.
func BenchmarkQueueRemove(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ids := benchIDs("w", n+b.N)
			q, _ := filledQueue(ids)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				q.Remove(ids[i])
			}
		})
	}
}

// BenchmarkMatch measures one routing cycle with n waiting sessions and
// 1,000 available agents: Match, then the agent finishes the chat.
func BenchmarkMatch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := NewRouter()
			r.Queue, _ = filledQueue(benchIDs("w", n+b.N))
			for _, id := range benchIDs("a", 1000) {
				r.Pool.Add(id, parley.DefaultCapacity)
				r.Pool.SetAvailable(id, true)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				as, ok := r.Match()
				if !ok {
					b.Fatal("no match")
				}
				r.Pool.Release(as.Agent)
			}
		})
	}
}

// BenchmarkPool measures Next, Take and Release on a pool of 1,000 available
// agents with capacity 2, half of whose slots are busy: each iteration gives a
// session to the next agent and ends the oldest open session.
func BenchmarkPool(b *testing.B) {
	p := NewPool()
	agents := benchIDs("a", 1000)
	open := make([]string, 0, len(agents)) // ring of open sessions' agents, oldest at head
	for _, id := range agents {
		p.Add(id, parley.DefaultCapacity)
		p.SetAvailable(id, true)
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	for _, id := range agents {
		if err := p.Take(id); err != nil {
			b.Fatal(err)
		}
		open = append(open, id)
	}
	head := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		id, ok := p.Next()
		if !ok {
			b.Fatal("no agent")
		}
		if err := p.Take(id); err != nil {
			b.Fatal(err)
		}
		p.Release(open[head])
		open[head] = id
		head = (head + 1) % len(open)
	}
}

// tickMachine returns a machine with n sessions waiting in the default
// queue, one millisecond apart, and one available agent busy with another chat,
// after a first tick told every customer its place; and the time of that
// tick.
func tickMachine(b *testing.B, n int) (*Machine, time.Time) {
	m := NewMachine()
	m.SetAgent("amy", 1, false)
	m.Connected("amy")
	m.Hold("amy", "other")
	m.SetStatus("amy", parley.StatusAvailable, nil)
	for i, id := range benchIDs("w", n) {
		m.Enqueue(id, "c", t0.Add(time.Duration(i)*time.Millisecond))
	}
	// After the last arrival, so that a later join is at the tail.
	now := t0.Add(time.Duration(n)*time.Millisecond + time.Minute)
	if got := len(m.Tick(now)); got < n {
		b.Fatalf("first tick: %d effects, want at least %d", got, n)
	}
	return m, now
}

// BenchmarkMachineTickQuiet measures a tick when nothing changed but time
// passed: the drift check of wait estimates is all it does.
func BenchmarkMachineTickQuiet(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m, now := tickMachine(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				now = now.Add(time.Second)
				m.Tick(now)
			}
		})
	}
}

// BenchmarkMachineTickJoin measures a tick after one more session joined
// the tail of a queue of n.
func BenchmarkMachineTickJoin(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m, now := tickMachine(b, n)
			ids := benchIDs("j", b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now = now.Add(time.Second)
				m.Enqueue(ids[i], "c", now)
				m.Tick(now)
			}
		})
	}
}
