package queue

import (
	"math"
	"slices"
	"time"

	"github.com/parley-chat/parley/parley"
)

// Wait estimates. The estimate for position p is p times a smoothed average
// of the time between assignments: avg = EWTHistoryWeight*avg +
// (1-EWTHistoryWeight)*gap, starting at EWTInitialGap.
const (
	// EWTInitialGap is the assumed time between assignments before any
	// assignment was seen.
	EWTInitialGap = 30 * time.Second
	// EWTHistoryWeight is the weight of the past average when a new gap
	// between assignments is seen; the new gap weighs 1-EWTHistoryWeight.
	EWTHistoryWeight = 0.8
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
	// EffPosition asks to tell Customer that Session is at Position with an
	// estimated wait of EWTSeconds.
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
	// AgentsAvailable comes with EffPosition: the agents taking chats now.
	AgentsAvailable int
	Queue           parley.QueueInfo
	Err             error
	At              time.Time
	Ordered         bool
}

// reservation is a slot taken for a session that its session has not yet
// confirmed.
type reservation struct {
	agent, session, customer string
	at                       time.Time // when the session entered the queue
	queued                   bool      // taken from the queue: requeue on failure
	reply                    any
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
}

// AgentView describes an agent for welcomes and operators.
type AgentView struct {
	Status   string
	Capacity int
	Active   int
	// Sessions are the sessions the agent is in or has a slot reserved
	// for.
	Sessions []string
}

// Machine is the routing state machine: agents with their status,
// connections and sessions, the queue of waiting sessions, slots reserved
// for sessions being handed over, and the wait estimate. It performs no
// I/O, starts no goroutines and never reads the clock. Every method
// checks its input before it changes anything, so a call either applies
// fully or not at all, and returns the effects its executor must carry
// out. A Machine is not safe for concurrent use.
type Machine struct {
	router  *Router
	agents  map[string]*machineAgent
	waiting map[string]string // queued session -> customer
	lastPos map[string]int    // position each waiting customer was last told
	// reserved maps a session to the agents holding a reservation for it.
	reserved map[string]map[string]*reservation
	// holders counts the agents holding or reserving each session.
	holders  map[string]int
	dirty    bool
	lastInfo parley.QueueInfo
	// lastAvail is the number of available agents waiting customers were
	// last told.
	lastAvail int
	avgGap    float64 // seconds
	lastMatch time.Time
	// excluded holds, per session, the agents routing skips for it
	// (machine_timers.go).
	excluded map[string]map[string]struct{}
}

// NewMachine returns an empty machine.
func NewMachine() *Machine {
	return &Machine{
		router:   NewRouter(),
		agents:   make(map[string]*machineAgent),
		waiting:  make(map[string]string),
		lastPos:  make(map[string]int),
		reserved: make(map[string]map[string]*reservation),
		holders:  make(map[string]int),
		avgGap:   EWTInitialGap.Seconds(),
	}
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
		m.router.Pool.Add(id, ClampCapacity(capacity))
	}
	m.router.Pool.SetCapacity(id, ClampCapacity(capacity))
	a.disabled = disabled
	if disabled {
		a.status = parley.StatusOffline
	}
	return m.refresh(a, nil)
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
	m.router.Pool.Hold(agentID)
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
		Active: len(a.sessions), Capacity: m.router.Pool.Capacity(a.id),
	}
}

