package chat

import (
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// cmdStart is handled by a new session's goroutine: it announces the
// session before anything else can happen to it.
const cmdStart = 100

// AttachCustomer registers c for the customer's events and sends the
// customer's welcome on c. token, if set, is a server-issued visitor token
// to include in the welcome. req is the hello's request id.
//
// c is registered before the open session is read, and its pushes are held
// back until the welcome has been sent, so no event is lost between the
// two and the welcome comes first.
func (h *Hub) AttachCustomer(c Conn, cust parley.Customer, req, token string) (*Client, error) {
	g := newGate(c)
	h.reg.addCustomer(cust.ID, g)
	h.customerBack(cust.ID)
	var open *parley.Session
	var rec *parley.SessionRecord
	var last uint64
	err := h.db.View(func(tx *storage.Tx) error {
		var err error
		if rec, err = tx.OpenSessionOf(cust.ID); err != nil || rec == nil {
			return err
		}
		last, err = tx.LastSeq(rec.ID)
		return err
	})
	if err != nil {
		h.reg.removeCustomer(cust.ID, g)
		return nil, err
	}
	if hook := h.disp.hooks.customerRead; hook != nil {
		hook(cust.ID)
	}
	// A session stored but not yet registered (its start is under way)
	// cannot take commands yet: the welcome leaves it out, and the
	// customer hears of it from its pushes, or gets it by starting.
	if rec != nil && h.session(rec.ID) != nil {
		w := h.wire(rec, last)
		open = &w
	}
	g.open(encode(parley.CustomerWelcome{
		Type: parley.FrameWelcome, Re: req, Customer: cust, OpenSession: open, Token: token, Limits: h.limits(),
	}))
	cl := &Client{hub: h, conn: g, customer: &cust}
	cl.me = parley.Participant{Role: parley.RoleCustomer, ID: cust.ID, Name: cust.Name}
	return cl, nil
}

func (cl *Client) handleCustomer(in *parley.Inbound) error {
	h := cl.hub
	switch in.Type {
	case parley.FrameStart:
		return cl.start(in.Req, in.Queue)
	case parley.FrameResume:
		s, err := h.live(cl.Viewer(), in.SessionID)
		if err != nil {
			return err
		}
		postAndWait(s, command{kind: cmdResume, conn: cl.conn, req: in.Req, from: cl.me, seq: in.AfterSeq, limit: in.Limit})
	case parley.FrameSend:
		if in.Whisper {
			return parley.Errorf(parley.EBadRequest, "Customers cannot whisper.")
		}
		if err := h.validateSend(in); err != nil {
			return err
		}
		s, err := cl.open()
		if err != nil {
			return err
		}
		s.post(command{kind: cmdSend, conn: cl.conn, req: in.Req, from: cl.me, text: in.Text, cmid: in.ClientMsgID})
	case parley.FrameTyping:
		s, err := cl.open()
		if err != nil {
			return err
		}
		s.post(command{kind: cmdTyping, conn: cl.conn, req: in.Req, from: cl.me, active: in.Active == nil || *in.Active})
	case parley.FrameRead:
		s, err := cl.open()
		if err != nil {
			return err
		}
		s.post(command{kind: cmdRead, conn: cl.conn, req: in.Req, from: cl.me, seq: in.Seq})
	case parley.FrameEnd:
		s, err := cl.open()
		if err != nil {
			return err
		}
		s.post(command{kind: cmdEnd, conn: cl.conn, req: in.Req, from: cl.me, reason: parley.EndCustomer})
	case parley.FrameHistory:
		return cl.history(in)
	case parley.FrameSetEmail, parley.FrameEmailTranscript:
		return cl.notifyCommand(in)
	case parley.FrameSessions:
		list, more, err := h.CustomerSessionsPage(cl.customer.ID, in.Before, in.Limit)
		if err != nil {
			return err
		}
		cl.conn.Send(encode(parley.SessionsFrame{Type: parley.FrameSessions, Re: in.Req, Sessions: list, More: more}))
	default:
		return unknownType(in.Type)
	}
	return nil
}

func (cl *Client) history(in *parley.Inbound) error {
	if in.SessionID == "" {
		return parley.Errorf(parley.EBadRequest, "session_id is required.")
	}
	page, err := cl.hub.History(cl.Viewer(), in.SessionID, in.BeforeSeq, in.Limit)
	if err != nil {
		return err
	}
	page.Re = in.Req
	cl.conn.Send(encode(page))
	return nil
}

// open returns the customer's open session.
func (cl *Client) open() (*session, error) {
	if s := cl.hub.openSessionOf(cl.customer.ID); s != nil {
		return s, nil
	}
	return nil, parley.Errorf(parley.EConflict, "You have no open session; send start first.")
}

// start opens a new queued session in the named queue (the default queue
// if empty), or answers with the open one. An unknown queue is not_found.
// The queue's greeting, if any, is stored as a system message right after
// the queued event.
func (cl *Client) start(req, queueName string) error {
	queueName = parley.QueueOrDefault(queueName)
	h := cl.hub
	if s := h.openSessionOf(cl.customer.ID); s != nil {
		// A session stays registered for a moment after its end is
		// stored: one stored as ended is gone, and the customer, who may
		// already have read so, gets a new session.
		if answered, err := cl.replyOpen(s.id, req); answered || err != nil {
			return err
		}
	}
	now := parley.TimeOf(h.now())
	rec := &parley.SessionRecord{
		ID:        parley.NewID(now.Time),
		State:     parley.StateQueued,
		Customer:  *cl.customer,
		Agents:    []parley.AgentRef{},
		CreatedAt: now,
		QueuedAt:  now,
		Queue:     queueName,
	}
	ev := parley.Event{Kind: parley.KindQueued, From: cl.me}
	lastSeq := uint64(0)
	err := h.update(func(tx *storage.Tx) error {
		q, err := tx.Queue(queueName)
		if err != nil {
			return err
		}
		if err := tx.PutSession(rec); err != nil {
			return err
		}
		if _, err := tx.Append(rec.ID, &ev); err != nil {
			return err
		}
		lastSeq = ev.Seq
		if q.Greeting == "" {
			return nil
		}
		greeting := parley.Event{Kind: parley.KindMessage, From: parley.Participant{Role: parley.RoleSystem, Name: q.Name}, Text: q.Greeting}
		if _, err := tx.Append(rec.ID, &greeting); err != nil {
			return err
		}
		lastSeq = greeting.Seq
		return nil
	})
	if parley.ErrorCode(err) == parley.EConflict {
		// Another connection of this customer started one first.
		var open *parley.SessionRecord
		if err := h.db.View(func(tx *storage.Tx) (err error) { open, err = tx.OpenSessionOf(cl.customer.ID); return }); err != nil {
			return err
		}
		if open != nil {
			if answered, rerr := cl.replyOpen(open.ID, req); answered || rerr != nil {
				return rerr
			}
		}
		return err
	} else if err != nil {
		return err
	}
	if hook := h.hooks.startStored; hook != nil {
		hook(rec.ID)
	}
	s, err := h.spawn(rec, lastSeq, &command{kind: cmdStart, conn: cl.conn, req: req, event: ev})
	if err != nil {
		// The session is stored and queued; the next start of the server
		// recovers it.
		return err
	}
	if hook := h.hooks.spawned; hook != nil {
		hook(s)
	}
	return nil
}

// replyOpen answers start with the customer's existing open session. It
// answers nothing and reports false if the session is stored as ended.
func (cl *Client) replyOpen(id, req string) (answered bool, err error) {
	var rec *parley.SessionRecord
	var last uint64
	err = cl.hub.db.View(func(tx *storage.Tx) error {
		var err error
		if rec, err = tx.Session(id); err != nil {
			return err
		}
		last, err = tx.LastSeq(id)
		return err
	})
	if err != nil {
		return false, err
	}
	if !rec.Open() {
		return false, nil
	}
	cl.conn.Send(encode(parley.SessionFrame{Type: parley.FrameSession, Re: req, Session: cl.hub.wire(rec, last)}))
	return true, nil
}

// announce is a new session's first act: queue it, answer the start with
// the session, and deliver its queued event, before any assignment.
func (s *session) announce(c command) {
	if s.rec.State == parley.StateQueued {
		s.hub.disp.admit(s.id, s.customerID, s.rec.QueuedAt.Time, s.rec.Session(s.lastSeq), c.conn, c.req)
	} else {
		c.conn.Send(encode(parley.SessionFrame{Type: parley.FrameSession, Re: c.req, Session: s.hub.wire(s.rec, s.lastSeq)}))
	}
	events := []parley.Event{c.event}
	if s.lastSeq > c.event.Seq {
		// The queue's greeting, stored with the start.
		more, _, err := s.events(storage.EventQuery{AfterSeq: c.event.Seq, Limit: parley.MaxHistoryLimit})
		if err != nil {
			s.hub.log.Error("read the greeting", "session", s.id, "err", err)
		}
		events = append(events, more...)
	}
	if events[len(events)-1].Seq == s.lastSeq {
		// A brand-new session: these are all its events.
		s.early, s.earlyOK = events, true
	}
	for _, ev := range events {
		s.publish(ev, nil)
	}
}
