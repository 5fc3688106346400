package chat

import (
	"container/heap"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// This file keeps chats moving (issue 10):
//
//   - Agent disconnect grace (Config.AgentGrace): an agent whose every
//     connection has been gone that long goes offline and leaves its chats
//     (agent_left, reason disconnected); a chat it was alone in goes back
//     to the queue at its original place.
//   - Reply timeout (Config.ReplyTimeout): an agent who got a chat from the
//     queue or by transfer and has not written to the customer within the
//     timeout leaves it (reason unanswered) and routing does not offer it
//     that chat again.
//   - Inactivity (Config.InactivityWarning, Config.InactivityTimeout): an
//     active chat in which the customer has not answered an agent's
//     message gets an inactivity_warning, then ends with reason inactivity.
//
// Timers cost no goroutine per session: each session keeps its own state
// (owned by its worker) and pushes its next deadline onto one heap; one
// clock-driven sweep (SweepTimers) pops the deadlines that are due and
// hands them to their sessions, which check them against their current
// state, so a deadline made stale by what happened since does nothing.
// After a restart the state is derived again from what is stored
// (recoverTimers), so a crash never makes a chat immortal.

// Timer kinds of a deadline.
const (
	timerWarn  = iota + 1 // send the inactivity warning
	timerEnd              // end for inactivity
	timerReply            // take the chat back from an agent who did not reply
	timerGone             // the agent's grace is over: leave
)

// cmdTimer and cmdTransfer are session commands of this file and of
// transfer.go.
const (
	cmdTimer    = 200
	cmdTransfer = 201
)

// deadline is one due time of one session.
type deadline struct {
	at    time.Time
	s     *session
	kind  int
	agent string // timerReply: the agent who must reply
}

// deadlineHeap is a min-heap of deadlines by time.
type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = deadline{}
	*h = old[:len(old)-1]
	return d
}

// timers holds the hub's deadlines and the agents without connections.
type timers struct {
	mu  sync.Mutex
	due deadlineHeap
	// gone holds, per agent whose last connection closed, since when; it
	// is checked against the agent's connections when the grace is over.
	gone map[string]time.Time
	// sweeping serialises sweeps (the loop's and a test's).
	sweeping sync.Mutex
}

func newTimers() *timers { return &timers{gone: make(map[string]time.Time)} }

// schedule adds a deadline.
func (t *timers) schedule(d deadline) {
	t.mu.Lock()
	heap.Push(&t.due, d)
	t.mu.Unlock()
}

// popDue removes and returns the deadlines due at now.
func (t *timers) popDue(now time.Time) []deadline {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []deadline
	for len(t.due) > 0 && !t.due[0].at.After(now) {
		out = append(out, heap.Pop(&t.due).(deadline))
	}
	return out
}

// sessionTimers is a session's timer state, owned by its worker.
type sessionTimers struct {
	// pending is when the first agent message the customer has not
	// answered was sent; zero when there is none.
	pending time.Time
	// warned is set once the inactivity warning for pending was sent.
	warned bool
	// unanswered maps an agent who got the chat (from the queue or by
	// transfer) and has not written since to when it got it.
	unanswered map[string]time.Time
}

// errStale answers a timer whose deadline no longer holds.
var errStale = parley.Errorf(parley.EConflict, "The deadline no longer holds.")

// noteMessage updates the timers for a message just stored: a customer's
// answers every agent message; an agent's (not a whisper) answers the
// customer's wait for a reply and, if the customer is not already being
// waited for, starts the inactivity clock.
func (s *session) noteMessage(ev parley.Event) {
	if ev.Kind != parley.KindMessage {
		return
	}
	switch ev.From.Role {
	case parley.RoleCustomer:
		s.tm.pending, s.tm.warned = time.Time{}, false
	case parley.RoleAgent:
		if ev.Whisper {
			return
		}
		delete(s.tm.unanswered, ev.From.ID)
		if s.tm.pending.IsZero() && s.rec.State == parley.StateActive {
			s.tm.pending, s.tm.warned = ev.At.Time, false
			s.scheduleInactivity()
		}
	}
}

// scheduleInactivity schedules the next inactivity deadline of pending:
// the warning, or the end once warned (or when there is no warning).
func (s *session) scheduleInactivity() {
	w, end := s.hub.cfg.InactivityWarning, s.hub.cfg.InactivityTimeout
	if end <= 0 || s.tm.pending.IsZero() {
		return
	}
	if w > 0 && w < end && !s.tm.warned {
		s.hub.timers.schedule(deadline{at: s.tm.pending.Add(w), s: s, kind: timerWarn})
		return
	}
	s.hub.timers.schedule(deadline{at: s.tm.pending.Add(end), s: s, kind: timerEnd})
}

