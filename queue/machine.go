package queue

import (
	"slices"
	"time"

	"github.com/parley-chat/parley/parley"
)

// EffectKind says what an Effect asks the executor to do.
type EffectKind int

// Effect kinds.
const (
	// EffAssign asks to hand Session to Agent, with At as the session's
	// assigned_at. Reply, if set, is the manual accept's connection, to
	// answer with the assigned frame. The executor must report the outcome
	// with AssignDone or AssignFailed (or HandoverFailed if it could not
	// hand it over at all). The EffAssign effects of one agent come in
	// queue order, At never decreasing; those with Ordered set must reach
	// the agent in that order (they are sessions taken from the queue, so
	// each session has at most one of them outstanding).
	EffAssign EffectKind = iota + 1
	// EffStatus asks to tell Agent its Status, Active and Capacity; Reply,
	// if set, gets it as the answer to a status request and the agent's
	// other connections get it as a push.
	EffStatus
	// EffPosition asks to tell Customer that Session is at Position of
	// queue QueueName with an estimated wait of EWTSeconds.
	EffPosition
	// EffSummary asks to tell every agent the queue summary Queue.
	EffSummary
	// EffReject asks to answer Reply with Err.
	EffReject
)

// Effect is one thing the machine decided and its executor must do. The
// machine's state already reflects the decision when the effect is
// returned.
type Effect struct {
	Kind       EffectKind
	Agent      string
	Session    string
	Customer   string
	Reply      any // opaque to the machine: the connection to answer
	Status     string
	Active     int
	Capacity   int
	Position   int
	EWTSeconds int
	// AgentsAvailable comes with EffPosition: the agents serving the
	// session's queue who take chats now.
	AgentsAvailable int
	// Queue comes with EffSummary.
	Queue parley.QueueInfo
	// QueueName names the session's queue (EffAssign, EffPosition).
	QueueName string
	// Drift comes with EffPosition: the push is sent only because the
	// wait estimate drifted (see EWTDriftMin), not because the position
	// or the agents available changed.
	Drift bool
	// Routing comes with EffAssign: the decision, for the record.
	Routing *parley.Routing
	Err     error
	At      time.Time
	Ordered bool
}

// told is what a waiting customer was last told of its place.
type told struct {
	pos, ewt int
	at       int64 // when, in Unix nanoseconds (cheaper to compare per tick)
}

// reservation is a slot taken for a session that its session has not yet
// confirmed.
type reservation struct {
	agent, session, customer string
	at                       time.Time // when the session entered the queue
	queued                   bool      // taken from the queue: requeue on failure
	reply                    any
	routing                  *parley.Routing
}

// machineAgent is what the machine knows of one agent.
type machineAgent struct {
	id       string
	status   string
	conns    int
	disabled bool
	// sessions holds every session the agent is in or has a slot reserved
	// for; its size is the agent's active count.
	sessions map[string]struct{}
	// stamped is the latest assigned_at given to one of its sessions.
	stamped time.Time
	// queues are the queues the agent serves, sorted; nil means every
	// queue.
	queues []string
}

// serves reports whether the agent serves the named queue.
func (a *machineAgent) serves(queue string) bool {
	if a.queues == nil {
		return true
	}
	_, ok := slices.BinarySearch(a.queues, queue)
	return ok
}

// AgentView describes an agent for welcomes and operators.
type AgentView struct {
	Status   string
	Capacity int
	Active   int
	// Queues are the queues the agent serves; nil means every queue.
	Queues []string
	// Sessions are the sessions the agent is in or has a slot reserved
	// for.
	Sessions []string
}

// Machine is the routing state machine: agents with their status,
// connections, sessions and the queues they serve, the queues of waiting
// sessions, slots reserved for sessions being handed over, and the
// measured service behind wait estimates. It performs no
// I/O, starts no goroutines and never reads the clock. Every method
// checks its input before it changes anything, so a call either applies
// fully or not at all, and returns the effects its executor must carry
// out. A Machine is not safe for concurrent use.
type Machine struct {
	pool  *Pool
	lanes map[string]*lane
	// names are the lanes' names, sorted.
	names   []string
	laneOf  map[string]*lane  // waiting session -> its lane
	queueOf map[string]string // open session -> its queue, as told
	agents  map[string]*machineAgent
	waiting map[string]string // queued session -> customer
	told    map[string]told   // what each waiting customer was last told
	// reserved maps a session to the agents holding a reservation for it.
	reserved map[string]map[string]*reservation
	// holders counts the agents holding or reserving each session.
	holders  map[string]int
	dirty    bool
	lastInfo parley.QueueInfo
	// seen is the latest time any method was given.
	seen time.Time
	// excluded holds, per session, the agents routing skips for it
	// (machine_timers.go).
	excluded map[string]map[string]struct{}
}

