package chat

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/queue"
)

// Dispatcher tuning.
const (
	// dispatcherInbox is how many requests may wait for the dispatcher
	// before posters block.
	dispatcherInbox = 4096
	// dispatcherBatch is how many further waiting requests the dispatcher
	// runs before it routes once.
	dispatcherBatch = 256
)

// requeueInfo puts a session back in the queue after a failed assignment.
type requeueInfo struct {
	customerID string
	at         time.Time
}

// dispatcherHooks let tests interfere at chosen points. They are set
// before use (through call for those the dispatcher goroutine reads).
type dispatcherHooks struct {
	// handover runs in the dispatcher goroutine just before a session is
	// given its agent.
	handover func(agentID, sessionID string)
	// attached runs in AttachAgent after the connection is registered and
	// the snapshot taken, before the welcome is built.
	attached func(agentID string)
	// customerRead runs in AttachCustomer after the open session was read
	// from storage, before the welcome is sent.
	customerRead func(customerID string)
}

// dispatcher is the one goroutine that owns routing. Its decisions are
// made by a queue.Machine, a pure state machine; this goroutine feeds it
// requests and carries out the effects it returns (posting to sessions,
// sending frames). Everything reaches it as a function run in its
// goroutine, so two agents can never take the same customer or an agent
// more than its capacity. It never blocks on a session: it posts to their
// unbounded control mailboxes.
//
// Assigned pushes reach an agent in queue order, and assigned_at follows
// it: the machine stamps assigned_at when it reserves a slot, in queue
// order, and hands the sessions over at once so they store the join in
// parallel (one group commit); each routed session then waits for the
// previous routed session of the same agent to have pushed (or failed)
// before it pushes assigned (see handoffs). Reserved slots count as taken.
type dispatcher struct {
	hub *Hub
	in  chan func()
	m   *queue.Machine
	// handoffs order the assigned pushes of each agent.
	handoffs *handoffs
	// accounts are the agents' accounts, for assignments and operators.
	accounts map[string]*parley.Agent
	hooks    dispatcherHooks
	stopped  chan struct{}
	statuses statusLog // the status history recorder (statuslog.go)
}

func newDispatcher(h *Hub) *dispatcher {
	return &dispatcher{
		hub:      h,
		in:       make(chan func(), dispatcherInbox),
		m:        queue.NewMachine(),
		accounts: make(map[string]*parley.Agent),
		handoffs: newHandoffs(),
		stopped:  make(chan struct{}),
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
		batch:
			for n := 0; n < dispatcherBatch; n++ {
				select {
				case f := <-d.in:
					d.safely(f)
				default:
					break batch
				}
			}
			d.route()
		case <-tick.C:
			// Routing here too retries sessions whose handover failed.
			d.route()
			d.safely(func() { d.exec(d.m.Tick(d.hub.now())) })
		case <-d.hub.closing:
			return
		}
	}
}

