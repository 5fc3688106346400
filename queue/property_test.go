package queue

import (
	"fmt"
	"github.com/parley-chat/parley/parley"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The reference model below is deliberately naive: plain slices and O(n)
// scans, written from the routing rules rather than from the implementation.
//
// The pool model keeps one global line of free slots of available agents,
// oldest first, each element naming the agent owning the slot. Freeing a slot
// appends to the line, taking one removes the agent's first element, and the
// next agent is simply line[0].

type modelAgent struct {
	capacity, active int
	available        bool
}

type model struct {
	queue  []Entry // sorted by (At, push order)
	agents map[string]*modelAgent
	line   []string
}

func newModel() *model { return &model{agents: map[string]*modelAgent{}} }

func (m *model) free(a *modelAgent) int { return max(0, a.capacity-a.active) }

func (m *model) push(e Entry) bool {
	if slices.ContainsFunc(m.queue, func(x Entry) bool { return x.ID == e.ID }) {
		return false
	}
	i := 0
	for i < len(m.queue) && !m.queue[i].At.After(e.At) {
		i++
	}
	m.queue = slices.Insert(m.queue, i, e)
	return true
}

func (m *model) removeSession(id string) bool {
	i := slices.IndexFunc(m.queue, func(x Entry) bool { return x.ID == id })
	if i < 0 {
		return false
	}
	m.queue = slices.Delete(m.queue, i, i+1)
	return true
}

func (m *model) position(id string) int {
	return slices.IndexFunc(m.queue, func(x Entry) bool { return x.ID == id }) + 1
}

func (m *model) appendSlots(id string, n int) {
	for range n {
		m.line = append(m.line, id)
	}
}

func (m *model) dropFirstSlot(id string) {
	i := slices.Index(m.line, id)
	m.line = slices.Delete(m.line, i, i+1)
}

func (m *model) dropLastSlots(id string, n int) {
	for ; n > 0; n-- {
		i := len(m.line) - 1
		for m.line[i] != id {
			i--
		}
		m.line = slices.Delete(m.line, i, i+1)
	}
}

func (m *model) dropAllSlots(id string) {
	m.line = slices.DeleteFunc(m.line, func(x string) bool { return x == id })
}

func (m *model) add(id string, capacity int) {
	if capacity <= 0 {
		capacity = parley.DefaultCapacity
	}
	if _, ok := m.agents[id]; ok {
		m.setCapacity(id, capacity)
		return
	}
	m.agents[id] = &modelAgent{capacity: capacity}
}

func (m *model) removeAgent(id string) {
	delete(m.agents, id)
	m.dropAllSlots(id)
}

func (m *model) setAvailable(id string, available bool) {
	a, ok := m.agents[id]
	if !ok || a.available == available {
		return
	}
	a.available = available
	if available {
		m.appendSlots(id, m.free(a))
	} else {
		m.dropAllSlots(id)
	}
}

func (m *model) setCapacity(id string, capacity int) {
	a, ok := m.agents[id]
	if !ok {
		return
	}
	before := m.free(a)
	a.capacity = max(0, capacity)
	after := m.free(a)
	if !a.available {
		return
	}
	if after > before {
		m.appendSlots(id, after-before)
	} else {
		m.dropLastSlots(id, before-after)
	}
}

func (m *model) take(id string) error {
	a, ok := m.agents[id]
	switch {
	case !ok:
		return ErrUnknownAgent
	case !a.available:
		return ErrUnavailable
	case m.free(a) == 0:
		return ErrNoFreeSlot
	}
	a.active++
	m.dropFirstSlot(id)
	return nil
}

func (m *model) hold(id string) {
	a, ok := m.agents[id]
	if !ok {
		return
	}
	if m.free(a) > 0 && a.available {
		m.dropFirstSlot(id)
	}
	a.active++
}

func (m *model) release(id string) {
	a, ok := m.agents[id]
	if !ok || a.active == 0 {
		return
	}
	a.active--
	if a.active < a.capacity && a.available {
		m.line = append(m.line, id)
	}
}

func (m *model) next() (string, bool) {
	if len(m.line) == 0 {
		return "", false
	}
	return m.line[0], true
}

const (
	propSequences = 2000
	propOps       = 200
	propSessions  = 30
	propAgents    = 6
)

var (
	sessionIDs = func() []string {
		out := make([]string, propSessions)
		for i := range out {
			out[i] = fmt.Sprintf("s%d", i)
		}
		return out
	}()
	agentIDs = []string{"a0", "a1", "a2", "a3", "a4", "a5"}
)

// TestRouterProperties runs random operation sequences against a Router and
// the reference model and checks that they agree after every operation.
func TestRouterProperties(t *testing.T) {
	for seq := range propSequences {
		runSequence(t, uint64(seq))
		if t.Failed() {
			return
		}
	}
}

func runSequence(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9a71e7))
	r := NewRouter()
	m := newModel()
	session := func() string { return sessionIDs[rng.IntN(propSessions)] }
	// Agent IDs include one that is never added.
	agentID := func() string {
		if rng.IntN(20) == 0 {
			return "ghost"
		}
		return agentIDs[rng.IntN(propAgents)]
	}

	for op := range propOps {
		ctx := fmt.Sprintf("seed %d op %d", seed, op)
		switch k := rng.IntN(100); {
		case k < 25: // Push, with many ties and out-of-order times.
			e := Entry{ID: session(), At: t0.Add(time.Duration(rng.IntN(20)) * time.Second)}
			require.Equal(t, m.push(e), r.Queue.Push(e), "%s: Push %v", ctx, e)
		case k < 30:
			id := session()
			require.Equal(t, m.removeSession(id), r.Queue.Remove(id), "%s: Remove %s", ctx, id)
		case k < 33:
			want, wantOK := Entry{}, len(m.queue) > 0
			if wantOK {
				want = m.queue[0]
				m.queue = m.queue[1:]
			}
			got, ok := r.Queue.PopFront()
			require.Equal(t, wantOK, ok, "%s: PopFront", ctx)
			require.Equal(t, want, got, "%s: PopFront", ctx)
		case k < 50:
			checkMatch(t, ctx, r, m)
		case k < 54:
			id, c := agentID(), rng.IntN(5)-1
			m.add(id, c)
			r.Pool.Add(id, c)
		case k < 56:
			id := agentID()
			m.removeAgent(id)
			r.Pool.Remove(id)
		case k < 66:
			id, av := agentID(), rng.IntN(3) > 0
			m.setAvailable(id, av)
			r.Pool.SetAvailable(id, av)
		case k < 71:
			id, c := agentID(), rng.IntN(6)-1
			m.setCapacity(id, c)
			r.Pool.SetCapacity(id, c)
		case k < 77:
			id := agentID()
			err := r.Pool.Take(id)
			require.Equal(t, m.take(id), err, "%s: Take %s", ctx, id)
			if err == nil {
				require.LessOrEqual(t, r.Pool.Active(id), r.Pool.Capacity(id), "%s: Take over capacity", ctx)
			}
		case k < 80:
			id := agentID()
			m.hold(id)
			r.Pool.Hold(id)
		default:
			id := agentID()
			m.release(id)
			r.Pool.Release(id)
		}
		checkAgree(t, ctx, r, m, session())
	}
}

