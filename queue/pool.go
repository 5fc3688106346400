package queue

import (
	"container/heap"
	"errors"
	"time"

	"github.com/parley-chat/parley/parley"
)

// Errors returned by Pool.Take.
var (
	// ErrUnknownAgent is returned when the agent is not registered in the pool.
	ErrUnknownAgent = errors.New("queue: unknown agent")
	// ErrUnavailable is returned when the agent is registered but not available.
	ErrUnavailable = errors.New("queue: agent not available")
	// ErrNoFreeSlot is returned when the agent is available but has no free slot.
	ErrNoFreeSlot = errors.New("queue: agent has no free slot")
)

// agent is the routing state of one agent.
type agent struct {
	id        string
	capacity  int
	active    int
	available bool
	// free holds one ticket per free slot, oldest first. Its length is always
	// max(0, capacity-active).
	free tickets
	// index is the agent's position in the pool's heap, or -1 if it is not in
	// the heap.
	index int
}

// routable reports whether the agent belongs in the heap.
func (a *agent) routable() bool {
	return a.available && a.free.len() > 0
}

// Pool holds agents' routing state: capacity, active chats, availability, and
// the order in which their free slots became free.
//
// The order of free slots is kept with tickets drawn from a counter owned by
// the pool: a lower ticket means the slot has been free longer. Available
// agents with at least one free slot sit in a min-heap keyed by their oldest
// ticket, so Next, Take and Release run in O(log n) for n agents.
//
// The zero value is not usable; create pools with NewPool. A Pool is not safe
// for concurrent use.
type Pool struct {
	agents map[string]*agent
	ready  agentHeap
	ticket uint64
	// now is the latest time the owner told the pool (SetClock); slots
	// freed afterwards count as free since then.
	now time.Time
}

// SetClock tells the pool the time, for FreeSince; it never goes back.
func (p *Pool) SetClock(now time.Time) {
	if now.After(p.now) {
		p.now = now
	}
}

// FreeSince returns when the agent's longest-free slot became free, as
// far as the clock given to SetClock tells, and false if the agent has no
// free slot.
func (p *Pool) FreeSince(id string) (time.Time, bool) {
	a, ok := p.agents[id]
	if !ok || a.free.len() == 0 {
		return time.Time{}, false
	}
	return a.free.frontAt(), true
}

// NextWhere is Next among the agents for which ok reports true: the
// available agent satisfying ok whose free slot has been free longest. It
// checks the head of the line first, so it is O(1) when that agent
// qualifies and O(n) otherwise.
func (p *Pool) NextWhere(ok func(id string) bool) (string, bool) {
	if len(p.ready) == 0 {
		return "", false
	}
	if ok(p.ready[0].id) {
		return p.ready[0].id, true
	}
	var best *agent
	for _, a := range p.ready[1:] {
		if (best == nil || a.free.front() < best.free.front()) && ok(a.id) {
			best = a
		}
	}
	if best == nil {
		return "", false
	}
	return best.id, true
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{agents: make(map[string]*agent)}
}

// newTicket returns a ticket later than every ticket issued before.
func (p *Pool) newTicket() uint64 {
	p.ticket++
	return p.ticket
}

// fix restores a's membership and position in the heap after its state
// changed.
func (p *Pool) fix(a *agent) {
	switch in := a.index >= 0; {
	case a.routable() && in:
		heap.Fix(&p.ready, a.index)
	case a.routable():
		heap.Push(&p.ready, a)
	case in:
		heap.Remove(&p.ready, a.index)
	}
}

// Add registers an agent (not available, 0 active) or updates its capacity if
// present. A capacity of zero or less means parley.DefaultCapacity.
func (p *Pool) Add(id string, capacity int) {
	if capacity <= 0 {
		capacity = parley.DefaultCapacity
	}
	if a, ok := p.agents[id]; ok {
		p.setCapacity(a, capacity)
		return
	}
	a := &agent{id: id, capacity: capacity, index: -1}
	for range capacity {
		a.free.pushBack(p.newTicket(), p.now)
	}
	p.agents[id] = a
}

// Remove unregisters an agent, forgetting its state. Unknown agents are
// ignored.
func (p *Pool) Remove(id string) {
	a, ok := p.agents[id]
	if !ok {
		return
	}
	if a.index >= 0 {
		heap.Remove(&p.ready, a.index)
	}
	delete(p.agents, id)
}

// Has reports whether the agent is registered.
func (p *Pool) Has(id string) bool {
	_, ok := p.agents[id]
	return ok
}

// SetAvailable makes an agent routable or not. When an agent becomes
// available, all its free slots count as free from that moment (they join the
// back of the line, in call order). Setting the current state again changes
// nothing. Unknown agents are ignored.
func (p *Pool) SetAvailable(id string, available bool) {
	a, ok := p.agents[id]
	if !ok || a.available == available {
		return
	}
	a.available = available
	if available {
		n := a.free.len()
		a.free.reset()
		for range n {
			a.free.pushBack(p.newTicket(), p.now)
		}
	}
	p.fix(a)
}

// Available reports whether the agent is registered and available.
func (p *Pool) Available(id string) bool {
	a, ok := p.agents[id]
	return ok && a.available
}