// awaitReply starts the reply timeout of an agent who got the chat at at.
func (s *session) awaitReply(agentID string, at time.Time) {
	r := s.hub.cfg.ReplyTimeout
	if r <= 0 {
		return
	}
	if s.tm.unanswered == nil {
		s.tm.unanswered = make(map[string]time.Time)
	}
	s.tm.unanswered[agentID] = at
	s.hub.timers.schedule(deadline{at: at.Add(r), s: s, kind: timerReply, agent: agentID})
}

// requeued resets the inactivity clock of a session back in the queue:
// nobody is there to wait for the customer.
func (s *session) requeued() { s.tm.pending, s.tm.warned = time.Time{}, false }

// onTimer handles a due deadline if it still holds, and answers c.done
// with errStale otherwise.
func (s *session) onTimer(c command) {
	now := s.hub.now()
	cfg := s.hub.cfg
	active := s.rec.State == parley.StateActive && !s.tm.pending.IsZero()
	switch c.timer {
	case timerWarn:
		if !active || s.tm.warned || now.Before(s.tm.pending.Add(cfg.InactivityWarning)) {
			break
		}
		s.warnInactive(c)
		return
	case timerEnd:
		if !active || cfg.InactivityTimeout <= 0 || now.Before(s.tm.pending.Add(cfg.InactivityTimeout)) {
			break
		}
		s.end(command{kind: cmdEnd, from: serverParticipant, reason: parley.EndInactivity, done: c.done})
		return
	case timerReply:
		since, ok := s.tm.unanswered[c.target]
		if !ok || !s.rec.HasAgent(c.target) || now.Before(since.Add(cfg.ReplyTimeout)) {
			break
		}
		s.leaveAs(s.agentRef(c.target), parley.LeftUnanswered, true, c)
		return
	case timerGone:
		if !s.rec.HasAgent(c.target) {
			break
		}
		s.leaveAs(s.agentRef(c.target), parley.LeftDisconnected, false, c)
		return
	}
	answer(c.done, errStale)
}

// agentRef returns an agent of the session as the author of events.
func (s *session) agentRef(id string) parley.Participant {
	for _, a := range s.rec.Agents {
		if a.ID == id {
			return parley.Participant{Role: parley.RoleAgent, ID: a.ID, Name: a.Name}
		}
	}
	return parley.Participant{Role: parley.RoleAgent, ID: id}
}

// warnInactive stores and delivers the inactivity warning and schedules
// the end.
func (s *session) warnInactive(c command) {
	endsAt := s.tm.pending.Add(s.hub.cfg.InactivityTimeout)
	ev := parley.Event{Kind: parley.KindInactivityWarning, From: serverParticipant, EndsAt: parley.TimeOf(endsAt)}
	if err := s.commit(cloneRecord(s.rec), &ev); err != nil {
		// The deadline is gone from the heap; try again at the next sweep.
		s.hub.timers.schedule(deadline{at: s.hub.now(), s: s, kind: timerWarn})
		s.fail(c, err)
		return
	}
	s.tm.warned = true
	s.scheduleInactivity()
	s.publish(ev, nil)
	answer(c.done, nil)
}

// leaveAs takes an agent out of the session with reason: on its own
// command (c.conn answered), or on the server's (c.done answered). A
// session left without agents goes back to the queue at its original
// place; exclude keeps routing from offering it to the agent again.
func (s *session) leaveAs(who parley.Participant, reason string, exclude bool, c command) {
	if !s.rec.HasAgent(who.ID) {
		s.fail(c, parley.Errorf(parley.EForbidden, "You are not in session %s.", s.id))
		return
	}
	next := cloneRecord(s.rec)
	next.Agents = slices.DeleteFunc(next.Agents, func(a parley.AgentRef) bool { return a.ID == who.ID })
	requeue := len(next.Agents) == 0
	if requeue {
		// Nobody is left to help: the customer goes back to the queue, at
		// the place it first had.
		next.State = parley.StateQueued
	}
	if exclude && !slices.Contains(next.Excluded, who.ID) {
		next.Excluded = append(next.Excluded, who.ID)
	}
	ev := parley.Event{Kind: parley.KindAgentLeft, From: who, Reason: reason}
	if err := s.commit(next, &ev); err != nil {
		s.fail(c, err)
		return
	}
	delete(s.tm.unanswered, who.ID)
	if requeue {
		s.requeued()
	}
	s.hub.disp.leftExcluding(who.ID, s.id, s.customerID, requeue, next.QueuedAt.Time, exclude)
	s.fanout(ev, c.conn, c.req, who.ID)
	if c.done != nil {
		answer(c.done, nil)
	}
}

