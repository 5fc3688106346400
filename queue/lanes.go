package queue

import (
	"cmp"
	"slices"
	"time"

	"github.com/parley-chat/parley/parley"
)

// lane is one named queue of the machine.
type lane struct {
	name string
	q    *Queue
	// configured is set for queues added with AddQueue; a lane that only
	// holds sessions of a queue removed meanwhile is not.
	configured bool
	// lastAvail is the number of available agents the lane's waiting
	// customers were last told.
	lastAvail int
	svc       service
	// cursor is the session the next quiet tick's drift check goes on
	// from; "" or a session no longer waiting means the front.
	cursor string
}

// entry returns a waiting session's entry.
func (l *lane) entry(id string) (found Entry) {
	l.q.Each(func(_ int, e Entry) bool {
		if e.ID == id {
			found = e
			return false
		}
		return true
	})
	return found
}

// ---- queues ----

// AddQueue makes a named queue known. Adding a known queue changes
// nothing.
func (m *Machine) AddQueue(name string) {
	l := m.lane(name)
	if !l.configured {
		l.configured = true
		m.dirty = true
	}
}

// lane returns the named lane, creating it if needed.
func (m *Machine) lane(name string) *lane {
	name = parley.QueueOrDefault(name)
	l := m.lanes[name]
	if l == nil {
		l = &lane{name: name, q: NewQueue()}
		l.svc.lastObs = m.seen
		m.lanes[name] = l
		i, _ := slices.BinarySearch(m.names, name)
		m.names = slices.Insert(m.names, i, name)
	}
	return l
}

// RemoveQueue forgets a queue. It is refused with conflict for the
// default queue and while sessions wait in it.
func (m *Machine) RemoveQueue(name string) error {
	l := m.lanes[name]
	switch {
	case name == parley.DefaultQueue:
		return parley.Errorf(parley.EConflict, "The default queue cannot be removed.")
	case l == nil:
		return parley.Errorf(parley.ENotFound, "Queue %s not found.", name)
	case l.q.Len() > 0:
		return parley.Errorf(parley.EConflict, "%d session(s) wait in queue %s; it can be removed once they are served.", l.q.Len(), name)
	}
	delete(m.lanes, name)
	if i, ok := slices.BinarySearch(m.names, name); ok {
		m.names = slices.Delete(m.names, i, i+1)
	}
	m.dirty = true
	return nil
}

// QueueNames returns the names of the known queues, sorted.
func (m *Machine) QueueNames() []string {
	var out []string
	for _, n := range m.names {
		if m.lanes[n].configured {
			out = append(out, n)
		}
	}
	return out
}

// SetQueue tells the machine which queue an open session belongs to, so
// that it waits there whenever it is queued or requeued. Sessions the
// machine was not told of wait in the default queue. Ended forgets it.
func (m *Machine) SetQueue(sessionID, queue string) {
	m.queueOf[sessionID] = parley.QueueOrDefault(queue)
}

// queueName returns the queue of a session.
func (m *Machine) queueName(sessionID string) string {
	return parley.QueueOrDefault(m.queueOf[sessionID])
}

// ---- the queue ----

// Enqueue adds a waiting session of customer that entered the queue at
// at, in its queue (see SetQueue). A session already waiting keeps its
// place. A session an agent holds or has a slot reserved for is not
// queued: it has an agent, or is being handed to one and is requeued if
// that fails.
func (m *Machine) Enqueue(sessionID, customerID string, at time.Time) {
	m.enqueue(sessionID, customerID, at, 0)
}

// enqueue is Enqueue for a session that may still be held by up to
// holders agents.
func (m *Machine) enqueue(sessionID, customerID string, at time.Time, holders int) {
	if m.holders[sessionID] > holders || m.laneOf[sessionID] != nil {
		return
	}
	l := m.lane(m.queueName(sessionID))
	if at.After(l.svc.lastObs) && at.Before(m.seen.Add(time.Second)) {
		// A new arrival: the time up to it passed as it was.
		l.svc.observe(at)
	}
	if l.q.Push(Entry{ID: sessionID, At: at}) {
		m.waiting[sessionID] = customerID
		m.laneOf[sessionID] = l
		m.dirty = true
		l.svc.mark(true, l.svc.avail)
	}
}

