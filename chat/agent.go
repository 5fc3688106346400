package chat

import (
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Agent returns an agent's account, for authentication. Disabled agents
// are unauthorized.
func (h *Hub) Agent(id string) (*parley.Agent, error) {
	var a *parley.Agent
	err := h.db.View(func(tx *storage.Tx) (err error) { a, err = tx.Agent(id); return })
	if parley.ErrorCode(err) == parley.ENotFound {
		return nil, parley.Errorf(parley.EUnauthorized, "Unknown agent.")
	} else if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, parley.Errorf(parley.EUnauthorized, "Agent account %s is disabled.", a.Email)
	}
	return a, nil
}

// AttachAgent registers c for the agent's pushes, counts the agent as
// connected and sends its welcome on c. gen is the token generation of the
// token the agent signed in with (auth.AgentToken.Gen); a revoked one is
// unauthorized. req is the hello's request id.
//
// The connection is registered in the same dispatcher step that takes the
// snapshot the welcome shows, so a chat routed to the agent meanwhile is in
// the welcome or reaches c as an assigned push; pushes are held back until
// the welcome has been sent, so the welcome comes first.
func (h *Hub) AttachAgent(c Conn, agentID string, gen uint64, req string) (*Client, error) {
	a, err := h.Agent(agentID)
	if err != nil {
		return nil, err
	}
	g := newGate(c)
	snap, err := h.disp.attach(a, gen, g)
	if err != nil {
		h.reg.removeAgent(a.ID, g)
		return nil, err
	}
	if hook := h.disp.hooks.attached; hook != nil {
		hook(a.ID)
	}
	cl := &Client{hub: h, conn: g, agent: a, me: a.Participant()}
	recs := make([]*parley.SessionRecord, 0, len(snap.sessions))
	seqs := make([]uint64, 0, len(snap.sessions))
	err = h.db.View(func(tx *storage.Tx) error {
		for _, id := range snap.sessions {
			r, err := tx.Session(id)
			if err != nil {
				return err
			}
			last, err := tx.LastSeq(id)
			if err != nil {
				return err
			}
			recs, seqs = append(recs, r), append(seqs, last)
		}
		return nil
	})
	if err != nil {
		cl.Detach()
		return nil, err
	}
	sessions := make([]parley.Session, len(recs))
	for i, r := range recs {
		sessions[i] = h.agentWire(r, seqs[i])
	}
	g.open(encode(parley.AgentWelcome{
		Type: parley.FrameWelcome, Re: req, Agent: snap.info, Sessions: sessions, Queue: snap.queue, Limits: h.limits(),
	}))
	h.pushCachedContexts(g, sessions)
	return cl, nil
}

func (cl *Client) handleAgent(in *parley.Inbound) error {
	h := cl.hub
	switch in.Type {
	case parley.FrameStatus:
		switch in.Status {
		case parley.StatusAvailable, parley.StatusBreak, parley.StatusOffline:
		default:
			return parley.Errorf(parley.EBadRequest, "status must be available, break or offline.")
		}
		h.disp.setStatus(cl.agent.ID, in.Status, cl.conn, in.Req)
	case parley.FrameAccept:
		if in.SessionID != "" {
			if err := h.acceptable(in.SessionID); err != nil {
				return err
			}
		}
		h.disp.accept(cl.agent.ID, in.SessionID, cl.conn, in.Req)
	case parley.FrameSend:
		if err := h.validateSend(in); err != nil {
			return err
		}
		return cl.toSession(in, command{kind: cmdSend, text: in.Text, cmid: in.ClientMsgID, whisper: in.Whisper})
	case parley.FrameTyping:
		return cl.toSession(in, command{kind: cmdTyping, active: in.Active == nil || *in.Active})
	case parley.FrameLeave:
		return cl.toSession(in, command{kind: cmdLeave})
	case parley.FrameEnd:
		return cl.toSession(in, command{kind: cmdEnd, reason: parley.EndAgent})
	case parley.FrameResume:
		return cl.toSession(in, command{kind: cmdResume, seq: in.AfterSeq, limit: in.Limit})
	case parley.FrameHistory:
		return cl.history(in)
	case parley.FrameQueueList:
		return cl.queueList(in)
	case parley.FrameTransfer:
		return cl.transferCommand(in)
	case parley.FrameAgents:
		return cl.agentsList(in)
	default:
		return unknownType(in.Type)
	}
	return nil
}

// queueList answers queue_list with the first limit waiting sessions,
// next first.
func (cl *Client) queueList(in *parley.Inbound) error {
	limit := in.Limit
	switch {
	case limit == 0:
		limit = parley.DefaultQueueListLimit
	case limit < 0 || limit > parley.MaxQueueListLimit:
		return parley.Errorf(parley.EBadRequest, "limit must be between 1 and %d.", parley.MaxQueueListLimit)
	}
	h := cl.hub
	order, waiting := h.disp.queueHead(cl.agent.ID, in.Queue, limit)
	out := parley.QueueListFrame{Type: parley.FrameQueueList, Re: in.Req, Waiting: waiting, Sessions: []parley.Session{}}
	err := h.db.View(func(tx *storage.Tx) error {
		for _, id := range order {
			r, err := tx.Session(id)
			if parley.ErrorCode(err) == parley.ENotFound {
				continue // purged or erased meanwhile
			} else if err != nil {
				return err
			}
			if r.State != parley.StateQueued {
				continue // assigned meanwhile
			}
			last, err := tx.LastSeq(id)
			if err != nil {
				return err
			}
			out.Sessions = append(out.Sessions, h.agentWire(r, last))
		}
		return nil
	})
	if err != nil {
		return err
	}
	cl.conn.Send(encode(out))
	return nil
}

// CustomerSessionsForAgent lists a customer's sessions of the customer
// window, open and ended, newest first, as agents see them: any signed-in
// agent may list them (the customer pane shows them), and read their
// events (see sessionFor).
func (h *Hub) CustomerSessionsForAgent(customerID string) ([]parley.Session, error) {
	return h.CustomerSessions(customerID)
}

// toSession sends an agent command to the open session named in the frame.
func (cl *Client) toSession(in *parley.Inbound, c command) error {
	s, err := cl.hub.live(cl.Viewer(), in.SessionID)
	if err != nil {
		return err
	}
	c.conn, c.req, c.from = cl.conn, in.Req, cl.me
	if c.kind == cmdResume {
		postAndWait(s, c)
		return nil
	}
	s.post(c)
	return nil
}

// postAndWait posts a command whose answer can be large (a resume page)
// and waits until the session has queued it on the connection, so a
// client pipelining such commands gets one at a time, each counted
// against its connection's outbound budget before the next is read.
// Errors reach the client through the command's own answer.
func postAndWait(s *session, c command) {
	c.done = make(chan error, 1)
	s.post(c)
	<-c.done
}

// acceptable explains why a session named in accept cannot be taken: it
// does not exist, or it is no longer open. Open sessions pass.
func (h *Hub) acceptable(id string) error {
	if _, err := parley.ParseID(id); err != nil {
		return err
	}
	if h.session(id) != nil {
		return nil
	}
	var open bool
	err := h.db.View(func(tx *storage.Tx) error {
		r, err := tx.Session(id)
		if err == nil {
			open = r.Open()
		}
		return err
	})
	if parley.ErrorCode(err) == parley.ENotFound {
		return parley.Errorf(parley.ENotFound, "Session %s not found.", id)
	} else if err != nil {
		return err
	}
	if !open {
		return parley.Errorf(parley.EConflict, "Session %s has ended.", id)
	}
	return nil
}