// checkMatch performs one Match and checks it against the routing rules.
func checkMatch(t *testing.T, ctx string, r *Router, m *model) {
	agent, agentOK := m.next()
	wantOK := agentOK && len(m.queue) > 0
	var before modelAgent
	if agentOK {
		before = *m.agents[agent]
	}
	got, ok := r.Match()
	require.Equal(t, wantOK, ok, "%s: Match", ctx)
	if !ok {
		return
	}
	// Never out of FIFO order: the session is the oldest waiting one.
	require.Equal(t, m.queue[0], got.Session, "%s: Match session", ctx)
	for _, e := range m.queue[1:] {
		require.False(t, e.At.Before(got.Session.At), "%s: FIFO", ctx)
	}
	// Always the longest-free agent, never one that is unavailable.
	require.Equal(t, agent, got.Agent, "%s: Match agent", ctx)
	require.True(t, before.available, "%s: matched unavailable agent", ctx)
	// Never over capacity.
	require.Less(t, before.active, before.capacity, "%s: matched agent without free slot", ctx)
	m.queue = m.queue[1:]
	require.NoError(t, m.take(agent))
	require.LessOrEqual(t, r.Pool.Active(agent), r.Pool.Capacity(agent), "%s: over capacity", ctx)
}

// state is the observable state of a Router, as seen through its API.
type state struct {
	Queue []Entry
	scalars
}

// scalars is the comparable part of state.
type scalars struct {
	QueueLen int
	Front    Entry
	FrontOK  bool
	Position int
	Contains bool
	PoolLen  int
	Agents   [propAgents + 1]agentState
	Next     string
	NextOK   bool
}