// Admitted returns a waiting session's position and wait estimate and
// counts both as told to its customer (the answer to start carries them)
// at the latest time the machine was given. pos is 0 if the session is
// not waiting.
func (m *Machine) Admitted(sessionID string) (pos, ewt int) {
	pos, ewt = m.Position(sessionID)
	if pos > 0 {
		m.told[sessionID] = told{pos: pos, ewt: ewt, at: m.seen.UnixNano()}
	}
	return pos, ewt
}

// Position returns a waiting session's place in its queue (1 = next) and
// wait estimate in seconds; pos is 0 if it is not waiting.
func (m *Machine) Position(sessionID string) (pos, ewt int) {
	_, pos, ewt, _ = m.Place(sessionID)
	return pos, ewt
}

// Place returns a waiting session's queue, its place there (1 = next),
// the wait estimate in seconds, and the agents available for the queue;
// pos is 0 if the session is not waiting.
func (m *Machine) Place(sessionID string) (queue string, pos, ewt, avail int) {
	l := m.laneOf[sessionID]
	if l == nil {
		return m.queueName(sessionID), 0, 0, 0
	}
	pos = l.q.Position(sessionID)
	avail = m.availFor(l.name)
	return l.name, pos, l.svc.estimate(pos-m.freeFor(l.name), avail, m.seen), avail
}

// freeFor counts the free slots of the available agents serving the
// named queue: that many sessions of it will be routed without waiting
// for a slot to free.
func (m *Machine) freeFor(queue string) int {
	n := 0
	for id, a := range m.agents {
		if a.serves(queue) && m.pool.Available(id) {
			n += m.pool.Free(id)
		}
	}
	return n
}

// AgentsAvailable counts the agents taking chats now: available,
// connected and enabled, whether or not they have a free slot.
func (m *Machine) AgentsAvailable() int {
	n := 0
	for id := range m.agents {
		if m.pool.Available(id) {
			n++
		}
	}
	return n
}

// AgentsAvailableFor counts the agents taking chats now that serve the
// named queue.
func (m *Machine) AgentsAvailableFor(queue string) int { return m.availFor(queue) }

func (m *Machine) availFor(queue string) int {
	n := 0
	for id, a := range m.agents {
		if a.serves(queue) && m.pool.Available(id) {
			n++
		}
	}
	return n
}

// Waiting returns how many sessions wait in all queues.
func (m *Machine) Waiting() int { return len(m.waiting) }

// WaitingIn returns how many sessions wait in the named queue.
func (m *Machine) WaitingIn(queue string) int {
	if l := m.lanes[queue]; l != nil {
		return l.q.Len()
	}
	return 0
}

// QueueOrder returns the waiting sessions of every queue, longest
// waiting first.
func (m *Machine) QueueOrder() []string { return m.QueueHead(len(m.waiting)) }

// QueueHead returns the first n waiting sessions of every queue, longest
// waiting first; it walks each queue no further than n.
func (m *Machine) QueueHead(n int) []string {
	return m.head(m.names, n)
}

// QueueHeadFor returns the first n sessions waiting in the queues the
// agent serves (only in queue, if set), longest waiting first, and how
// many wait there in all.
func (m *Machine) QueueHeadFor(agentID, queue string, n int) (ids []string, waiting int) {
	a := m.agents[agentID]
	var names []string
	for _, name := range m.names {
		if (queue == "" || name == queue) && (a == nil || a.serves(name)) {
			names = append(names, name)
			waiting += m.lanes[name].q.Len()
		}
	}
	return m.head(names, n), waiting
}

