package chat

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/queue"
	"github.com/parley-chat/parley/storage"
)

// This file holds the agent commands transfer and agents (issue 10).

// transferCommand checks a transfer frame and hands it to the session.
func (cl *Client) transferCommand(in *parley.Inbound) error {
	if in.ToAgentID != "" {
		if _, err := parley.ParseID(in.ToAgentID); err != nil {
			return parley.Errorf(parley.ENotFound, "Agent %.40q not found.", in.ToAgentID)
		}
		if in.ToAgentID == cl.agent.ID {
			return parley.Errorf(parley.EBadRequest, "You cannot transfer a chat to yourself.")
		}
	}
	note := strings.TrimSpace(in.Note)
	if max := cl.hub.cfg.MaxMessageChars; len(note) > max && utf8.RuneCountInString(note) > max {
		return parley.Errorf(parley.ETooLarge, "note is longer than %d characters.", max)
	}
	return cl.toSession(in, command{kind: cmdTransfer, target: in.ToAgentID, text: note})
}

// reserveTransfer takes a slot of agent to for a session transferred to
// it and returns its account.
func (d *dispatcher) reserveTransfer(to, sessionID string) (*parley.Agent, error) {
	var (
		a   *parley.Agent
		err error
	)
	if cerr := d.call(func() {
		if a = d.accounts[to]; a == nil {
			err = parley.Errorf(parley.ENotFound, "Agent %s not found.", to)
			return
		}
		err = d.m.ReserveTransfer(to, sessionID)
	}); cerr != nil {
		return nil, cerr
	}
	return a, err
}

// transfer hands the session from the agent who sent c to the agent
// c.target, or back to the queue at its original place. The note, if
// any, is stored as a whisper; the customer sees a transferred event, the
// transferring agent leaves (reason transferred), and the receiving agent
// joins and gets assigned. All of it is stored in one commit. The answer
// to c is the transferred event.
func (s *session) transfer(c command) {
	from := c.from
	if !s.rec.HasAgent(from.ID) {
		s.fail(c, parley.Errorf(parley.EForbidden, "You are not in session %s.", s.id))
		return
	}
	switch {
	case c.target != "" && s.rec.HasAgent(c.target):
		s.fail(c, parley.Errorf(parley.EConflict, "That agent is already in session %s.", s.id))
		return
	case c.target == "" && len(s.rec.Agents) > 1:
		s.fail(c, parley.Errorf(parley.EConflict, "Other agents are still in session %s; leave it instead.", s.id))
		return
	}
	var to *parley.Agent
	if c.target != "" {
		var err error
		if to, err = s.hub.disp.reserveTransfer(c.target, s.id); err != nil {
			s.fail(c, err)
			return
		}
	}
	next := cloneRecord(s.rec)
	next.Agents = slices.DeleteFunc(next.Agents, func(a parley.AgentRef) bool { return a.ID == from.ID })
	var evs []*parley.Event
	if c.text != "" {
		evs = append(evs, &parley.Event{Kind: parley.KindMessage, From: from, Text: c.text, Whisper: true})
	}
	tr := &parley.Event{Kind: parley.KindTransferred, From: from, To: parley.QueueTarget()}
	left := &parley.Event{Kind: parley.KindAgentLeft, From: from, Reason: parley.LeftTransferred}
	evs = append(evs, tr, left)
	var joined *parley.Event
	if to != nil {
		tr.To = parley.AgentTarget(to.Participant())
		next.Agents = append(next.Agents, to.Ref())
		if !slices.Contains(next.Participants, to.ID) {
			next.Participants = append(next.Participants, to.ID)
		}
		joined = &parley.Event{Kind: parley.KindAgentJoined, From: to.Participant()}
		evs = append(evs, joined)
	} else {
		// Back to the queue, and not straight back to this agent.
		next.State = parley.StateQueued
		if !slices.Contains(next.Excluded, from.ID) {
			next.Excluded = append(next.Excluded, from.ID)
		}
	}
	if err := s.commitAll(next, evs); err != nil {
		if to != nil {
			s.hub.disp.post(func() { s.hub.disp.exec(s.hub.disp.m.Unhold(to.ID, s.id)) })
		}
		s.fail(c, err)
		return
	}
	delete(s.tm.unanswered, from.ID)
	if to != nil {
		s.hub.disp.left(from.ID, s.id, s.customerID, false, next.QueuedAt.Time)
		s.hub.count.assignments.Add(1)
		s.awaitReply(to.ID, s.hub.now())
	} else {
		s.requeued()
		s.hub.disp.leftExcluding(from.ID, s.id, s.customerID, true, next.QueuedAt.Time, true)
	}
	except := ""
	if to != nil {
		except = to.ID
	}
	for _, ev := range evs {
		if ev == tr {
			s.deliver(*ev, c.conn, c.req, except, from.ID)
		} else {
			s.deliver(*ev, nil, "", except, from.ID)
		}
	}
	if to != nil {
		s.pushAssigned(to.ID)
	}
}