// leftExcluding is dispatcher.left that first, if exclude, keeps routing
// from offering the session to the agent again: the session is routed
// before the agent's slot is free, and must not come straight back.
func (d *dispatcher) leftExcluding(agentID, id, customerID string, requeue bool, at time.Time, exclude bool) {
	if !exclude {
		d.left(agentID, id, customerID, requeue, at)
		return
	}
	d.post(func() {
		d.m.Exclude(id, agentID)
		d.exec(d.m.Left(agentID, id, customerID, requeue, at, d.hub.now()))
	})
}

// sessionEnded forgets a session's routing exclusions.
func (s *session) sessionEnded() {
	if len(s.rec.Excluded) == 0 {
		return
	}
	id := s.id
	s.hub.disp.post(func() { s.hub.disp.m.ForgetExclusions(id) })
}

// agentDetached unregisters and uncounts an agent connection and, if it
// was the agent's last, starts its grace in the same step: nobody can see
// the agent without connections and not yet counted as gone.
func (h *Hub) agentDetached(agentID string, c Conn) {
	h.reg.mu.Lock()
	if remove(h.reg.agents, agentID, c) == 0 && h.cfg.AgentGrace > 0 {
		h.timers.mu.Lock()
		h.timers.gone[agentID] = h.now()
		h.timers.mu.Unlock()
	}
	h.reg.mu.Unlock()
	h.disp.disconnected(agentID)
}

// agentConns returns how many connections an agent has.
func (r *registry) agentConns(id string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.agents[id])
}

// TimerSweep counts what one SweepTimers did.
type TimerSweep struct {
	Warned       int // inactivity warnings sent
	Ended        int // sessions ended for inactivity
	Unanswered   int // chats taken back from agents who did not reply
	Disconnected int // chats agents left when their grace was over
	AgentsGone   int // agents set offline when their grace was over
}

// SweepTimers carries out every timer due at the hub's clock: agents
// whose grace is over go offline and leave their chats, unanswered chats
// are taken back, inactive chats are warned or ended. It waits until the
// sessions have acted and says what they did. The hub runs it every
// Config.TimerInterval while any of these rules is on; it is exported so
// tests can run it at a moment of their choosing.
func (h *Hub) SweepTimers() TimerSweep {
	h.timers.sweeping.Lock()
	defer h.timers.sweeping.Unlock()
	now := h.now()
	type posted struct {
		kind int
		done chan error
	}
	var out TimerSweep
	var waits []posted
	post := func(s *session, kind int, agent string) {
		done := make(chan error, 1)
		s.post(command{kind: cmdTimer, timer: kind, target: agent, from: serverParticipant, done: done})
		waits = append(waits, posted{kind, done})
	}
	for _, d := range h.timers.popDue(now) {
		if h.session(d.s.id) != d.s {
			continue // ended meanwhile
		}
		post(d.s, d.kind, d.agent)
	}
	for _, g := range h.expireGrace(now) {
		out.AgentsGone++
		for _, id := range g.sessions {
			if s := h.session(id); s != nil {
				post(s, timerGone, g.agent)
			}
		}
	}
	for _, w := range waits {
		if <-w.done != nil {
			continue
		}
		switch w.kind {
		case timerWarn:
			out.Warned++
		case timerEnd:
			out.Ended++
		case timerReply:
			out.Unanswered++
		case timerGone:
			out.Disconnected++
		}
	}
	if out != (TimerSweep{}) {
		h.log.Info("timers", "warned", out.Warned, "ended", out.Ended, "unanswered", out.Unanswered,
			"disconnected", out.Disconnected, "agents_gone", out.AgentsGone)
	}
	return out
}

// goneAgent is an agent whose grace is over, with the sessions it held.
type goneAgent struct {
	agent    string
	sessions []string
}

// expireGrace sets offline every agent that has had no connection for
// the grace, and returns them with the sessions they are to leave.
func (h *Hub) expireGrace(now time.Time) []goneAgent {
	grace := h.cfg.AgentGrace
	if grace <= 0 {
		return nil
	}
	var expired []string
	h.timers.mu.Lock()
	for id, since := range h.timers.gone {
		if now.Sub(since) >= grace {
			expired = append(expired, id)
		}
	}
	h.timers.mu.Unlock()
	if len(expired) == 0 {
		return nil
	}
	slices.Sort(expired)
	var out []goneAgent
	_ = h.disp.call(func() {
		for _, id := range expired {
			h.timers.mu.Lock()
			since, ok := h.timers.gone[id]
			if ok && now.Sub(since) >= grace {
				delete(h.timers.gone, id)
			}
			h.timers.mu.Unlock()
			if !ok || now.Sub(since) < grace || h.reg.agentConns(id) > 0 {
				continue // back, or gone again more recently
			}
			v, known := h.disp.m.Agent(id)
			if !known {
				continue
			}
			if v.Status == parley.StatusOffline && len(v.Sessions) == 0 {
				continue // nothing to take from it
			}
			if v.Status != parley.StatusOffline {
				h.disp.exec(h.disp.m.SetStatus(id, parley.StatusOffline, nil))
			}
			out = append(out, goneAgent{agent: id, sessions: v.Sessions})
		}
	})
	return out
}