// head merges the first n entries of the named lanes by arrival; equal
// arrivals go in lane name order.
func (m *Machine) head(names []string, n int) []string {
	type item struct {
		e    Entry
		lane int
		pos  int
	}
	var all []item
	for i, name := range names {
		m.lanes[name].q.Each(func(pos int, e Entry) bool {
			if pos > n {
				return false
			}
			all = append(all, item{e, i, pos})
			return true
		})
	}
	slices.SortFunc(all, func(a, b item) int {
		if c := a.e.At.Compare(b.e.At); c != 0 && a.lane != b.lane {
			return c
		}
		if a.lane != b.lane {
			return cmp.Compare(a.lane, b.lane)
		}
		return cmp.Compare(a.pos, b.pos)
	})
	ids := make([]string, 0, min(n, len(all)))
	for _, it := range all[:min(n, len(all))] {
		ids = append(ids, it.e.ID)
	}
	return ids
}

// QueueInfo summarises the queues at now: totals, and each known queue or
// queue with sessions waiting.
func (m *Machine) QueueInfo(now time.Time) parley.QueueInfo {
	info := parley.QueueInfo{Waiting: len(m.waiting)}
	for _, name := range m.names {
		l := m.lanes[name]
		if !l.configured && l.q.Len() == 0 {
			continue
		}
		d := parley.QueueDetail{Name: name, Waiting: l.q.Len(), AgentsAvailable: m.availFor(name)}
		if e, ok := l.q.Front(); ok {
			d.OldestWaitS = max(0, int(now.Sub(e.At).Seconds()))
			info.OldestWaitS = max(info.OldestWaitS, d.OldestWaitS)
		}
		info.Queues = append(info.Queues, d)
	}
	return info
}

// Tick tells waiting customers whose position, or whose queue's number of
// available agents, changed where they are, and agents how the queues
// stand, if anything changed since the last tick. It also tells customers
// whose wait estimate drifted from the one they were last told (see
// EWTDriftMin), checking at most 2*ewtDriftScan customers per queue when
// nothing else changed.
func (m *Machine) Tick(now time.Time) []Effect {
	m.observe(now)
	defer m.markAll()
	dirty, nowNs := m.dirty, now.UnixNano()
	m.dirty = false
	var effs []Effect
	for _, name := range m.names {
		l := m.lanes[name]
		if l.q.Len() == 0 && !dirty {
			continue
		}
		avail, free, rate := m.availFor(name), m.freeFor(name), l.svc.rate(now)
		everyone := avail != l.lastAvail // a change concerns every customer waiting here
		l.lastAvail = avail
		// check pushes a customer whose position moved and, if mayDrift,
		// one whose estimate drifted.
		check := func(pos int, e Entry, mayDrift bool) {
			t, ok := m.told[e.ID]
			moved := everyone || !ok || t.pos != pos
			if !moved && (!mayDrift || avail == 0 || nowNs-t.at < int64(EWTDriftEvery)) {
				return // not moved, and no drift check, no estimate, or told too recently
			}
			ewt := estimateAt(pos-free, avail, rate)
			drift := !moved && drifted(t.ewt, ewt)
			if !moved && !drift {
				return
			}
			m.told[e.ID] = told{pos: pos, ewt: ewt, at: nowNs}
			effs = append(effs, Effect{
				Kind: EffPosition, Session: e.ID, Customer: m.waiting[e.ID], Position: pos,
				EWTSeconds: ewt, AgentsAvailable: avail, QueueName: name, Drift: drift,
			})
		}
		if dirty || everyone {
			// Positions may have changed anywhere: check everyone's
			// position, and the front's estimate.
			l.q.Each(func(pos int, e Entry) bool { check(pos, e, pos <= ewtDriftScan); return true })
		} else {
			// Nothing changed since the last tick, which told everyone
			// their position. Check the front's estimates, where they
			// matter most.
			l.q.Each(func(pos int, e Entry) bool {
				if pos > ewtDriftScan {
					return false
				}
				check(pos, e, true)
				return true
			})
		}
		// Everyone has been told their position by now, so told[id].pos
		// is each session's position: check the estimates of the next
		// stretch after the cursor. A tick checks at most 2×ewtDriftScan
		// estimates, however long the queue and however often it changes.
		l.cursor = l.q.walkFrom(l.cursor, ewtDriftScan, func(e Entry) {
			if pos := m.told[e.ID].pos; pos > ewtDriftScan {
				check(pos, e, true)
			}
		})
	}
	if !dirty {
		return effs
	}
	if info := m.QueueInfo(now); !info.Equal(m.lastInfo) {
		m.lastInfo = info
		effs = append(effs, Effect{Kind: EffSummary, Queue: info})
	}
	return effs
}

