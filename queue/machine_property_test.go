package queue

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// The machine model below is written from the routing rules with plain
// slices and linear scans, on top of the naive pool and queue model of
// property_test.go. It produces the same effects as the Machine should.

type mmRes struct {
	session, customer string
	at                time.Time
	queued            bool
}

type mmAgent struct {
	queues   []string // nil: every queue
	status   string
	conns    int
	disabled bool
	sessions []string
	reserved []mmRes // unconfirmed reservations, oldest first
}

type machineModel struct {
	pool     *model // its agents and line of free slots; its queue is unused
	lanes    map[string][]Entry
	queueOf  map[string]string // session -> queue
	agents   map[string]*mmAgent
	customer map[string]string
	lastPos  map[string]int
	// lastAvail is the number of available agents each queue's customers
	// were told.
	lastAvail map[string]int
	effs      []string
}

// laneNames are the queues of the property test.
var laneNames = []string{"default", "sales", "support"}

func newMachineModel() *machineModel {
	return &machineModel{
		pool: newModel(), lanes: map[string][]Entry{}, queueOf: map[string]string{}, agents: map[string]*mmAgent{},
		customer: map[string]string{}, lastPos: map[string]int{}, lastAvail: map[string]int{},
	}
}

func (mm *machineModel) serves(id, q string) bool {
	a := mm.agents[id]
	return a.queues == nil || slices.Contains(a.queues, q)
}

func (mm *machineModel) laneOf(s string) (string, int) {
	for _, q := range laneNames {
		if i := slices.IndexFunc(mm.lanes[q], func(e Entry) bool { return e.ID == s }); i >= 0 {
			return q, i
		}
	}
	return "", -1
}

// oldestFor returns the queue whose head waited longest among those the
// agent serves, first by name on ties.
func (mm *machineModel) oldestFor(id string) (string, bool) {
	best, found := "", false
	for _, q := range laneNames {
		if len(mm.lanes[q]) == 0 || !mm.serves(id, q) {
			continue
		}
		if !found || mm.lanes[q][0].At.Before(mm.lanes[best][0].At) {
			best, found = q, true
		}
	}
	return best, found
}

func (mm *machineModel) avail(q string) int {
	n := 0
	for id := range mm.agents {
		if mm.pool.agents[id].available && mm.serves(id, q) {
			n++
		}
	}
	return n
}

func (mm *machineModel) emitStatus(id string) {
	a := mm.agents[id]
	mm.effs = append(mm.effs, fmt.Sprintf("status %s %s %d/%d", id, a.status, len(a.sessions), mm.pool.agents[id].capacity))
}

func (mm *machineModel) refresh(id string) {
	a := mm.agents[id]
	if a.status == parley.StatusDraining && len(a.sessions) == 0 {
		a.status = parley.StatusBreak
		mm.emitStatus(id)
	}
	mm.pool.setAvailable(id, a.status == parley.StatusAvailable && a.conns > 0 && !a.disabled)
}

func clamp(c int) int {
	if c <= 0 {
		return parley.DefaultCapacity
	}
	return min(c, parley.MaxCapacity)
}

func (mm *machineModel) setAgent(id string, capacity int, disabled bool) {
	if mm.agents[id] == nil {
		mm.agents[id] = &mmAgent{status: parley.StatusOffline}
		mm.pool.add(id, clamp(capacity))
	}
	mm.pool.setCapacity(id, clamp(capacity))
	mm.agents[id].disabled = disabled
	if disabled {
		mm.agents[id].status = parley.StatusOffline
	}
	mm.refresh(id)
}

func (mm *machineModel) setStatus(id, status string) {
	a := mm.agents[id]
	if a == nil {
		mm.effs = append(mm.effs, "reject "+parley.ENotFound)
		return
	}
	if status == parley.StatusBreak && len(a.sessions) > 0 {
		status = parley.StatusDraining
	}
	a.status = status
	mm.refresh(id)
	mm.emitStatus(id)
}

// enqueue queues s unless an agent other than except holds it.
func (mm *machineModel) enqueue(s, customer string, at time.Time, except ...string) {
	for id, a := range mm.agents {
		if slices.Contains(a.sessions, s) && !slices.Contains(except, id) {
			return
		}
	}
	if q, _ := mm.laneOf(s); q != "" {
		return
	}
	q := mm.queueOf[s]
	if q == "" {
		q = parley.DefaultQueue
	}
	l := mm.lanes[q]
	i := 0
	for i < len(l) && !l[i].At.After(at) {
		i++
	}
	mm.lanes[q] = slices.Insert(l, i, Entry{ID: s, At: at})
	mm.customer[s] = customer
}