// refresh makes an agent routable exactly when it is available, connected
// and enabled, and finishes draining when its last chat is over.
func (m *Machine) refresh(a *machineAgent, effs []Effect) []Effect {
	if a.status == parley.StatusDraining && len(a.sessions) == 0 {
		a.status = parley.StatusBreak
		effs = append(effs, m.statusEffect(a, nil))
	}
	was := m.router.Pool.Available(a.id)
	m.router.Pool.SetAvailable(a.id, a.status == parley.StatusAvailable && a.conns > 0 && !a.disabled)
	if m.router.Pool.Available(a.id) != was {
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
	v := AgentView{Status: a.status, Capacity: m.router.Pool.Capacity(id), Active: len(a.sessions)}
	for s := range a.sessions {
		v.Sessions = append(v.Sessions, s)
	}
	slices.Sort(v.Sessions)
	return v, true
}

// Agents calls fn for every registered agent.
func (m *Machine) Agents(fn func(id string, v AgentView, disabled bool)) {
	for id, a := range m.agents {
		fn(id, AgentView{Status: a.status, Capacity: m.router.Pool.Capacity(id), Active: len(a.sessions)}, a.disabled)
	}
}

// ---- the queue ----

// Enqueue adds a waiting session of customer that entered the queue at
// at. A session already waiting keeps its place. A session an agent holds
// or has a slot reserved for is not queued: it has an agent, or is being
// handed to one and is requeued if that fails.
func (m *Machine) Enqueue(sessionID, customerID string, at time.Time) {
	m.enqueue(sessionID, customerID, at, 0)
}

// enqueue is Enqueue for a session that may still be held by up to
// holders agents.
func (m *Machine) enqueue(sessionID, customerID string, at time.Time, holders int) {
	if m.holders[sessionID] > holders {
		return
	}
	if m.router.Queue.Push(Entry{ID: sessionID, At: at}) {
		m.waiting[sessionID] = customerID
		m.dirty = true
	}
}

// Admitted returns a waiting session's position and wait estimate and
// counts the position as told to its customer (the answer to start
// carries it). pos is 0 if the session is not waiting.
func (m *Machine) Admitted(sessionID string) (pos, ewt int) {
	pos, ewt = m.Position(sessionID)
	if pos > 0 {
		m.lastPos[sessionID] = pos
	}
	return pos, ewt
}

// Position returns a waiting session's place (1 = next) and wait
// estimate in seconds; pos is 0 if it is not waiting.
func (m *Machine) Position(sessionID string) (pos, ewt int) {
	pos = m.router.Queue.Position(sessionID)
	return pos, m.estimate(pos)
}

// AgentsAvailable counts the agents taking chats now: available,
// connected and enabled, whether or not they have a free slot.
func (m *Machine) AgentsAvailable() int {
	n := 0
	for id := range m.agents {
		if m.router.Pool.Available(id) {
			n++
		}
	}
	return n
}

func (m *Machine) estimate(pos int) int {
	return int(math.Round(float64(pos) * m.avgGap))
}

// QueueOrder returns the waiting sessions, next first.
func (m *Machine) QueueOrder() []string { return m.QueueHead(m.router.Queue.Len()) }

// Waiting returns how many sessions wait.
func (m *Machine) Waiting() int { return m.router.Queue.Len() }

// QueueHead returns the first n waiting sessions, next first; it walks
// the queue no further than n.
func (m *Machine) QueueHead(n int) []string {
	ids := make([]string, 0, min(n, m.router.Queue.Len()))
	m.router.Queue.Each(func(_ int, e Entry) bool {
		if len(ids) == n {
			return false
		}
		ids = append(ids, e.ID)
		return true
	})
	return ids
}

// QueueInfo summarises the queue at now.
func (m *Machine) QueueInfo(now time.Time) parley.QueueInfo {
	info := parley.QueueInfo{Waiting: m.router.Queue.Len()}
	if e, ok := m.router.Queue.Front(); ok {
		info.OldestWaitS = max(0, int(now.Sub(e.At).Seconds()))
	}
	return info
}

// Tick tells waiting customers whose position changed where they are and
// agents how the queue stands, if the queue changed since the last tick.
func (m *Machine) Tick(now time.Time) []Effect {
	if !m.dirty {
		return nil
	}
	m.dirty = false
	var effs []Effect
	avail := m.AgentsAvailable()
	everyone := avail != m.lastAvail // a change concerns every waiting customer
	m.lastAvail = avail
	m.router.Queue.Each(func(pos int, e Entry) bool {
		if everyone || m.lastPos[e.ID] != pos {
			m.lastPos[e.ID] = pos
			effs = append(effs, Effect{
				Kind: EffPosition, Session: e.ID, Customer: m.waiting[e.ID], Position: pos, EWTSeconds: m.estimate(pos),
				AgentsAvailable: avail,
			})
		}
		return true
	})
	if info := m.QueueInfo(now); info != m.lastInfo {
		m.lastInfo = info
		effs = append(effs, Effect{Kind: EffSummary, Queue: info})
	}
	return effs
}

func (m *Machine) dequeue(id string) {
	if m.router.Queue.Remove(id) {
		delete(m.waiting, id)
		delete(m.lastPos, id)
		m.dirty = true
	}
}

func (m *Machine) noteMatch(now time.Time) {
	if !m.lastMatch.IsZero() {
		gap := max(0, now.Sub(m.lastMatch).Seconds())
		m.avgGap = EWTHistoryWeight*m.avgGap + (1-EWTHistoryWeight)*gap
	}
	m.lastMatch = now
}

// ---- routing ----

// Route gives waiting sessions to routable agents for as long as both
// exist: the oldest session to the agent whose slot has been free longest.
func (m *Machine) Route(now time.Time) []Effect {
	var effs []Effect
	for {
		if m.router.Queue.Len() == 0 {
			return effs
		}
		as, ok := m.match() // Router.Match, skipping excluded agents
		if !ok {
			return effs
		}
		e := as.Session
		customer := m.waiting[e.ID]
		delete(m.waiting, e.ID)
		delete(m.lastPos, e.ID)
		m.dirty = true
		m.noteMatch(now)
		effs = m.reserve(m.agents[as.Agent], &reservation{
			agent: as.Agent, session: e.ID, customer: customer, at: e.At, queued: true,
		}, now, effs)
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
		At: a.stamped, Ordered: r.queued,
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
	m.router.Pool.Release(a.id)
	return m.refresh(a, effs)
}

// Ended releases everything a session held: its place in the queue, the
// slots of agents, and reservations not yet confirmed.
func (m *Machine) Ended(sessionID string, agents []string) []Effect {
	m.dequeue(sessionID)
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
		m.router.Pool.Release(agentID)
		effs = m.refresh(a, effs)
	default:
		effs = m.release(a, sessionID, effs)
	}
	return effs
}

// Accept gives an agent the oldest waiting session, or the given one
// (waiting, or active to join it), and answers reply. open reports
// whether a session is open.
func (m *Machine) Accept(agentID, sessionID string, open func(id string) bool, reply any, now time.Time) []Effect {
	reject := func(err error) []Effect { return []Effect{{Kind: EffReject, Reply: reply, Err: err}} }
	a := m.agents[agentID]
	switch {
	case a == nil:
		return reject(parley.Errorf(parley.ENotFound, "Unknown agent."))
	case a.status == parley.StatusDraining:
		return reject(parley.Errorf(parley.EConflict, "You are draining for a break; finish your open chats first."))
	case m.router.Pool.Free(agentID) == 0:
		return reject(parley.Errorf(parley.EConflict, "You are at capacity (%d chats).", m.router.Pool.Capacity(agentID)))
	}
	if sessionID == "" {
		e, ok := m.frontFor(agentID) // the oldest one it is not excluded from
		if !ok {
			return reject(parley.Errorf(parley.ENotFound, "No session is waiting."))
		}
		sessionID = e.ID
	}
	if _, ok := a.sessions[sessionID]; ok {
		return reject(parley.Errorf(parley.EConflict, "You are already in session %s.", sessionID))
	}
	if !open(sessionID) {
		return reject(parley.Errorf(parley.EConflict, "Session %s is not open.", sessionID))
	}
	// Checks done; from here on nothing fails. Available agents take
	// their longest-free slot; an agent who is connected but not taking
	// routed chats (offline or on break) may still pick one by hand
	// while it has a free slot.
	if m.router.Pool.Available(agentID) {
		if err := m.router.Pool.Take(agentID); err != nil {
			return reject(parley.Errorf(parley.EConflict, "You cannot take a chat now: %v.", err))
		}
	} else {
		m.router.Pool.Hold(agentID)
	}
	r := &reservation{agent: agentID, session: sessionID, reply: reply}
	if m.router.Queue.Contains(sessionID) {
		e := m.entry(sessionID)
		r.customer, r.at, r.queued = m.waiting[sessionID], e.At, true
		m.dequeue(sessionID)
		m.noteMatch(now)
	}
	return m.reserve(a, r, now, nil)
}

// entry returns a waiting session's queue entry.
func (m *Machine) entry(id string) (found Entry) {
	m.router.Queue.Each(func(_ int, e Entry) bool {
		if e.ID == id {
			found = e
			return false
		}
		return true
	})
	return found
}