// NewMachine returns an empty machine with the default queue.
func NewMachine() *Machine {
	m := &Machine{
		pool:     NewPool(),
		lanes:    make(map[string]*lane),
		laneOf:   make(map[string]*lane),
		queueOf:  make(map[string]string),
		agents:   make(map[string]*machineAgent),
		waiting:  make(map[string]string),
		told:     make(map[string]told),
		reserved: make(map[string]map[string]*reservation),
		holders:  make(map[string]int),
	}
	m.AddQueue(parley.DefaultQueue)
	return m
}

// ClampCapacity returns the capacity an agent configured with c gets.
func ClampCapacity(c int) int {
	if c <= 0 {
		return parley.DefaultCapacity
	}
	return min(max(c, parley.MinCapacity), parley.MaxCapacity)
}

// ---- agents ----

// SetAgent registers an agent or updates its capacity and whether its
// account is disabled. A disabled agent goes offline.
func (m *Machine) SetAgent(id string, capacity int, disabled bool) []Effect {
	a := m.agents[id]
	if a == nil {
		a = &machineAgent{id: id, status: parley.StatusOffline, sessions: make(map[string]struct{})}
		m.agents[id] = a
		m.pool.Add(id, ClampCapacity(capacity))
	}
	m.pool.SetCapacity(id, ClampCapacity(capacity))
	a.disabled = disabled
	if disabled {
		a.status = parley.StatusOffline
	}
	return m.refresh(a, nil)
}

// SetAgentQueues sets the queues an agent serves; none means every queue,
// including queues added later. Unknown agents are ignored.
func (m *Machine) SetAgentQueues(id string, queues []string) {
	a := m.agents[id]
	if a == nil {
		return
	}
	var qs []string
	if len(queues) > 0 {
		qs = slices.Clone(queues)
		slices.Sort(qs)
		qs = slices.Compact(qs)
	}
	if !slices.Equal(qs, a.queues) || (qs == nil) != (a.queues == nil) {
		a.queues = qs
		m.dirty = true // the agents available of queues changed
	}
}

// HasAgent reports whether the agent is registered.
func (m *Machine) HasAgent(id string) bool { return m.agents[id] != nil }

// Hold counts an open session the agent is already in (recovery).
func (m *Machine) Hold(agentID, sessionID string) {
	a := m.agents[agentID]
	if a == nil {
		return
	}
	if _, ok := a.sessions[sessionID]; ok {
		return
	}
	a.sessions[sessionID] = struct{}{}
	m.holders[sessionID]++
	m.pool.Hold(agentID)
}

// Connected counts one more connection of a registered agent.
func (m *Machine) Connected(agentID string) []Effect {
	a := m.agents[agentID]
	if a == nil {
		return nil
	}
	a.conns++
	return m.refresh(a, nil)
}

// Disconnected counts one connection of the agent less.
func (m *Machine) Disconnected(agentID string) []Effect {
	a := m.agents[agentID]
	if a == nil {
		return nil
	}
	a.conns = max(0, a.conns-1)
	return m.refresh(a, nil)
}

// SetStatus applies an agent's status request (available, break or
// offline) and answers reply. Break with chats open is draining.
func (m *Machine) SetStatus(agentID, status string, reply any) []Effect {
	a := m.agents[agentID]
	if a == nil {
		return []Effect{{Kind: EffReject, Reply: reply, Err: parley.Errorf(parley.ENotFound, "Unknown agent.")}}
	}
	if status == parley.StatusBreak && len(a.sessions) > 0 {
		status = parley.StatusDraining
	}
	a.status = status
	effs := m.refresh(a, nil)
	return append(effs, m.statusEffect(a, reply))
}

// StatusPush returns the effect that tells every connection of an agent
// its status, or nothing for an unknown agent.
func (m *Machine) StatusPush(agentID string) []Effect {
	a := m.agents[agentID]
	if a == nil {
		return nil
	}
	return []Effect{m.statusEffect(a, nil)}
}

func (m *Machine) statusEffect(a *machineAgent, reply any) Effect {
	return Effect{
		Kind: EffStatus, Agent: a.id, Reply: reply, Status: a.status,
		Active: len(a.sessions), Capacity: m.pool.Capacity(a.id),
	}
}