func (m *Machine) dequeue(id string) {
	l := m.laneOf[id]
	if l == nil {
		return
	}
	l.q.Remove(id)
	delete(m.laneOf, id)
	delete(m.waiting, id)
	delete(m.told, id)
	m.dirty = true
}

// observe accounts the time up to now in every queue's service history.
func (m *Machine) observe(now time.Time) {
	if now.After(m.seen) {
		m.seen = now
	}
	m.pool.SetClock(now)
	for _, l := range m.lanes {
		l.svc.observe(now)
	}
}

// markAll records every queue's state for the time from now on.
func (m *Machine) markAll() {
	for name, l := range m.lanes {
		l.svc.mark(l.q.Len() > 0, m.availFor(name))
	}
}

// oldestFor returns the lane, among those the agent serves, whose first
// session the agent may take (it is not excluded from it, see Exclude)
// has waited longest, with that session; the lane is nil if there is
// none. Equal arrivals go to the lane first by name.
func (m *Machine) oldestFor(a *machineAgent) (best *lane, found Entry) {
	try := func(l *lane) {
		if l == nil {
			return
		}
		e, ok := m.firstFor(l, a.id)
		if ok && (best == nil || e.At.Before(found.At)) {
			best, found = l, e
		}
	}
	if a.queues == nil {
		for _, name := range m.names {
			try(m.lanes[name])
		}
	} else {
		for _, name := range a.queues {
			try(m.lanes[name])
		}
	}
	return best, found
}

// firstFor returns the first session of the lane the agent is not
// excluded from.
func (m *Machine) firstFor(l *lane, agentID string) (found Entry, ok bool) {
	if len(m.excluded) == 0 {
		return l.q.Front()
	}
	l.q.Each(func(_ int, e Entry) bool {
		if _, ex := m.excluded[e.ID][agentID]; ex {
			return true
		}
		found, ok = e, true
		return false
	})
	return found, ok
}

// ---- routing ----

// Route gives waiting sessions to routable agents for as long as both
// exist: the agent whose slot has been free longest, among those serving
// a queue with a session waiting, takes the session that has waited
// longest among the queues it serves. Agents are never offered a session
// they are excluded from (Exclude); such a session keeps its place while
// the sessions behind it are served.
func (m *Machine) Route(now time.Time) []Effect {
	m.observe(now)
	defer m.markAll()
	var effs []Effect
	for len(m.waiting) > 0 {
		id, ok := m.pool.NextWhere(func(id string) bool { l, _ := m.oldestFor(m.agents[id]); return l != nil })
		if !ok {
			return effs
		}
		a := m.agents[id]
		l, e := m.oldestFor(a)
		routing := m.decide(a, l.name, e, now)
		if since, _ := m.pool.FreeSince(id); since.After(e.At) {
			// The session waited for this slot to free: that is service.
			l.svc.depart(now)
		}
		_ = m.pool.Take(id) // NextWhere only returns agents with a free slot
		customer := m.waiting[e.ID]
		m.dequeue(e.ID)
		effs = m.reserve(a, &reservation{
			agent: id, session: e.ID, customer: customer, at: e.At, queued: true, routing: routing,
		}, now, effs)
	}
	return effs
}