func (mm *machineModel) dequeue(s string) {
	if q, i := mm.laneOf(s); q != "" {
		mm.lanes[q] = slices.Delete(mm.lanes[q], i, i+1)
		delete(mm.lastPos, s)
	}
}

// route walks the line of free slots, oldest first: the first slot whose
// agent serves a queue with a session waiting takes the longest-waiting
// of those sessions.
func (mm *machineModel) route() {
	for {
		id, q := "", ""
		for _, cand := range mm.pool.line {
			if oq, ok := mm.oldestFor(cand); ok {
				id, q = cand, oq
				break
			}
		}
		if id == "" {
			return
		}
		_ = mm.pool.take(id)
		e := mm.lanes[q][0]
		mm.lanes[q] = mm.lanes[q][1:]
		delete(mm.lastPos, e.ID)
		mm.reserve(id, mmRes{session: e.ID, customer: mm.customer[e.ID], at: e.At, queued: true})
	}
}

func (mm *machineModel) reserve(id string, r mmRes) {
	a := mm.agents[id]
	a.sessions = append(a.sessions, r.session)
	a.reserved = append(a.reserved, r)
	q := mm.queueOf[r.session]
	if q == "" {
		q = parley.DefaultQueue
	}
	mm.effs = append(mm.effs, fmt.Sprintf("assign %s %s ordered=%v queue=%s", id, r.session, r.queued, q))
}

// reservation finds the agent's reservation for s.
func (mm *machineModel) reservation(id, s string) (mmRes, bool) {
	a := mm.agents[id]
	if a == nil {
		return mmRes{}, false
	}
	for _, r := range a.reserved {
		if r.session == s {
			return r, true
		}
	}
	return mmRes{}, false
}

func (mm *machineModel) forget(id, s string) bool {
	if _, ok := mm.reservation(id, s); !ok {
		return false
	}
	a := mm.agents[id]
	a.reserved = slices.DeleteFunc(a.reserved, func(r mmRes) bool { return r.session == s })
	return true
}

func (mm *machineModel) release(id, s string) {
	a := mm.agents[id]
	i := slices.Index(a.sessions, s)
	if i < 0 {
		return
	}
	a.sessions = slices.Delete(a.sessions, i, i+1)
	mm.pool.release(id)
	mm.refresh(id)
}

func (mm *machineModel) assignDone(id, s string) {
	mm.forget(id, s)
}

func (mm *machineModel) assignFailed(id, s string, requeue bool, customer string, at time.Time) {
	if !mm.forget(id, s) {
		return
	}
	mm.release(id, s)
	if requeue {
		mm.enqueue(s, customer, at)
	}
}

func (mm *machineModel) ended(s string, agents []string) {
	mm.dequeue(s)
	var others []string
	for id := range mm.agents {
		if _, ok := mm.reservation(id, s); ok && !slices.Contains(agents, id) {
			others = append(others, id)
		}
	}
	slices.Sort(others)
	for _, id := range append(slices.Clone(agents), others...) {
		if mm.agents[id] == nil {
			continue
		}
		mm.forget(id, s)
		mm.release(id, s)
	}
}

func (mm *machineModel) accept(id, s string, open func(string) bool) {
	a := mm.agents[id]
	reject := func(code string) { mm.effs = append(mm.effs, "reject "+code) }
	switch {
	case a == nil:
		reject(parley.ENotFound)
		return
	case a.status == parley.StatusDraining:
		reject(parley.EConflict)
		return
	case mm.pool.free(mm.pool.agents[id]) == 0:
		reject(parley.EConflict)
		return
	}
	if s == "" {
		q, ok := mm.oldestFor(id)
		if !ok {
			reject(parley.ENotFound)
			return
		}
		s = mm.lanes[q][0].ID
	}
	if slices.Contains(a.sessions, s) || !open(s) {
		reject(parley.EConflict)
		return
	}
	if q, _ := mm.laneOf(s); q != "" && !mm.serves(id, q) {
		reject(parley.EForbidden)
		return
	}
	if mm.pool.agents[id].available {
		_ = mm.pool.take(id)
	} else {
		mm.pool.hold(id)
	}
	r := mmRes{session: s}
	if q, i := mm.laneOf(s); q != "" {
		e := mm.lanes[q][i]
		r.customer, r.at, r.queued = mm.customer[s], e.At, true
		mm.dequeue(s)
	}
	mm.reserve(id, r)
}

