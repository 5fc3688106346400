package chat

import (
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Client commands a session goroutine handles.
const (
	cmdSend = iota + 1
	cmdEnd
	cmdTyping
	cmdRead
	cmdResume
	cmdLeave
	cmdAssign // from the dispatcher, through the control mailbox
)

const (
	// maxSendBatch bounds how many queued sends one session stores in one
	// group commit.
	maxSendBatch = 256
	// maxInbox is how many commands may wait for one session before a
	// client's post blocks (which pushes back on that client's reader).
	// Nothing is preallocated: an idle session's mailbox holds no buffer.
	maxInbox = 512
	// answerTimeout bounds how long a command with a done channel (an
	// operator ending a session) waits for the session's answer.
	answerTimeout = 2 * updateTimeout
)

// command is one request to a session goroutine.
type command struct {
	kind    int
	conn    Conn   // who to answer; nil for server-side commands
	req     string // echoed as "re"
	from    parley.Participant
	agent   *parley.Agent // cmdAssign: the agent joining
	text    string
	cmid    string
	whisper bool
	active  bool
	seq     uint64 // cmdRead: read up to; cmdResume: after
	limit   int    // cmdResume: page size (0 = the default)
	reason  string // cmdEnd
	// ifQueued makes cmdEnd end the session only while it is queued
	// (abandoned sessions), answering errNotQueued otherwise.
	ifQueued bool
	event    parley.Event // cmdStart: the queued event
	timer    int          // cmdTimer: which deadline (timers.go)
	// target is the agent a cmdTimer concerns, or the agent a
	// cmdTransfer hands the session to ("" for the queue).
	target string
	upload *fileUpload // cmdFile (files.go)
	// done, if set, gets the command's outcome exactly once (it must have
	// room for one value): nil or the error, or unavailable after
	// answerTimeout.
	done chan error

	// routing is cmdAssign's routing decision, stored with the join.
	routing *parley.Routing
}

// maxEarly bounds the events a waiting session keeps in memory.
const maxEarly = 64

// remember keeps ev in the early events while they are complete.
func (s *session) remember(ev parley.Event) {
	if !s.earlyOK {
		return
	}
	if len(s.early) >= maxEarly {
		s.early, s.earlyOK = nil, false
		return
	}
	s.early = append(s.early, ev)
}

// session owns one open session: its record, its sequence numbers and the
// fan-out of its events. Everything that changes the session passes
// through its mailbox and is handled by the session's worker goroutine, so
// events are stored and delivered in one order.
//
// The worker runs only while the mailbox has work: the first post starts
// it, and it exits when the mailbox is empty (like a connection's writer
// in httpapi). So an idle session costs its record and a few small
// structs, but no goroutine stack and no preallocated channel buffer;
// exactly one worker at a time owns the fields marked "owned by the
// worker", handed over through the mailbox's lock.
type session struct {
	hub        *Hub
	id         string
	customerID string
	rec        *parley.SessionRecord // owned by the worker
	lastSeq    uint64                // owned by the worker
	// early holds every event of a session that has not yet had an agent,
	// so the first assignment needs no read of storage. It is dropped
	// after that, or when it grows past maxEarly (earlyOK false).
	early   []parley.Event
	earlyOK bool
	// fences holds the connections whose sends are refused until they
	// resend a failed message (see fence.go); owned by the worker.
	fences map[Conn]string
	// signals holds back typing and read pushes (see coalesce); owned by
	// the worker.
	signals map[signalKey]*signalState
	// tm is the session's timer state (timers.go); owned by the worker.
	tm sessionTimers

	box *mailbox[command]
	// ctrl is the same mailbox as the dispatcher sees it: its posts never
	// block.
	ctrl ctrlBox
}

// ctrlBox is the dispatcher's handle on a session's mailbox.
type ctrlBox struct{ m *mailbox[command] }

// post queues c without blocking; it reports false if the session has
// stopped, in which case c was not delivered.
func (c ctrlBox) post(v command) bool { return c.m.post(v) == nil }

func newSession(h *Hub, r *parley.SessionRecord, lastSeq uint64) *session {
	s := &session{
		hub:        h,
		id:         r.ID,
		customerID: r.Customer.ID,
		rec:        r,
		lastSeq:    lastSeq,
	}
	s.box = newMailbox[command](maxInbox, func() {
		// Called under the mailbox lock, which the hub's Close takes
		// (closing the mailbox) before it waits: no Add races the Wait.
		h.wg.Add(1)
		go s.work()
	})
	s.ctrl = ctrlBox{s.box}
	return s
}

// post hands a client command to the session, waiting while its mailbox
// is full. If the session has stopped it answers the command with the
// reason instead: a command is always either handled or refused.
func (s *session) post(c command) {
	if c.done != nil {
		done := c.done
		time.AfterFunc(answerTimeout, func() {
			answer(done, parley.Errorf(parley.EUnavailable,
				"Session %s did not answer within %v; it may still act on the command.", s.id, answerTimeout))
		})
	}
	if err := s.box.postWait(c); err != nil {
		s.reject(c, err)
	}
}

// answer delivers a command's outcome unless one was already delivered.
func answer(done chan error, err error) {
	select {
	case done <- err:
	default:
	}
}

// reject answers a command the session will not handle.
func (s *session) reject(c command, err error) {
	if c.kind == cmdAssign {
		s.hub.disp.assignFailed(c.agent.ID, s.id, nil)
	}
	s.fail(c, err)
}

// fail answers a command with an error.
func (s *session) fail(c command, err error) {
	if c.done != nil {
		answer(c.done, err)
	}
	if c.upload != nil {
		answer(c.upload.done, err)
	}
	if c.conn != nil {
		c.conn.Send(encode(parley.NewErrorFrame(c.req, err)))
	}
}

// work is the session's worker: it handles commands, sends in group
// commits, until the mailbox is empty or the session has ended.
func (s *session) work() {
	defer s.hub.wg.Done()
	for {
		batch, ok := s.box.next(maxSendBatch, func(first, c command) bool {
			return first.kind == cmdSend && c.kind == cmdSend
		})
		if !ok {
			return
		}
		if batch[0].kind == cmdSend {
			s.safelyAll(batch, s.storeSends)
		} else {
			s.safely(batch[0], s.handle)
		}
		if !s.rec.Open() {
			s.stop(parley.Errorf(parley.EConflict, "Session %s has ended.", s.id))
			return
		}
	}
}

// stop unregisters the session and refuses whatever is still queued, and
// every later command, with reason.
func (s *session) stop(reason error) {
	s.hub.forget(s)
	for _, c := range s.box.close(reason) {
		s.reject(c, reason)
	}
}

// safely runs one command and turns a panic into an internal error for that
// command, so one bad session never takes the server down.
func (s *session) safely(c command, fn func(command)) {
	s.safelyAll([]command{c}, func(batch []command) { fn(batch[0]) })
}

// safelyAll runs a batch of commands and, on a panic, answers every one of
// them with an internal error: a client retries with the same
// client_msg_id and gets the original acknowledgement if its message was
// stored.
func (s *session) safelyAll(batch []command, fn func([]command)) {
	defer func() {
		if r := recover(); r != nil {
			s.hub.log.Error("panic in session", "session", s.id, "panic", r, "stack", string(debug.Stack()))
			for _, c := range batch {
				s.fail(c, fmt.Errorf("panic in session %s: %v", s.id, r))
			}
		}
	}()
	if hook := s.hub.hooks.handle; hook != nil {
		hook(batch)
	}
	fn(batch)
}

func (s *session) handle(c command) {
	switch c.kind {
	case cmdSend:
		s.storeSends([]command{c})
	case cmdEnd:
		s.end(c)
	case cmdTyping:
		s.typing(c)
	case cmdRead:
		s.read(c)
	case cmdResume:
		s.resume(c)
	case cmdLeave:
		s.leave(c)
	case cmdAssign:
		s.assign(c)
	case cmdStart:
		s.announce(c)
	case cmdSignalFlush:
		s.flushSignal(c)
	case cmdTimer:
		s.onTimer(c)
	case cmdTransfer:
		s.transfer(c)
	case cmdSetEmail, cmdEmailTranscript:
		s.handleNotify(c)
	case cmdFile:
		s.storeFile(c)
	}
}

func (s *session) storeSends(batch []command) {
	// Authorisation against the current record happens here, in the
	// goroutine that owns it.
	ok := batch[:0:0]
	for _, c := range batch {
		if s.fenced(c) {
			continue
		}
		if err := s.mayWrite(c.from, c.whisper); err != nil {
			s.fail(c, err)
			continue
		}
		ok = append(ok, c)
	}
	if len(ok) == 0 {
		return
	}
	events := make([]parley.Event, len(ok))
	dups := make([]bool, len(ok))
	err := s.hub.update(func(tx *storage.Tx) error {
		for i, c := range ok {
			events[i] = parley.Event{
				Kind:        parley.KindMessage,
				From:        c.from,
				Text:        c.text,
				Whisper:     c.whisper,
				ClientMsgID: c.cmid,
			}
			dup, err := tx.Append(s.id, &events[i])
			if err != nil {
				return err
			}
			dups[i] = dup
		}
		return nil
	})
	if err != nil {
		s.hub.log.Error("store messages", "session", s.id, "err", err)
		for _, c := range ok {
			s.fail(c, err)
		}
		// Refuse what each sender sent after these until it resends them.
		s.fence(ok)
		return
	}
	for i, c := range ok {
		ev := events[i]
		if dups[i] && ev.From.ID != c.from.ID {
			s.fail(c, parley.Errorf(parley.EConflict, "client_msg_id %q is already used in this session.", c.cmid))
			continue
		}
		// Timers and counters first: once the sender holds the ack, the
		// clock its message started is running and metrics count it.
		if dups[i] {
			s.hub.count.duplicates.Add(1)
		} else {
			s.noteMessage(ev)
			s.hub.count.messages.Add(1)
		}
		c.conn.Send(encode(parley.SentFrame{
			Type: parley.FrameSent, Re: c.req, SessionID: s.id, ClientMsgID: ev.ClientMsgID,
			Seq: ev.Seq, ID: ev.ID, At: ev.At, Duplicate: dups[i],
		}))
		if dups[i] {
			continue
		}
		s.lastSeq = ev.Seq
		s.remember(ev)
		s.publish(ev, nil)
	}
}

// mayWrite checks that a participant may add to the session.
func (s *session) mayWrite(p parley.Participant, whisper bool) error {
	switch p.Role {
	case parley.RoleCustomer:
		if whisper {
			return parley.Errorf(parley.EBadRequest, "Customers cannot whisper.")
		}
		return nil
	case parley.RoleAgent:
		if !s.rec.HasAgent(p.ID) {
			return parley.Errorf(parley.EForbidden, "You are not in session %s; accept it first.", s.id)
		}
		return nil
	}
	return nil
}

// fanout delivers an event to everyone in the session who may see it. The
// connection that caused it gets the event with its request id; extra names
// agents outside the session who must see it too (one who just left).
func (s *session) fanout(ev parley.Event, reply Conn, req string, extra ...string) {
	if reply != nil {
		reply.Send(encode(parley.EventFrame{Type: parley.FrameEvent, Re: req, SessionID: s.id, Event: ev}))
	}
	s.publish(ev, reply, extra...)
}

// publishExcept delivers an event to everyone in the session but one
// agent.
func (s *session) publishExcept(ev parley.Event, agentID string) {
	frame := encode(parley.EventFrame{Type: parley.FrameEvent, SessionID: s.id, Event: ev})
	if !ev.Whisper {
		s.hub.reg.toCustomer(s.customerID, nil, frame)
	}
	for _, a := range s.rec.Agents {
		if a.ID != agentID {
			s.hub.reg.toAgent(a.ID, nil, frame)
		}
	}
}

// publish delivers an event to everyone in the session who may see it,
// and to the agents named in extra, except the connection skip. The frame
// is encoded once for all of them.
func (s *session) publish(ev parley.Event, skip Conn, extra ...string) {
	frame := encode(parley.EventFrame{Type: parley.FrameEvent, SessionID: s.id, Event: ev})
	if !ev.Whisper {
		s.hub.reg.toCustomer(s.customerID, skip, frame)
	}
	for _, a := range s.rec.Agents {
		s.hub.reg.toAgent(a.ID, skip, frame)
	}
	for _, id := range extra {
		s.hub.reg.toAgent(id, skip, frame)
	}
}

// commit stores a changed record together with one event and, once that
// is durable, makes both current.
func (s *session) commit(next *parley.SessionRecord, ev *parley.Event) error {
	return s.commitWith(next, ev, nil)
}

// commitWith is commit that also stores routing, if set, in the same
// transaction.
func (s *session) commitWith(next *parley.SessionRecord, ev *parley.Event, routing *parley.Routing) error {
	err := s.hub.update(func(tx *storage.Tx) error {
		if _, err := tx.Append(s.id, ev); err != nil {
			return err
		}
		if routing != nil {
			if err := tx.PutRouting(routing); err != nil {
				return err
			}
		}
		if next.State == parley.StateEnded {
			next.EndedAt = ev.At
		}
		return tx.PutSession(next)
	})
	if err != nil {
		s.hub.log.Error("store session change", "session", s.id, "kind", ev.Kind, "err", err)
		return err
	}
	if hook := s.hub.hooks.committed; hook != nil {
		hook(s, next)
	}
	s.rec = next
	s.lastSeq = ev.Seq
	s.remember(*ev)
	if !next.Open() {
		// Unregister before anyone hears of the end: a customer who
		// starts again right after the ended event must get a new
		// session, not this one, which stays registered until run returns.
		s.hub.forget(s)
	}
	return nil
}

func (s *session) end(c command) {
	if c.from.Role == parley.RoleAgent && !s.rec.HasAgent(c.from.ID) {
		s.fail(c, parley.Errorf(parley.EForbidden, "You are not in session %s.", s.id))
		return
	}
	wasQueued := s.rec.State == parley.StateQueued
	if c.ifQueued && (!wasQueued || s.hub.reg.customerConns(s.customerID) > 0 || s.waitsByMail()) {
		s.fail(c, errNotQueued)
		return
	}
	next, ev := endRecord(s.rec, c.from, c.reason)
	if err := s.commit(next, &ev); err != nil {
		s.fail(c, err)
		return
	}
	s.hub.count.ended.Add(1)
	// Release the agents before anyone hears of the end, so whatever they
	// do next already sees their slots free.
	agents := make([]string, len(next.Agents))
	for i, a := range next.Agents {
		agents[i] = a.ID
	}
	s.hub.disp.ended(s.id, wasQueued, agents)
	s.sessionEnded()
	s.fanout(ev, c.conn, c.req)
	if c.done != nil {
		answer(c.done, nil)
	}
}

// leave takes the agent out on its own command (reason left); see
// leaveAs.
func (s *session) leave(c command) {
	s.leaveAs(c.from, parley.LeftByAgent, false, c)
}

// assign adds an agent chosen by the dispatcher (routing or accept). It
// always reports back to the dispatcher, even if it panics: assigned once
// the join is stored and the agent was told, assignFailed (with a requeue
// when the session was waiting) otherwise. The join is stored with the
// assigned_at the dispatcher stamped, and assigned is pushed only once the
// agent's earlier routed sessions have pushed theirs, so an agent hears of
// its sessions in queue order.
func (s *session) assign(c command) {
	a := c.agent
	turn := s.hub.disp.handoffs.take(a.ID, s.id)
	defer turn.finish()
	wasQueued := s.rec.State == parley.StateQueued
	queuedAt := s.rec.QueuedAt.Time
	committed, reported := false, false
	report := func() {
		if reported {
			return
		}
		reported = true
		switch {
		case committed:
			s.hub.disp.assigned(a.ID, s.id)
		case wasQueued:
			s.hub.disp.assignFailed(a.ID, s.id, &requeueInfo{customerID: s.customerID, at: queuedAt})
		default:
			s.hub.disp.assignFailed(a.ID, s.id, nil)
		}
	}
	defer report()
	if s.rec.HasAgent(a.ID) {
		reported = true
		s.hub.disp.assignFailed(a.ID, s.id, nil)
		s.fail(c, parley.Errorf(parley.EConflict, "You are already in session %s.", s.id))
		return
	}
	next := cloneRecord(s.rec)
	next.Agents = append(next.Agents, a.Ref())
	if !slices.Contains(next.Participants, a.ID) {
		next.Participants = append(next.Participants, a.ID)
	}
	next.State = parley.StateActive
	ev := parley.Event{Kind: parley.KindAgentJoined, From: a.Participant()}
	if next.AssignedAt.IsZero() {
		at := s.hub.now()
		if turn != nil && !turn.at.IsZero() {
			at = turn.at
		}
		next.AssignedAt = parley.TimeOf(at)
	}
	if err := s.commitWith(next, &ev, c.routing); err != nil {
		// Requeue a waiting session before the agent hears of the
		// failure: an accept it sends on reading the error must find
		// the session waiting again, not still reserved.
		report()
		s.fail(c, err)
		return
	}
	committed = true
	s.hub.count.assignments.Add(1)
	if wasQueued {
		// It got the chat: it must answer within the reply timeout.
		s.awaitReply(a.ID, s.hub.now())
	}
	// The agent gets the whole picture, join included, before anything
	// else about the session; everyone else gets the join event.
	events := s.early
	if !s.earlyOK {
		var err error
		if events, _, err = s.events(storage.EventQuery{Limit: parley.MaxHistoryLimit}); err != nil {
			s.hub.log.Error("read events for assigned", "session", s.id, "err", err)
		}
	}
	// From here on the session has had an agent; history is read from
	// storage when needed.
	s.early, s.earlyOK = nil, false
	af := parley.AssignedFrame{
		Type:    parley.FrameAssigned,
		Session: s.hub.wire(s.rec, s.lastSeq),
		Events:  events,
		CustomerProfile: parley.CustomerProfile{
			ID: s.rec.Customer.ID, Name: s.rec.Customer.Name, Email: s.rec.Customer.Email,
			Visitor: s.rec.Customer.Visitor, Profile: s.rec.Customer.Profile,
		},
		CustomerContext: s.cachedContext(),
	}
	frame := encode(af)
	turn.waitTurn(s.hub.closing)
	if c.conn != nil {
		af.Re = c.req
		c.conn.Send(encode(af))
	}
	s.hub.reg.toAgent(a.ID, c.conn, frame)
	s.pushContext(a.ID, af.CustomerContext)
	s.publishExcept(ev, a.ID)
}

// resume sends the session, one page of the events after c.seq the viewer
// may see and a resumed frame saying how far the page reaches, as one
// unit, so no live event can slip between them.
func (s *session) resume(c command) {
	customer := c.from.Role == parley.RoleCustomer
	if !customer && !s.rec.WasParticipant(c.from.ID) {
		s.fail(c, parley.Errorf(parley.EForbidden, "You were never in session %s.", s.id))
		return
	}
	limit, err := resumeLimit(c.limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	events, more, err := s.eventsAfter(c.seq, limit, customer)
	if err != nil {
		s.fail(c, err)
		return
	}
	// A page also ends once its frames pass MaxResumePageBytes, so that
	// one reply stays small whatever the events hold.
	frames := make([][]byte, 0, len(events)+2)
	frames = append(frames, encode(parley.SessionFrame{Type: parley.FrameSession, Re: c.req, Session: s.hub.wire(s.rec, s.lastSeq)}))
	size := 0
	for i, ev := range events {
		f := encode(parley.EventFrame{Type: parley.FrameEvent, SessionID: s.id, Event: ev})
		if i > 0 && size+len(f) > parley.MaxResumePageBytes {
			events, more = events[:i], true
			break
		}
		size += len(f)
		frames = append(frames, f)
	}
	// through is the last seq the page covers: with more events to come,
	// the last one shown; otherwise the whole session so far, including
	// whispers after the last event a customer may see.
	through := s.lastSeq
	if more && len(events) > 0 {
		through = events[len(events)-1].Seq
	}
	frames = append(frames, encode(parley.ResumedFrame{
		Type: parley.FrameResumed, Re: c.req, SessionID: s.id, ThroughSeq: through, More: more,
	}))
	c.conn.Send(frames...)
	if c.done != nil {
		answer(c.done, nil)
	}
}

// resumeLimit checks a resume's page size; 0 takes the default.
func resumeLimit(n int) (int, error) {
	switch {
	case n == 0:
		return parley.DefaultResumeLimit, nil
	case n < 0 || n > parley.MaxResumeLimit:
		return 0, parley.Errorf(parley.EBadRequest, "limit must be between 1 and %d.", parley.MaxResumeLimit)
	}
	return n, nil
}

// eventsAfter reads up to limit events with seq > after, oldest first, and
// whether more follow; noWhispers skips (and does not count) whispers.
func (s *session) eventsAfter(after uint64, limit int, noWhispers bool) (events []parley.Event, more bool, err error) {
	err = s.hub.db.View(func(tx *storage.Tx) error {
		if after > 0 {
			events, more, err = tx.Events(s.id, storage.EventQuery{AfterSeq: after, Limit: limit, NoWhispers: noWhispers})
			return err
		}
		// The storage query reads forward only from after_seq 1 (0 means
		// "the latest"): take seq 1 on its own, then the rest.
		if events, _, err = tx.Events(s.id, storage.EventQuery{BeforeSeq: 2, Limit: 1, NoWhispers: noWhispers}); err != nil {
			return err
		}
		if limit == len(events) {
			var next []parley.Event
			next, _, err = tx.Events(s.id, storage.EventQuery{AfterSeq: 1, Limit: 1, NoWhispers: noWhispers})
			more = len(next) > 0
			return err
		}
		var rest []parley.Event
		rest, more, err = tx.Events(s.id, storage.EventQuery{AfterSeq: 1, Limit: limit - len(events), NoWhispers: noWhispers})
		events = append(events, rest...)
		return err
	})
	return events, more, err
}

func (s *session) events(q storage.EventQuery) (events []parley.Event, more bool, err error) {
	err = s.hub.db.View(func(tx *storage.Tx) error {
		events, more, err = tx.Events(s.id, q)
		return err
	})
	return events, more, err
}

// cloneRecord copies a record deeply enough to change its agents.
func cloneRecord(r *parley.SessionRecord) *parley.SessionRecord {
	c := *r
	c.Agents = slices.Clone(r.Agents)
	c.Participants = slices.Clone(r.Participants)
	c.Excluded = slices.Clone(r.Excluded)
	return &c
}