// timersOn reports whether any timer rule is on.
func (c *Config) timersOn() bool {
	return c.AgentGrace > 0 || c.ReplyTimeout > 0 || c.InactivityTimeout > 0
}

// timerLoop runs SweepTimers every Config.TimerInterval until the hub
// closes.
func (h *Hub) timerLoop() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.TimerInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.SweepTimers()
		case <-h.closing:
			return
		}
	}
}

// startTimers starts the sweep loop if any timer rule is on.
func (h *Hub) startTimers() {
	if !h.cfg.timersOn() {
		return
	}
	if h.cfg.TimerInterval <= 0 {
		h.cfg.TimerInterval = time.Second
	}
	h.wg.Add(1)
	go h.timerLoop()
}

// maxRecoverEvents bounds how far back recovery reads a session's events
// to derive its timers.
const maxRecoverEvents = 1000

// recoverTimers derives the timers of the recovered sessions from what is
// stored, before any session runs: routing exclusions from the records,
// the grace of every agent holding a chat from now (nobody is connected
// after a start), and each active session's inactivity clock and reply
// wait from its latest events.
func (h *Hub) recoverTimers(open []*parley.SessionRecord) error {
	now := h.now()
	for _, r := range open {
		for _, id := range r.Excluded {
			h.disp.m.Exclude(r.ID, id)
		}
		if h.cfg.AgentGrace > 0 {
			for _, a := range r.Agents {
				h.timers.gone[a.ID] = now
			}
		}
	}
	if h.cfg.InactivityTimeout <= 0 && h.cfg.ReplyTimeout <= 0 {
		return nil
	}
	return h.db.View(func(tx *storage.Tx) error {
		for _, r := range open {
			s := h.session(r.ID)
			if s == nil || r.State != parley.StateActive {
				continue
			}
			if err := s.deriveTimers(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// deriveTimers walks a recovered active session's events back from the
// latest: the inactivity clock starts at the first agent message after
// the last customer message (or after the last change of agents, which
// may start it later than it did, never earlier), and an agent alone in
// the session who has not written since it joined is waited for from its
// join.
func (s *session) deriveTimers(tx *storage.Tx) error {
	var (
		inactDone  bool // the walk reached the start of the unanswered run
		warned     bool
		joinedAt   time.Time
		wrote      bool
		joinDone   = len(s.rec.Agents) != 1
		alone      string
		before     uint64
		read       int
		pendingAny bool
	)
	if len(s.rec.Agents) == 1 {
		alone = s.rec.Agents[0].ID
	}
	for read < maxRecoverEvents && !(inactDone && joinDone) {
		page, more, err := tx.Events(s.id, storage.EventQuery{BeforeSeq: before, Limit: 100})
		if err != nil {
			return err
		}
		for i := len(page) - 1; i >= 0 && !(inactDone && joinDone); i-- {
			ev := page[i]
			read++
			agentMsg := ev.Kind == parley.KindMessage && ev.From.Role == parley.RoleAgent && !ev.Whisper
			if !inactDone {
				switch {
				case ev.Kind == parley.KindMessage && ev.From.Role == parley.RoleCustomer,
					ev.Kind == parley.KindAgentJoined, ev.Kind == parley.KindAgentLeft, ev.Kind == parley.KindTransferred:
					inactDone = true
				case agentMsg:
					s.tm.pending, pendingAny = ev.At.Time, true
				case ev.Kind == parley.KindInactivityWarning:
					warned = true
				}
			}
			if !joinDone {
				switch {
				case agentMsg && ev.From.ID == alone:
					wrote, joinDone = true, true
				case ev.Kind == parley.KindAgentJoined && ev.From.ID == alone:
					joinedAt, joinDone = ev.At.Time, true
				}
			}
		}
		if !more || len(page) == 0 {
			break
		}
		before = page[0].Seq
	}
	if pendingAny {
		// A warning seen before the walk reached the start of the run
		// warned of it.
		s.tm.warned = warned
		s.scheduleInactivity()
	}
	if alone != "" && !wrote && !joinedAt.IsZero() {
		s.awaitReply(alone, joinedAt)
	}
	return nil
}