// commitAll stores a changed record together with events, in one commit,
// and once that is durable makes them current.
func (s *session) commitAll(next *parley.SessionRecord, evs []*parley.Event) error {
	err := s.hub.update(func(tx *storage.Tx) error {
		for _, ev := range evs {
			if _, err := tx.Append(s.id, ev); err != nil {
				return err
			}
		}
		if next.State == parley.StateEnded {
			next.EndedAt = evs[len(evs)-1].At
		}
		return tx.PutSession(next)
	})
	if err != nil {
		s.hub.log.Error("store session change", "session", s.id, "err", err)
		return err
	}
	s.rec = next
	for _, ev := range evs {
		s.lastSeq = ev.Seq
		s.remember(*ev)
	}
	return nil
}

// deliver sends an event to everyone in the session who may see it but
// the agent except, and to the agents in extra; reply gets it with req.
func (s *session) deliver(ev parley.Event, reply Conn, req, except string, extra ...string) {
	if reply != nil {
		reply.Send(encode(parley.EventFrame{Type: parley.FrameEvent, Re: req, SessionID: s.id, Event: ev}))
	}
	frame := encode(parley.EventFrame{Type: parley.FrameEvent, SessionID: s.id, Event: ev})
	if !ev.Whisper {
		s.hub.reg.toCustomer(s.customerID, reply, frame)
	}
	for _, a := range s.rec.Agents {
		if a.ID != except && !slices.Contains(extra, a.ID) {
			s.hub.reg.toAgent(a.ID, reply, frame)
		}
	}
	for _, id := range extra {
		if id != except {
			s.hub.reg.toAgent(id, reply, frame)
		}
	}
}

// pushAssigned tells every connection of an agent that joined the session
// by transfer that it has it, with its latest events.
func (s *session) pushAssigned(agentID string) {
	events, _, err := s.events(storage.EventQuery{Limit: parley.MaxHistoryLimit})
	if err != nil {
		s.hub.log.Error("read events for assigned", "session", s.id, "err", err)
	}
	ctx := s.cachedContext()
	s.hub.reg.toAgent(agentID, nil, encode(parley.AssignedFrame{
		Type:    parley.FrameAssigned,
		Session: s.hub.wire(s.rec, s.lastSeq),
		Events:  events,
		CustomerProfile: parley.CustomerProfile{
			ID: s.rec.Customer.ID, Name: s.rec.Customer.Name, Email: s.rec.Customer.Email,
			Visitor: s.rec.Customer.Visitor, Profile: s.rec.Customer.Profile,
		},
		CustomerContext: ctx,
	}))
	s.pushContext(agentID, ctx)
}

// agentsList answers the agents command with every enabled agent's
// status and load, by name.
func (cl *Client) agentsList(in *parley.Inbound) error {
	d := cl.hub.disp
	var list []parley.AgentSummary
	err := d.call(func() {
		d.m.Agents(func(id string, v queue.AgentView, disabled bool) {
			a := d.accounts[id]
			if disabled || a == nil || a.Disabled {
				return
			}
			list = append(list, parley.AgentSummary{ID: id, Name: a.Name, Status: v.Status, Active: v.Active, Capacity: v.Capacity})
		})
	})
	if err != nil {
		return err
	}
	slices.SortFunc(list, func(a, b parley.AgentSummary) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	if list == nil {
		list = []parley.AgentSummary{}
	}
	cl.conn.Send(encode(parley.AgentsFrame{Type: parley.FrameAgents, Re: in.Req, Agents: list}))
	return nil
}