// safely runs f and logs a panic instead of crashing. The machine applies
// each step fully or not at all and exec feeds failed handovers back, so
// the routing state stays consistent after a contained panic.
func (d *dispatcher) safely(f func()) {
	defer func() {
		if r := recover(); r != nil {
			d.hub.log.Error("panic in dispatcher", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
}

func (d *dispatcher) route() {
	d.safely(func() { d.exec(d.m.Route(d.hub.now())) })
}

// exec carries out the machine's effects, each on its own: one that
// fails or panics does not stop the others, and a handover that fails is
// undone in the machine.
func (d *dispatcher) exec(effs []queue.Effect) {
	for len(effs) > 0 {
		e := effs[0]
		effs = effs[1:]
		if err := d.do(e); err != nil {
			d.hub.log.Error("dispatcher effect failed", "kind", e.Kind, "agent", e.Agent, "session", e.Session, "err", err)
			if e.Kind == queue.EffAssign {
				d.handoffs.finish(e.Agent, e.Session)
				effs = append(effs, d.m.HandoverFailed(e.Agent, e.Session)...)
			}
		}
	}
}

// replyAddr is the connection and request id a machine effect replies to.
type replyAddr struct {
	conn Conn
	req  string
}

// replyTo wraps a connection and request id as an effect's Reply; a nil
// connection means no reply.
func replyTo(conn Conn, req string) any {
	if conn == nil {
		return nil
	}
	return &replyAddr{conn: conn, req: req}
}

// do carries out one effect, turning a panic into an error.
func (d *dispatcher) do(e queue.Effect) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			d.hub.log.Error("panic in dispatcher effect", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	reply, _ := e.Reply.(*replyAddr)
	switch e.Kind {
	case queue.EffAssign:
		return d.give(e, reply)
	case queue.EffStatus:
		d.logStatus(e.Agent, e.Status)
		f := parley.AgentStatusFrame{Type: parley.FrameAgentStatus, Status: e.Status, Active: e.Active, Capacity: e.Capacity}
		var skip Conn
		if reply != nil {
			r := f
			r.Re = reply.req
			reply.conn.Send(encode(r))
			skip = reply.conn
		}
		d.hub.reg.toAgent(e.Agent, skip, encode(f))
	case queue.EffPosition:
		f := parley.NewCustomerQueueFrame(e.Session, e.Position, e.EWTSeconds, e.AgentsAvailable)
		f.Queue = e.QueueName
		d.hub.reg.toCustomer(e.Customer, nil, encode(f))
	case queue.EffSummary:
		d.hub.reg.toAllAgents(encode(parley.AgentQueueFrame{Type: parley.FrameQueue, QueueInfo: e.Queue}))
	case queue.EffReject:
		if reply != nil {
			reply.conn.Send(encode(parley.NewErrorFrame(reply.req, e.Err)))
		}
	}
	return nil
}

// give hands a session to the agent the machine reserved it for. The
// session reports back through assigned or assignFailed. A session that is
// gone, or stopped, fails the reservation without a requeue: it has ended.
func (d *dispatcher) give(e queue.Effect, reply *replyAddr) error {
	if h := d.hooks.handover; h != nil {
		h(e.Agent, e.Session)
	}
	s := d.hub.session(e.Session)
	var a *parley.Agent
	if s != nil {
		a = d.accounts[e.Agent]
	}
	if s == nil || a == nil {
		if reply != nil {
			reply.conn.Send(encode(parley.NewErrorFrame(reply.req, parley.Errorf(parley.EConflict, "Session %s is not open.", e.Session))))
		}
		d.exec(d.m.AssignFailed(e.Agent, e.Session, false, "", time.Time{}))
		return nil
	}
	d.handoffs.add(e.Agent, e.Session, e.At, e.Ordered)
	c := command{kind: cmdAssign, agent: a, routing: e.Routing}
	if reply != nil {
		c.conn, c.req = reply.conn, reply.req
	}
	if !s.ctrl.post(c) {
		// Stopped (the hub is closing): the session will not answer.
		d.handoffs.finish(e.Agent, e.Session)
		d.exec(d.m.AssignFailed(e.Agent, e.Session, false, "", time.Time{}))
		if reply != nil {
			reply.conn.Send(encode(parley.NewErrorFrame(reply.req, parley.Errorf(parley.EUnavailable, "Session %s is stopping; try again in a moment.", e.Session))))
		}
	}
	return nil
}

// ---- set-up, before the goroutine starts (recovery) ----

// addAgent registers or refreshes an agent's account. Called directly
// during recovery and from the goroutine afterwards.
func (d *dispatcher) addAgent(a *parley.Agent) []queue.Effect {
	d.accounts[a.ID] = a
	effs := d.m.SetAgent(a.ID, a.Capacity, a.Disabled)
	d.m.SetAgentQueues(a.ID, a.Queues)
	return effs
}

// addQueue makes a queue known to routing. Called directly during
// recovery and from the goroutine afterwards.
func (d *dispatcher) addQueue(name string) { d.m.AddQueue(name) }

// hold counts an open session an agent is already in (recovery).
func (d *dispatcher) hold(agentID, sessionID string) { d.m.Hold(agentID, sessionID) }

// track tells routing the queue of an open session (recovery).
func (d *dispatcher) track(r *parley.SessionRecord) { d.m.SetQueue(r.ID, r.QueueName()) }

// enqueue adds a session to the queue (recovery).
func (d *dispatcher) enqueue(id, customerID string, at time.Time) { d.m.Enqueue(id, customerID, at) }

// ---- the dispatcher's API, safe to call from any goroutine ----

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

// position returns a queued session's place in its queue (1 = next),
// wait estimate and the number of agents available for its queue.
func (d *dispatcher) position(id string) (pos, ewt, avail int) {
	_ = d.call(func() { _, pos, ewt, avail = d.m.Place(id) })
	return pos, ewt, avail
}

// queueHead returns the first n sessions waiting in the queues the agent
// serves (only in queue, if set), longest waiting first, and how many
// wait there in all.
func (d *dispatcher) queueHead(agentID, queue string, n int) (ids []string, waiting int) {
	_ = d.call(func() { ids, waiting = d.m.QueueHeadFor(agentID, queue, n) })
	return ids, waiting
}

// queueOrder returns the waiting sessions, next first.
func (d *dispatcher) queueOrder() (ids []string) {
	_ = d.call(func() { ids = d.m.QueueOrder() })
	return ids
}

// admit puts a new session in the queue and answers its start on conn
// with w, the session, at its position. The answer leaves from the
// dispatcher goroutine, the one that pushes queue positions, so no queue
// push can overtake it and it can never show an older position than one
// already pushed.
func (d *dispatcher) admit(id, customerID string, at time.Time, w parley.Session, conn Conn, req string) {
	_ = d.call(func() {
		d.m.SetQueue(id, w.Queue)
		d.m.Enqueue(id, customerID, at)
		if pos, ewt := d.m.Admitted(id); pos > 0 {
			w.SetQueuePlace(pos, ewt, d.m.AgentsAvailableFor(parley.QueueOrDefault(w.Queue)))
		}
		conn.Send(encode(parley.SessionFrame{Type: parley.FrameSession, Re: req, Session: w}))
	})
}

// ended releases everything a session held.
func (d *dispatcher) ended(id string, wasQueued bool, agents []string) {
	d.post(func() { d.exec(d.m.Ended(id, agents)) })
}

// left releases an agent's slot; requeue puts the session back in line.
func (d *dispatcher) left(agentID, id, customerID string, requeue bool, at time.Time) {
	d.post(func() { d.exec(d.m.Left(agentID, id, customerID, requeue, at, d.hub.now())) })
}

// assigned confirms that a session took its agent and everyone was told,
// so the agent's next session can be handed over.
func (d *dispatcher) assigned(agentID, id string) {
	d.post(func() { d.exec(d.m.AssignDone(agentID, id)) })
}

// assignFailed undoes a reservation whose session could not take the agent.
func (d *dispatcher) assignFailed(agentID, id string, requeue *requeueInfo) {
	// Let the agent's next session push at once.
	d.handoffs.finish(agentID, id)
	d.post(func() {
		if requeue != nil {
			d.exec(d.m.AssignFailed(agentID, id, true, requeue.customerID, requeue.at))
			return
		}
		d.exec(d.m.AssignFailed(agentID, id, false, "", time.Time{}))
	})
}

// agentSnapshot is what an agent's welcome shows.
type agentSnapshot struct {
	info     parley.AgentInfo
	sessions []string
	queue    parley.QueueInfo
}

// attach registers conn for the agent's pushes, counts it as connected and
// describes the agent for its welcome, in one step: whatever is routed to
// the agent afterwards reaches conn as a push. The caller holds conn's
// pushes back until the welcome is sent.
//
// gen is the token generation the connection signed in with: a token of an
// older generation than the agent's (revoked meanwhile) is refused.
func (d *dispatcher) attach(a *parley.Agent, gen uint64, conn Conn) (snap agentSnapshot, err error) {
	var revoked bool
	err = d.call(func() {
		cur := d.accounts[a.ID]
		if a.TokenGen != gen || (cur != nil && cur.TokenGen > gen) {
			revoked = true
			return
		}
		d.exec(d.addAgent(a))
		d.hub.reg.addAgent(a.ID, conn)
		v, _ := d.m.Agent(a.ID)
		snap.info = parley.AgentInfo{
			ID: a.ID, Name: a.Name, Email: a.Email, Status: v.Status, Capacity: v.Capacity, Active: v.Active,
		}
		snap.sessions = v.Sessions
		snap.queue = d.m.QueueInfo(d.hub.now())
		d.exec(d.m.Connected(a.ID))
		d.logStatus(a.ID, "")
	})
	if err == nil && revoked {
		err = errSignedOut
	}
	return snap, err
}

// errSignedOut refuses a token whose generation was revoked.
var errSignedOut = parley.Errorf(parley.EUnauthorized, "This token was revoked (password change or sign-out); sign in again.")

// disconnected uncounts an agent connection.
func (d *dispatcher) disconnected(agentID string) {
	d.post(func() { d.exec(d.m.Disconnected(agentID)) })
	d.post(func() { d.logStatus(agentID, "") })
}

// setStatus applies an agent's status request and answers on conn.
func (d *dispatcher) setStatus(agentID, status string, conn Conn, req string) {
	d.post(func() { d.exec(d.m.SetStatus(agentID, status, replyTo(conn, req))) })
}

// accept gives an agent the oldest waiting session, or the given one
// (queued, or active to join it), and answers on conn.
func (d *dispatcher) accept(agentID, sessionID string, conn Conn, req string) {
	d.post(func() {
		open := func(id string) bool { return d.hub.session(id) != nil }
		d.exec(d.m.Accept(agentID, sessionID, open, replyTo(conn, req), d.hub.now()))
	})
}

// agentChanged applies an edited agent account (capacity, name, disabled).
//
// Connections are closed here, in the dispatcher goroutine, where attach
// registers them: a connection attached with a token of the old generation
// either is registered before and closed now, or attaches after and is
// refused.
func (d *dispatcher) agentChanged(a *parley.Agent) {
	d.post(func() {
		if cur := d.accounts[a.ID]; cur != nil && cur.TokenGen > a.TokenGen {
			return // stale: a later change was applied already
		}
		prev := d.accounts[a.ID]
		d.exec(d.addAgent(a))
		d.exec(d.m.StatusPush(a.ID))
		switch {
		case a.Disabled:
			d.hub.reg.disconnectAgent(a.ID, parley.ReasonDisabled)
		case prev != nil && prev.TokenGen != a.TokenGen:
			d.hub.reg.disconnectAgent(a.ID, parley.ReasonSignedOut)
		}
	})
}

// agentStatuses summarises every agent's routing state for operators.
func (d *dispatcher) agentStatuses() (m map[string]parley.AgentInfo) {
	_ = d.call(func() {
		m = make(map[string]parley.AgentInfo, len(d.accounts))
		d.m.Agents(func(id string, v queue.AgentView, _ bool) {
			a := d.accounts[id]
			m[id] = parley.AgentInfo{
				ID: id, Name: a.Name, Email: a.Email, Status: v.Status, Capacity: v.Capacity, Active: v.Active,
			}
		})
	})
	return m
}