// refresh makes an agent routable exactly when it is available, connected
// and enabled, and finishes draining when its last chat is over.
func (m *Machine) refresh(a *machineAgent, effs []Effect) []Effect {
	if a.status == parley.StatusDraining && len(a.sessions) == 0 {
		a.status = parley.StatusBreak
		effs = append(effs, m.statusEffect(a, nil))
	}
	was := m.pool.Available(a.id)
	m.pool.SetAvailable(a.id, a.status == parley.StatusAvailable && a.conns > 0 && !a.disabled)
	if m.pool.Available(a.id) != was {
		m.dirty = true // waiting customers hear how many agents are available
	}
	return effs
}

// Agent describes an agent, and reports false if it is unknown.
func (m *Machine) Agent(id string) (AgentView, bool) {
	a := m.agents[id]
	if a == nil {
		return AgentView{}, false
	}
	v := AgentView{Status: a.status, Capacity: m.pool.Capacity(id), Active: len(a.sessions), Queues: slices.Clone(a.queues)}
	for s := range a.sessions {
		v.Sessions = append(v.Sessions, s)
	}
	slices.Sort(v.Sessions)
	return v, true
}

// Agents calls fn for every registered agent.
func (m *Machine) Agents(fn func(id string, v AgentView, disabled bool)) {
	for id, a := range m.agents {
		fn(id, AgentView{Status: a.status, Capacity: m.pool.Capacity(id), Active: len(a.sessions), Queues: slices.Clone(a.queues)}, a.disabled)
	}
}

// reserve records a reservation whose slot is already taken in the pool
// and hands it over, stamped with its assigned_at: now, or the agent's
// previous stamp if the clock went back.
func (m *Machine) reserve(a *machineAgent, r *reservation, now time.Time, effs []Effect) []Effect {
	if _, ok := a.sessions[r.session]; !ok {
		m.holders[r.session]++
	}
	a.sessions[r.session] = struct{}{}
	if m.reserved[r.session] == nil {
		m.reserved[r.session] = make(map[string]*reservation)
	}
	m.reserved[r.session][a.id] = r
	if now.After(a.stamped) {
		a.stamped = now
	}
	return append(effs, Effect{
		Kind: EffAssign, Agent: r.agent, Session: r.session, Customer: r.customer, Reply: r.reply,
		At: a.stamped, Ordered: r.queued, QueueName: m.queueName(r.session), Routing: r.routing,
	})
}

// forget drops a reservation from every index; it reports whether it was
// there.
func (m *Machine) forget(a *machineAgent, sessionID string) (*reservation, bool) {
	r := m.reserved[sessionID][a.id]
	if r == nil {
		return nil, false
	}
	delete(m.reserved[sessionID], a.id)
	if len(m.reserved[sessionID]) == 0 {
		delete(m.reserved, sessionID)
	}
	return r, true
}

// AssignDone confirms that the session took the agent: the reservation
// becomes a held session.
func (m *Machine) AssignDone(agentID, sessionID string) []Effect {
	if a := m.agents[agentID]; a != nil {
		m.forget(a, sessionID)
	}
	return nil
}

// AssignFailed undoes a reservation whose session could not take the
// agent: the slot is free again and, if requeue, the session goes back to
// the queue at its place of at. A reservation that is gone already (the
// session ended meanwhile) changes nothing.
func (m *Machine) AssignFailed(agentID, sessionID string, requeue bool, customerID string, at time.Time) []Effect {
	a := m.agents[agentID]
	if a == nil {
		return nil
	}
	if _, ok := m.forget(a, sessionID); !ok {
		return nil
	}
	effs := m.release(a, sessionID, nil)
	if requeue {
		m.Enqueue(sessionID, customerID, at)
	}
	return effs
}

// HandoverFailed undoes a reservation the executor could not hand to its
// session at all (it failed or panicked doing so): the slot is free again
// and a session taken from the queue goes back to its original place.
func (m *Machine) HandoverFailed(agentID, sessionID string) []Effect {
	a := m.agents[agentID]
	if a == nil {
		return nil
	}
	r := m.reserved[sessionID][agentID]
	if r == nil {
		return nil
	}
	return m.AssignFailed(agentID, sessionID, r.queued, r.customer, r.at)
}

// release frees the slot the agent holds for the session, if any.
func (m *Machine) release(a *machineAgent, sessionID string, effs []Effect) []Effect {
	if _, ok := a.sessions[sessionID]; !ok {
		return effs
	}
	delete(a.sessions, sessionID)
	if m.holders[sessionID]--; m.holders[sessionID] <= 0 {
		delete(m.holders, sessionID)
	}
	m.pool.Release(a.id)
	return m.refresh(a, effs)
}