// SetCapacity changes an agent's capacity; a negative capacity is treated as
// zero. New slots are free from now (back of the line); lowering capacity
// removes the most recently freed slots first. Active may exceed capacity
// after lowering; the agent then has no free slot. Unknown agents are ignored.
func (p *Pool) SetCapacity(id string, capacity int) {
	if a, ok := p.agents[id]; ok {
		p.setCapacity(a, capacity)
	}
}

func (p *Pool) setCapacity(a *agent, capacity int) {
	a.capacity = max(0, capacity)
	want := max(0, a.capacity-a.active)
	for a.free.len() < want {
		a.free.pushBack(p.newTicket(), p.now)
	}
	for a.free.len() > want {
		a.free.popBack()
	}
	p.fix(a)
}

// Next returns the available agent whose free slot has been free longest,
// without taking the slot. It reports false if no available agent has a free
// slot.
func (p *Pool) Next() (string, bool) {
	if len(p.ready) == 0 {
		return "", false
	}
	return p.ready[0].id, true
}

// Take gives one session to a specific agent (manual accept), consuming that
// agent's longest-free slot. The agent must be available with a free slot;
// otherwise Take returns ErrUnknownAgent, ErrUnavailable or ErrNoFreeSlot and
// changes nothing.
func (p *Pool) Take(id string) error {
	a, ok := p.agents[id]
	switch {
	case !ok:
		return ErrUnknownAgent
	case !a.available:
		return ErrUnavailable
	case a.free.len() == 0:
		return ErrNoFreeSlot
	}
	a.active++
	a.free.popFront()
	p.fix(a)
	return nil
}

// Hold counts an already open session for an agent regardless of
// availability and capacity (used at recovery after a restart and for
// sessions the agent keeps while on break); it consumes the agent's
// longest-free slot if it has one. Unknown agents are ignored.
func (p *Pool) Hold(id string) {
	a, ok := p.agents[id]
	if !ok {
		return
	}
	a.active++
	if a.free.len() > 0 {
		a.free.popFront()
		p.fix(a)
	}
}

// Release ends one of the agent's sessions: active drops by one, and if that
// frees a slot (active < capacity) the slot is free from now, at the back of
// the line. Releasing an agent with no active session, or an unknown agent,
// is a no-op.
func (p *Pool) Release(id string) {
	a, ok := p.agents[id]
	if !ok || a.active == 0 {
		return
	}
	a.active--
	if a.active < a.capacity {
		a.free.pushBack(p.newTicket(), p.now)
		p.fix(a)
	}
}

// Active returns the number of sessions the agent holds, or 0 for an unknown
// agent.
func (p *Pool) Active(id string) int {
	if a, ok := p.agents[id]; ok {
		return a.active
	}
	return 0
}

// Capacity returns the agent's capacity, or 0 for an unknown agent.
func (p *Pool) Capacity(id string) int {
	if a, ok := p.agents[id]; ok {
		return a.capacity
	}
	return 0
}

// Free returns the agent's number of free slots, max(0, capacity-active), or
// 0 for an unknown agent. Free slots of an unavailable agent are counted too.
func (p *Pool) Free(id string) int {
	if a, ok := p.agents[id]; ok {
		return a.free.len()
	}
	return 0
}

// Len returns the number of registered agents.
func (p *Pool) Len() int {
	return len(p.agents)
}

// agentHeap is a min-heap of routable agents ordered by their oldest free
// slot ticket. It implements heap.Interface and keeps agent.index up to date.
type agentHeap []*agent

func (h agentHeap) Len() int { return len(h) }

func (h agentHeap) Less(i, j int) bool { return h[i].free.front() < h[j].free.front() }

func (h agentHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *agentHeap) Push(x any) {
	a := x.(*agent)
	a.index = len(*h)
	*h = append(*h, a)
}

func (h *agentHeap) Pop() any {
	old := *h
	n := len(old) - 1
	a := old[n]
	old[n] = nil
	a.index = -1
	*h = old[:n]
	return a
}

// slot is one free slot: its ticket and when it became free.
type slot struct {
	ticket uint64
	at     time.Time
}

// tickets is a double-ended FIFO of slot tickets backed by a ring buffer.
type tickets struct {
	buf  []slot
	head int
	n    int
}

func (t *tickets) len() int { return t.n }

// front returns the oldest ticket; the FIFO must not be empty.
func (t *tickets) front() uint64 { return t.buf[t.head].ticket }

// frontAt returns when the oldest slot became free; the FIFO must not be
// empty.
func (t *tickets) frontAt() time.Time { return t.buf[t.head].at }

func (t *tickets) pushBack(v uint64, at time.Time) {
	if t.n == len(t.buf) {
		buf := make([]slot, max(2, 2*len(t.buf)))
		for i := range t.n {
			buf[i] = t.buf[(t.head+i)%len(t.buf)]
		}
		t.buf, t.head = buf, 0
	}
	t.buf[(t.head+t.n)%len(t.buf)] = slot{ticket: v, at: at}
	t.n++
}

func (t *tickets) popFront() {
	t.head = (t.head + 1) % len(t.buf)
	t.n--
}

func (t *tickets) popBack() {
	t.n--
}

func (t *tickets) reset() {
	t.head, t.n = 0, 0
}
