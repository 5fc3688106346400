package chat

import (
	"math"
	"runtime/debug"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/queue"
)

// agentState is what the dispatcher knows of one agent.
type agentState struct {
	agent    *parley.Agent
	status   string // available, draining, break or offline
	conns    int    // open connections; an agent with none gets no new chats
	sessions map[string]struct{}
}

// requeueInfo puts a session back in the queue after a failed assignment.
type requeueInfo struct {
	customerID string
	at         time.Time
}

// dispatcher is the one goroutine that owns routing. Everything reaches it
// as a function run in its goroutine, so two agents can never take the same
// customer or an agent more than its capacity. It never blocks on a session:
// it posts to their unbounded control mailboxes.
type dispatcher struct {
	hub    *Hub
	in     chan func()
	router *queue.Router
	agents map[string]*agentState
	// waiting maps queued session ids to their customers, for position
	// pushes; lastPos is the position each was last told.
	waiting map[string]string
	lastPos map[string]int
	// dirty is set when the queue changed since the last push.
	dirty     bool
	lastInfo  parley.QueueInfo
	avgGap    float64 // smoothed seconds between assignments, for wait estimates
	lastMatch time.Time
	stopped   chan struct{}
}

func newDispatcher(h *Hub) *dispatcher {
	return &dispatcher{
		hub:     h,
		in:      make(chan func(), 4096),
		router:  queue.NewRouter(),
		agents:  make(map[string]*agentState),
		waiting: make(map[string]string),
		lastPos: make(map[string]int),
		avgGap:  30,
		stopped: make(chan struct{}),
	}
}

func (d *dispatcher) run() {
	defer d.hub.wg.Done()
	defer close(d.stopped)
	tick := time.NewTicker(d.hub.cfg.QueueInterval)
	defer tick.Stop()
	for {
		select {
		case f := <-d.in:
			d.safely(f)
			// Run everything already waiting before routing once.
			for n := 0; n < 256; n++ {
				select {
				case f := <-d.in:
					d.safely(f)
					continue
				default:
				}
				break
			}
			d.safely(d.route)
		case <-tick.C:
			d.safely(d.pushQueue)
		case <-d.hub.closing:
			return
		}
	}
}