func (mm *machineModel) tick() {
	for _, q := range laneNames {
		avail := mm.avail(q)
		everyone := avail != mm.lastAvail[q]
		mm.lastAvail[q] = avail
		for i, e := range mm.lanes[q] {
			if everyone || mm.lastPos[e.ID] != i+1 {
				mm.lastPos[e.ID] = i + 1
				mm.effs = append(mm.effs, fmt.Sprintf("position %s %s %d avail=%d", e.ID, q, i+1, avail))
			}
		}
	}
}

// describe renders the machine's effects as the model writes them;
// summaries and pushes for a drifted estimate only are left out (the
// model does not estimate waits; checkDrift checks those pushes).
func describe(m *Machine, effs []Effect) []string {
	var out []string
	for _, e := range effs {
		switch e.Kind {
		case EffAssign:
			out = append(out, fmt.Sprintf("assign %s %s ordered=%v queue=%s", e.Agent, e.Session, e.Ordered, e.QueueName))
		case EffStatus:
			out = append(out, fmt.Sprintf("status %s %s %d/%d", e.Agent, e.Status, e.Active, e.Capacity))
		case EffReject:
			out = append(out, "reject "+parley.ErrorCode(e.Err))
		case EffPosition:
			if e.Drift {
				continue
			}
			out = append(out, fmt.Sprintf("position %s %s %d avail=%d", e.Session, e.QueueName, e.Position, e.AgentsAvailable))
		}
	}
	return out
}