type agentState struct {
	Has, Available         bool
	Active, Capacity, Free int
}

// equal reports whether s and o are identical. Entries are copied, never
// rebuilt, so == on their times is exact.
func (s state) equal(o state) bool {
	return slices.Equal(s.Queue, o.Queue) && s.scalars == o.scalars
}

// observe reads the state of r through its exported API.
func observe(r *Router, probe string) state {
	var s state
	q := r.Queue
	s.QueueLen = q.Len()
	q.Each(func(pos int, e Entry) bool {
		if pos != len(s.Queue)+1 {
			panic(fmt.Sprintf("Each pos %d after %d entries", pos, len(s.Queue)))
		}
		s.Queue = append(s.Queue, e)
		return true
	})
	s.Front, s.FrontOK = q.Front()
	s.Position = q.Position(probe)
	s.Contains = q.Contains(probe)
	p := r.Pool
	s.PoolLen = p.Len()
	for i, id := range append(agentIDs, "ghost") {
		s.Agents[i] = agentState{
			Has: p.Has(id), Available: p.Available(id),
			Active: p.Active(id), Capacity: p.Capacity(id), Free: p.Free(id),
		}
	}
	s.Next, s.NextOK = p.Next()
	return s
}

// expect computes the state the model predicts.
func (m *model) expect(probe string) state {
	var s state
	s.Queue = append([]Entry(nil), m.queue...) // nil when empty, like observe
	s.QueueLen = len(m.queue)
	if len(m.queue) > 0 {
		s.Front, s.FrontOK = m.queue[0], true
	}
	s.Position = m.position(probe)
	s.Contains = s.Position > 0
	s.PoolLen = len(m.agents)
	for i, id := range append(agentIDs, "ghost") {
		if a, ok := m.agents[id]; ok {
			s.Agents[i] = agentState{
				Has: true, Available: a.available,
				Active: a.active, Capacity: a.capacity, Free: m.free(a),
			}
		}
	}
	s.Next, s.NextOK = m.next()
	return s
}

// checkAgree compares the observable state of r with m.
func checkAgree(t *testing.T, ctx string, r *Router, m *model, probe string) {
	got, want := observe(r, probe), m.expect(probe)
	if !want.equal(got) { // far cheaper than require.Equal on the hot path
		require.Equal(t, want, got, "%s: state (probe %s)", ctx, probe)
	}
	if got.NextOK {
		require.True(t, r.Pool.Available(got.Next), "%s: Next unavailable", ctx)
		require.Positive(t, r.Pool.Free(got.Next), "%s: Next without free slot", ctx)
	}
}

// TestPoolInvariantsUnderRandomOps checks the pool's internal heap and ticket
// invariants after every operation of random sequences.
func TestPoolInvariantsUnderRandomOps(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		p := NewPool()
		for range propOps {
			id := agentIDs[rng.IntN(propAgents)]
			switch rng.IntN(8) {
			case 0:
				p.Add(id, rng.IntN(4))
			case 1:
				p.Remove(id)
			case 2:
				p.SetAvailable(id, rng.IntN(2) == 0)
			case 3:
				p.SetCapacity(id, rng.IntN(5)-1)
			case 4:
				_ = p.Take(id)
			case 5:
				p.Hold(id)
			case 6:
				p.Release(id)
			case 7:
				if next, ok := p.Next(); ok {
					require.NoError(t, p.Take(next))
				}
			}
			checkPool(t, p)
		}
	}
}

// TestQueueUnderRandomOps checks the queue's links and order after every
// operation of random sequences with a larger ID space than the router test.
func TestQueueUnderRandomOps(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 11))
		q := NewQueue()
		m := newModel()
		for range propOps {
			id := fmt.Sprintf("s%d", rng.IntN(100))
			switch rng.IntN(4) {
			case 0, 1:
				e := Entry{ID: id, At: t0.Add(time.Duration(rng.IntN(50)) * time.Millisecond)}
				require.Equal(t, m.push(e), q.Push(e))
			case 2:
				require.Equal(t, m.removeSession(id), q.Remove(id))
			case 3:
				e, ok := q.PopFront()
				require.Equal(t, len(m.queue) > 0, ok)
				if ok {
					require.Equal(t, m.queue[0], e)
					m.queue = m.queue[1:]
				}
			}
			checkQueueLinks(t, q)
			require.Equal(t, m.position(id), q.Position(id))
		}
	}
}