func (d *dispatcher) safely(f func()) {
	defer func() {
		if r := recover(); r != nil {
			d.hub.log.Error("panic in dispatcher", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// post runs f in the dispatcher goroutine without waiting.
func (d *dispatcher) post(f func()) {
	select {
	case d.in <- f:
	case <-d.stopped:
	}
}

// call runs f in the dispatcher goroutine and waits for it.
func (d *dispatcher) call(f func()) error {
	done := make(chan struct{})
	select {
	case d.in <- func() { defer close(done); f() }:
	case <-d.stopped:
		return parley.Errorf(parley.EUnavailable, "Server is shutting down.")
	}
	select {
	case <-done:
		return nil
	case <-d.stopped:
		return parley.Errorf(parley.EUnavailable, "Server is shutting down.")
	}
}

// route gives waiting sessions to free agents for as long as both exist.
func (d *dispatcher) route() {
	for {
		m, ok := d.router.Match()
		if !ok {
			return
		}
		d.dequeued(m.Session.ID)
		d.noteMatch()
		d.give(d.agents[m.Agent], m.Session.ID, nil, "")
	}
}

// give hands a session to an agent whose slot is already taken in the
// pool. It reports whether the session goroutine got the request.
func (d *dispatcher) give(st *agentState, sessionID string, conn Conn, req string) bool {
	s := d.hub.session(sessionID)
	if s == nil {
		d.router.Pool.Release(st.agent.ID)
		return false
	}
	st.sessions[sessionID] = struct{}{}
	if !s.ctrl.post(command{kind: cmdAssign, agent: st.agent, conn: conn, req: req}) {
		d.release(st.agent.ID, sessionID)
		return false
	}
	return true
}

func (d *dispatcher) noteMatch() {
	now := d.hub.now()
	if !d.lastMatch.IsZero() {
		gap := now.Sub(d.lastMatch).Seconds()
		d.avgGap = 0.8*d.avgGap + 0.2*gap
	}
	d.lastMatch = now
}

func (d *dispatcher) dequeued(id string) {
	delete(d.waiting, id)
	delete(d.lastPos, id)
	d.dirty = true
}

// ---- state changes, run in the dispatcher goroutine ----

// addAgent registers or refreshes an agent. Called directly during
// recovery, before the goroutine starts, and through call afterwards.
func (d *dispatcher) addAgent(a *parley.Agent) *agentState {
	st := d.agents[a.ID]
	if st == nil {
		st = &agentState{status: parley.StatusOffline, sessions: make(map[string]struct{})}
		d.agents[a.ID] = st
	}
	st.agent = a
	capacity := a.Capacity
	if capacity <= 0 {
		capacity = parley.DefaultCapacity
	}
	d.router.Pool.Add(a.ID, capacity)
	d.router.Pool.SetCapacity(a.ID, capacity)
	if a.Disabled {
		st.status = parley.StatusOffline
	}
	d.refresh(st)
	return st
}

// hold counts an open session an agent is already in (recovery).
func (d *dispatcher) hold(agentID, sessionID string) {
	st := d.agents[agentID]
	if st == nil {
		return
	}
	st.sessions[sessionID] = struct{}{}
	d.router.Pool.Hold(agentID)
}

// enqueue adds a session to the queue (recovery and new sessions).
func (d *dispatcher) enqueue(id, customerID string, at time.Time) {
	d.router.Queue.Push(queue.Entry{ID: id, At: at})
	d.waiting[id] = customerID
	d.dirty = true
}

// refresh makes an agent routable exactly when it is available and
// connected, and finishes draining when its last chat is over.
func (d *dispatcher) refresh(st *agentState) {
	id := st.agent.ID
	if st.status == parley.StatusDraining && len(st.sessions) == 0 {
		st.status = parley.StatusBreak
		d.pushStatus(st, nil, "")
	}
	d.router.Pool.SetAvailable(id, st.status == parley.StatusAvailable && st.conns > 0 && !st.agent.Disabled)
}

func (d *dispatcher) release(agentID, sessionID string) {
	st := d.agents[agentID]
	if st == nil {
		return
	}
	if _, ok := st.sessions[sessionID]; !ok {
		return
	}
	delete(st.sessions, sessionID)
	d.router.Pool.Release(agentID)
	d.refresh(st)
}

func (d *dispatcher) statusFrame(st *agentState, req string) parley.AgentStatusFrame {
	return parley.AgentStatusFrame{
		Type: parley.FrameAgentStatus, Re: req, Status: st.status,
		Active: len(st.sessions), Capacity: d.router.Pool.Capacity(st.agent.ID),
	}
}

// pushStatus tells every connection of the agent its status; conn, if
// set, gets the frame with req as its reply.
func (d *dispatcher) pushStatus(st *agentState, conn Conn, req string) {
	if conn != nil {
		conn.Send(encode(d.statusFrame(st, req)))
	}
	d.hub.reg.toAgent(st.agent.ID, conn, encode(d.statusFrame(st, "")))
}

func (d *dispatcher) queueInfo() parley.QueueInfo {
	info := parley.QueueInfo{Waiting: d.router.Queue.Len()}
	if e, ok := d.router.Queue.Front(); ok {
		info.OldestWaitS = max(0, int(d.hub.now().Sub(e.At).Seconds()))
	}
	return info
}

func (d *dispatcher) estimate(pos int) int {
	return int(math.Round(float64(pos) * d.avgGap))
}

// pushQueue tells waiting customers whose position changed where they are,
// and agents how the queue stands, at most once per QueueInterval.
func (d *dispatcher) pushQueue() {
	if !d.dirty {
		return
	}
	d.dirty = false
	d.router.Queue.Each(func(pos int, e queue.Entry) bool {
		if d.lastPos[e.ID] != pos {
			d.lastPos[e.ID] = pos
			d.hub.reg.toCustomer(d.waiting[e.ID], nil, encode(parley.CustomerQueueFrame{
				Type: parley.FrameQueue, SessionID: e.ID, Position: pos, EWTSecond: d.estimate(pos),
			}))
		}
		return true
	})
	info := d.queueInfo()
	if info != d.lastInfo {
		d.lastInfo = info
		d.hub.reg.toAllAgents(encode(parley.AgentQueueFrame{Type: parley.FrameQueue, QueueInfo: info}))
	}
}

// ---- the dispatcher's API, safe to call from any goroutine ----

// position returns a queued session's place (1 = next) and wait estimate.
func (d *dispatcher) position(id string) (pos, ewt int) {
	_ = d.call(func() {
		pos = d.router.Queue.Position(id)
		ewt = d.estimate(pos)
	})
	return pos, ewt
}

// admit puts a new session in the queue and answers its start on conn
// with w, the session, at its position. The answer leaves from the
// dispatcher goroutine, the one that pushes queue positions, so no queue
// push can overtake it and it can never show an older position than one
// already pushed.
func (d *dispatcher) admit(id, customerID string, at time.Time, w parley.Session, conn Conn, req string) {
	_ = d.call(func() {
		d.enqueue(id, customerID, at)
		if pos := d.router.Queue.Position(id); pos > 0 {
			ewt := d.estimate(pos)
			w.Position, w.EWTSeconds = pos, &ewt
			d.lastPos[id] = pos
		}
		conn.Send(encode(parley.SessionFrame{Type: parley.FrameSession, Re: req, Session: w}))
	})
}

// ended releases everything a session held.
func (d *dispatcher) ended(id string, wasQueued bool, agents []string) {
	d.post(func() {
		if wasQueued || d.router.Queue.Contains(id) {
			d.router.Queue.Remove(id)
			d.dequeued(id)
		}
		for _, a := range agents {
			d.release(a, id)
		}
	})
}

// left releases an agent's slot; requeue puts the session back in line.
func (d *dispatcher) left(agentID, id, customerID string, requeue bool, at time.Time) {
	d.post(func() {
		if requeue {
			// Route the session before the leaving agent's slot is free
			// again, so it goes to someone else when anyone else can
			// take it.
			d.enqueue(id, customerID, at)
			d.route()
		}
		d.release(agentID, id)
	})
}

// assignFailed undoes a reservation whose session could not take the agent.
func (d *dispatcher) assignFailed(agentID, id string, requeue *requeueInfo) {
	d.post(func() {
		d.release(agentID, id)
		if requeue != nil {
			d.enqueue(id, requeue.customerID, requeue.at)
		}
	})
}

// agentSnapshot is what an agent's welcome shows.
type agentSnapshot struct {
	info     parley.AgentInfo
	sessions []string
	queue    parley.QueueInfo
}

// snapshot describes an agent for its welcome frame.
func (d *dispatcher) snapshot(a *parley.Agent) (snap agentSnapshot, err error) {
	err = d.call(func() {
		st := d.agents[a.ID]
		if st == nil {
			st = d.addAgent(a)
		}
		snap.info = parley.AgentInfo{
			ID: a.ID, Name: a.Name, Email: a.Email, Status: st.status,
			Capacity: d.router.Pool.Capacity(a.ID), Active: len(st.sessions),
		}
		for id := range st.sessions {
			snap.sessions = append(snap.sessions, id)
		}
		snap.queue = d.queueInfo()
	})
	return snap, err
}

// connected counts an agent connection; an available agent with a
// connection gets chats.
func (d *dispatcher) connected(a *parley.Agent) {
	d.post(func() {
		st := d.addAgent(a)
		st.conns++
		d.refresh(st)
	})
}

// disconnected uncounts an agent connection.
func (d *dispatcher) disconnected(agentID string) {
	d.post(func() {
		if st := d.agents[agentID]; st != nil {
			st.conns = max(0, st.conns-1)
			d.refresh(st)
		}
	})
}

// setStatus applies an agent's status request and answers on conn.
func (d *dispatcher) setStatus(agentID, status string, conn Conn, req string) {
	d.post(func() {
		st := d.agents[agentID]
		if st == nil {
			conn.Send(encode(parley.NewErrorFrame(req, parley.Errorf(parley.ENotFound, "Unknown agent."))))
			return
		}
		if status == parley.StatusBreak && len(st.sessions) > 0 {
			status = parley.StatusDraining
		}
		st.status = status
		d.refresh(st)
		d.pushStatus(st, conn, req)
	})
}

// accept gives an agent the oldest waiting session, or the given one
// (queued, or active to join it), and answers on conn.
func (d *dispatcher) accept(agentID, sessionID string, conn Conn, req string) {
	d.post(func() {
		fail := func(err error) { conn.Send(encode(parley.NewErrorFrame(req, err))) }
		st := d.agents[agentID]
		switch {
		case st == nil:
			fail(parley.Errorf(parley.ENotFound, "Unknown agent."))
			return
		case st.status == parley.StatusDraining:
			fail(parley.Errorf(parley.EConflict, "You are draining for a break; finish your open chats first."))
			return
		case d.router.Pool.Free(agentID) == 0:
			fail(parley.Errorf(parley.EConflict, "You are at capacity (%d chats).", d.router.Pool.Capacity(agentID)))
			return
		}
		if sessionID == "" {
			e, ok := d.router.Queue.Front()
			if !ok {
				fail(parley.Errorf(parley.ENotFound, "No session is waiting."))
				return
			}
			sessionID = e.ID
		}
		if _, ok := st.sessions[sessionID]; ok {
			fail(parley.Errorf(parley.EConflict, "You are already in session %s.", sessionID))
			return
		}
		if d.hub.session(sessionID) == nil {
			fail(parley.Errorf(parley.EConflict, "Session %s is not open.", sessionID))
			return
		}
		// Available agents take their longest-free slot; an agent who is
		// connected but not taking routed chats (offline or on break) may
		// still pick one by hand while it has a free slot.
		if d.router.Pool.Available(agentID) {
			if err := d.router.Pool.Take(agentID); err != nil {
				fail(parley.Errorf(parley.EConflict, "You cannot take a chat now: %v.", err))
				return
			}
		} else {
			d.router.Pool.Hold(agentID)
		}
		if d.router.Queue.Remove(sessionID) {
			d.dequeued(sessionID)
			d.noteMatch()
		}
		d.give(st, sessionID, conn, req)
	})
}

// agentChanged applies an edited agent account (capacity, name, disabled).
func (d *dispatcher) agentChanged(a *parley.Agent) {
	d.post(func() {
		st := d.addAgent(a)
		d.pushStatus(st, nil, "")
	})
}

// stats summarises routing for operators.
func (d *dispatcher) agentStatuses() (m map[string]parley.AgentInfo) {
	_ = d.call(func() {
		m = make(map[string]parley.AgentInfo, len(d.agents))
		for id, st := range d.agents {
			m[id] = parley.AgentInfo{
				ID: id, Name: st.agent.Name, Email: st.agent.Email, Status: st.status,
				Capacity: d.router.Pool.Capacity(id), Active: len(st.sessions),
			}
		}
	})
	return m
}