// Ended releases everything a session held: its place in the queue, the
// slots of agents, and reservations not yet confirmed.
func (m *Machine) Ended(sessionID string, agents []string) []Effect {
	m.dequeue(sessionID)
	delete(m.queueOf, sessionID)
	var effs []Effect
	held := slices.Clone(agents)
	var others []string
	for agentID := range m.reserved[sessionID] {
		if !slices.Contains(held, agentID) {
			others = append(others, agentID)
		}
	}
	slices.Sort(others) // deterministic effects
	for _, id := range append(held, others...) {
		a := m.agents[id]
		if a == nil {
			continue
		}
		m.forget(a, sessionID)
		effs = m.release(a, sessionID, effs)
	}
	return effs
}

// Left releases an agent's slot in a session it left; requeue puts the
// session back in line first, and routes it before the leaving agent's
// slot is free again, so it goes to someone else when anyone else can
// take it.
func (m *Machine) Left(agentID, sessionID, customerID string, requeue bool, at, now time.Time) []Effect {
	var effs []Effect
	m.observe(now)
	if requeue {
		m.enqueue(sessionID, customerID, at, 1) // the leaving agent still holds it
		effs = m.Route(now)
	}
	a := m.agents[agentID]
	switch {
	case a == nil:
	case m.reserved[sessionID][agentID] != nil:
		// Routed straight back to the agent that left it (no one else had
		// a free slot): the new reservation keeps the session, only the
		// old slot is freed.
		m.pool.Release(agentID)
		effs = m.refresh(a, effs)
	default:
		effs = m.release(a, sessionID, effs)
	}
	return effs
}

// Accept gives an agent the oldest waiting session among the queues it
// serves, or the given one (waiting in a queue it serves, or active to
// join it), and answers reply. open reports whether a session is open.
func (m *Machine) Accept(agentID, sessionID string, open func(id string) bool, reply any, now time.Time) []Effect {
	m.observe(now)
	defer m.markAll()
	reject := func(err error) []Effect { return []Effect{{Kind: EffReject, Reply: reply, Err: err}} }
	a := m.agents[agentID]
	switch {
	case a == nil:
		return reject(parley.Errorf(parley.ENotFound, "Unknown agent."))
	case a.status == parley.StatusDraining:
		return reject(parley.Errorf(parley.EConflict, "You are draining for a break; finish your open chats first."))
	case m.pool.Free(agentID) == 0:
		return reject(parley.Errorf(parley.EConflict, "You are at capacity (%d chats).", m.pool.Capacity(agentID)))
	}
	if sessionID == "" {
		l, e := m.oldestFor(a)
		if l == nil {
			return reject(parley.Errorf(parley.ENotFound, "No session is waiting in your queues."))
		}
		sessionID = e.ID
	}
	if _, ok := a.sessions[sessionID]; ok {
		return reject(parley.Errorf(parley.EConflict, "You are already in session %s.", sessionID))
	}
	if !open(sessionID) {
		return reject(parley.Errorf(parley.EConflict, "Session %s is not open.", sessionID))
	}
	l := m.laneOf[sessionID]
	if l != nil && !a.serves(l.name) {
		return reject(parley.Errorf(parley.EForbidden, "Session %s waits in queue %s, which you do not serve.", sessionID, l.name))
	}
	// Checks done; from here on nothing fails. Available agents take
	// their longest-free slot; an agent who is connected but not taking
	// routed chats (offline or on break) may still pick one by hand
	// while it has a free slot.
	since, _ := m.pool.FreeSince(agentID)
	if m.pool.Available(agentID) {
		if err := m.pool.Take(agentID); err != nil {
			return reject(parley.Errorf(parley.EConflict, "You cannot take a chat now: %v.", err))
		}
	} else {
		m.pool.Hold(agentID)
	}
	r := &reservation{agent: agentID, session: sessionID, reply: reply}
	if l != nil {
		e := l.entry(sessionID)
		r.customer, r.at, r.queued = m.waiting[sessionID], e.At, true
		r.routing = &parley.Routing{
			SessionID: sessionID, Queue: l.name, AgentID: agentID, At: parley.TimeOf(now), Manual: true,
			QueuedAt: parley.TimeOf(e.At), FreeSince: parley.TimeOf(since),
		}
		m.dequeue(sessionID)
		l.svc.depart(now)
	}
	return m.reserve(a, r, now, nil)
}