// checkDrift checks the pushes of effs made at now for a drifted
// estimate only against the rule (EWTDriftMin): the customer's position
// is the one the model last told it, an agent is available, the estimate
// moved enough from the last one pushed, and EWTDriftEvery passed since
// then. last holds the last push to each session's customer.
func checkDrift(t *testing.T, ctx string, mm *machineModel, last map[string]told, effs []Effect, now time.Time) {
	t.Helper()
	for _, e := range effs {
		if e.Kind != EffPosition {
			continue
		}
		if e.Drift {
			prev, ok := last[e.Session]
			require.True(t, ok, "%s: drift push to %s, never told before", ctx, e.Session)
			require.Equal(t, mm.lastPos[e.Session], e.Position, "%s: drift push to %s moved it", ctx, e.Session)
			require.Equal(t, prev.pos, e.Position, "%s: drift push to %s", ctx, e.Session)
			require.Positive(t, e.AgentsAvailable, "%s: drift push to %s without agents", ctx, e.Session)
			require.GreaterOrEqual(t, now.Sub(time.Unix(0, prev.at)), EWTDriftEvery, "%s: drift push to %s too soon", ctx, e.Session)
			d := abs(e.EWTSeconds - prev.ewt)
			require.True(t, d >= 15 && d*5 >= prev.ewt, "%s: drift push to %s for %d s -> %d s", ctx, e.Session, prev.ewt, e.EWTSeconds)
		}
		last[e.Session] = told{pos: e.Position, ewt: e.EWTSeconds, at: now.UnixNano()}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestMachineProperties runs random operation sequences against a Machine
// and the model and checks that they decide the same effects and hold the
// same state after every operation, and the machine's invariants.
func TestMachineProperties(t *testing.T) {
	for seq := range 500 {
		runMachineSequence(t, uint64(seq))
		if t.Failed() {
			return
		}
	}
}

func runMachineSequence(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x3ac41e))
	m := NewMachine()
	mm := newMachineModel()
	var sessions []string
	ended := map[string]bool{}
	open := func(s string) bool { return !ended[s] }
	agent := func() string {
		if rng.IntN(20) == 0 {
			return "ghost"
		}
		return agentIDs[rng.IntN(4)]
	}
	known := func() (string, bool) {
		if len(sessions) == 0 {
			return "", false
		}
		return sessions[rng.IntN(len(sessions))], true
	}
	// confirmed lists the agents in a session (held, not reserved).
	confirmed := func(s string) []string {
		var out []string
		for _, id := range agentIDs[:4] {
			a := mm.agents[id]
			if a == nil || !slices.Contains(a.sessions, s) {
				continue
			}
			if _, reserved := mm.reservation(id, s); !reserved {
				out = append(out, id)
			}
		}
		return out
	}
	now := t0
	stamps := map[string]time.Time{}
	told := map[string]told{} // the last push to each session's customer
	for op := range 150 {
		ctx := fmt.Sprintf("seed %d op %d", seed, op)
		now = now.Add(time.Duration(rng.IntN(3)-1) * time.Second) // the clock may go back
		mm.effs = nil
		var effs []Effect
		desc := ""
		switch k := rng.IntN(100); {
		case k < 18:
			s := fmt.Sprintf("s%d", len(sessions))
			sessions = append(sessions, s)
			at := t0.Add(time.Duration(rng.IntN(20)) * time.Second)
			q := laneNames[rng.IntN(len(laneNames))]
			desc = "enqueue " + s + " in " + q
			m.SetQueue(s, q)
			m.Enqueue(s, "c-"+s, at)
			mm.queueOf[s] = q
			mm.enqueue(s, "c-"+s, at)
		case k < 21:
			id := agentIDs[rng.IntN(4)]
			if mm.agents[id] == nil {
				continue
			}
			var qs []string
			for _, q := range laneNames {
				if rng.IntN(2) == 0 {
					qs = append(qs, q)
				}
			}
			desc = fmt.Sprintf("queues %s %v", id, qs)
			m.SetAgentQueues(id, qs)
			mm.agents[id].queues = qs
		case k < 23:
			id, c, dis := agentIDs[rng.IntN(4)], rng.IntN(5)-1, rng.IntN(10) == 0
			desc = fmt.Sprintf("setAgent %s %d %v", id, c, dis)
			effs = m.SetAgent(id, c, dis)
			mm.setAgent(id, c, dis)
		case k < 28:
			id := agent()
			desc = "connect " + id
			effs = m.Connected(id)
			if a := mm.agents[id]; a != nil {
				a.conns++
				mm.refresh(id)
			}
		case k < 31:
			id := agent()
			desc = "disconnect " + id
			effs = m.Disconnected(id)
			if a := mm.agents[id]; a != nil {
				a.conns = max(0, a.conns-1)
				mm.refresh(id)
			}
		case k < 41:
			id := agent()
			st := []string{parley.StatusAvailable, parley.StatusBreak, parley.StatusOffline}[rng.IntN(3)]
			desc = "status " + id + " " + st
			effs = m.SetStatus(id, st, nil)
			mm.setStatus(id, st)
		case k < 56:
			desc = "route"
			effs = m.Route(now)
			mm.route()
		case k < 71, k < 75, k < 78:
			id := agentIDs[rng.IntN(4)]
			a := mm.agents[id]
			if a == nil || len(a.reserved) == 0 {
				continue
			}
			r := a.reserved[rng.IntN(len(a.reserved))]
			switch {
			case k < 71:
				desc = "done " + id + " " + r.session
				effs = m.AssignDone(id, r.session)
				mm.assignDone(id, r.session)
			case k < 75:
				desc = "failed " + id + " " + r.session
				effs = m.AssignFailed(id, r.session, r.queued, r.customer, r.at)
				mm.assignFailed(id, r.session, r.queued, r.customer, r.at)
			default:
				desc = "handover failed " + id + " " + r.session
				effs = m.HandoverFailed(id, r.session)
				mm.assignFailed(id, r.session, r.queued, r.customer, r.at)
			}
		case k < 85:
			s, ok := known()
			if !ok || ended[s] {
				continue
			}
			agents := confirmed(s)
			desc = fmt.Sprintf("ended %s %v", s, agents)
			ended[s] = true
			effs = m.Ended(s, agents)
			mm.ended(s, agents)
		case k < 91:
			id := agent()
			s := ""
			if rng.IntN(2) == 0 {
				s, _ = known()
			}
			desc = "accept " + id + " " + s
			effs = m.Accept(id, s, open, nil, now)
			mm.accept(id, s, open)
		case k < 96:
			id := agentIDs[rng.IntN(4)]
			a := mm.agents[id]
			if a == nil {
				continue
			}
			var held []string
			for _, s := range a.sessions {
				if _, reserved := mm.reservation(id, s); !reserved {
					held = append(held, s)
				}
			}
			if len(held) == 0 {
				continue
			}
			s := held[rng.IntN(len(held))]
			requeue := len(confirmed(s)) == 1
			at := t0
			desc = fmt.Sprintf("left %s %s %v", id, s, requeue)
			effs = m.Left(id, s, "c-"+s, requeue, at, now)
			if requeue {
				mm.enqueue(s, "c-"+s, at, id)
				mm.route()
			}
			mm.release(id, s)
		default:
			desc = "tick"
			effs = m.Tick(now)
			mm.tick()
		}
		ctx += ": " + desc
		require.Equal(t, mm.effs, describe(m, effs), "%s: effects", ctx)
		checkDrift(t, ctx, mm, told, effs, now)
		for _, e := range effs {
			if e.Kind != EffAssign {
				continue
			}
			if e.Ordered {
				// Taken from a queue: never one the agent does not serve,
				// and the routing decision names the queue and agent.
				require.True(t, mm.serves(e.Agent, e.QueueName), "%s: %s got %s of queue %s it does not serve", ctx, e.Agent, e.Session, e.QueueName)
				require.NotNil(t, e.Routing, "%s: routing decision", ctx)
				require.Equal(t, e.QueueName, e.Routing.Queue, "%s", ctx)
				require.Equal(t, e.Agent, e.Routing.AgentID, "%s", ctx)
				if !e.Routing.Manual {
					// Longest-free among the eligible: no agent that lost
					// with a free slot had it free for longer.
					for _, o := range e.Routing.Others {
						require.NotEqual(t, parley.ReasonFree, o.Reason, "%s", ctx)
						if o.Reason == parley.ReasonLaterSlot {
							require.False(t, o.FreeSince.Before(e.Routing.FreeSince.Time), "%s: %s lost with an older slot", ctx, o.AgentID)
						}
					}
				}
			}
			require.False(t, e.At.Before(stamps[e.Agent]), "%s: assigned_at of %s went back", ctx, e.Agent)
			stamps[e.Agent] = e.At
			if e.Ordered {
				for id := range m.reserved[e.Session] {
					require.True(t, id == e.Agent || !m.reservedOrdered(id, e.Session), "%s: %s has two ordered reservations", ctx, e.Session)
				}
			}
		}
		checkMachineAgree(t, ctx, m, mm)
		if desc == "route" {
			for _, id := range mm.pool.line {
				_, ok := mm.oldestFor(id)
				require.False(t, ok, "%s: a session waits in a queue %s serves while it has a free slot", ctx, id)
			}
		}
	}
}

func checkMachineAgree(t *testing.T, ctx string, m *Machine, mm *machineModel) {
	t.Helper()
	for _, q := range laneNames {
		var want, got []string
		for _, e := range mm.lanes[q] {
			want = append(want, e.ID)
		}
		if l := m.lanes[q]; l != nil {
			l.q.Each(func(_ int, e Entry) bool { got = append(got, e.ID); return true })
		}
		require.Equal(t, want, got, "%s: queue %s (FIFO per queue)", ctx, q)
	}
	for id, ma := range mm.agents {
		a := m.agents[id]
		require.NotNil(t, a, "%s: agent %s", ctx, id)
		require.Equal(t, ma.status, a.status, "%s: status of %s", ctx, id)
		require.Equal(t, len(ma.sessions), len(a.sessions), "%s: active of %s", ctx, id)
		require.Equal(t, len(a.sessions), m.pool.Active(id), "%s: pool active of %s", ctx, id)
		for _, s := range ma.sessions {
			require.Contains(t, a.sessions, s, "%s: %s holds %s", ctx, id, s)
			require.Nil(t, m.laneOf[s], "%s: %s is both held and waiting", ctx, s)
		}
		var reserved []string
		for _, r := range ma.reserved {
			reserved = append(reserved, r.session)
			require.NotNil(t, m.reserved[r.session][id], "%s: %s reserved for %s", ctx, r.session, id)
		}
		n := 0
		for s := range m.reserved {
			if m.reserved[s][id] != nil {
				n++
			}
		}
		require.Len(t, reserved, n, "%s: reservations of %s", ctx, id)
		require.Equal(t, m.pool.Free(id), mm.pool.free(mm.pool.agents[id]), "%s: free of %s", ctx, id)
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// reservedOrdered reports whether agent holds an ordered reservation of s.
func (m *Machine) reservedOrdered(agentID, s string) bool {
	r := m.reserved[s][agentID]
	return r != nil && r.queued
}
