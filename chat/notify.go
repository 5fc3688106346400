package chat

import (
	"encoding/json"
	"strings"

	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// This file ties the hub to package notify: webhook deliveries enqueued
// in the transaction of the events they carry, the customer commands
// set_email and email_transcript, the "leave a message" notification and
// the customer context pushed to agents. Config.Notify nil turns all of
// it off.

// Session commands of this file.
const (
	cmdSetEmail        = 110
	cmdEmailTranscript = 111
)

// ConnectorPrefix starts the customer id of every customer a connector
// brings in: "connector:<key name>:<the connector's id>".
const ConnectorPrefix = "connector:"

// notifying wraps an update so that the webhook deliveries of the events
// it stores are enqueued in the same transaction.
func (h *Hub) notifying(fn func(tx *storage.Tx) error) func(tx *storage.Tx) error {
	n := h.cfg.Notify
	if n == nil {
		return fn
	}
	return func(tx *storage.Tx) error {
		from := tx.AppendedCount()
		if err := fn(tx); err != nil {
			return err
		}
		_, err := n.Appended(tx, from)
		return err
	}
}

// notified wakes the deliverer after a committed update.
func (h *Hub) notified(err error) {
	if err == nil {
		h.cfg.Notify.Kick()
	}
}

// notifyCommand handles set_email and email_transcript.
func (cl *Client) notifyCommand(in *parley.Inbound) error {
	h := cl.hub
	switch in.Type {
	case parley.FrameSetEmail:
		email := strings.TrimSpace(in.Email)
		if err := notify.ValidAddress(email); err != nil {
			return err
		}
		s, err := cl.open()
		if err != nil {
			return err
		}
		s.post(command{kind: cmdSetEmail, conn: cl.conn, req: in.Req, from: cl.me, text: email})
		return nil
	case parley.FrameEmailTranscript:
		if !h.cfg.Notify.MailEnabled() {
			return parley.Errorf(parley.EUnavailable, "E-mail is not configured on this server.")
		}
		if len(in.ClientMsgID) > parley.MaxClientMsgIDBytes {
			return parley.Errorf(parley.EBadRequest, "client_msg_id is longer than %d bytes.", parley.MaxClientMsgIDBytes)
		}
		to := strings.TrimSpace(in.Email)
		if to != "" {
			if err := notify.ValidAddress(to); err != nil {
				return err
			}
		}
		id := in.SessionID
		if id == "" {
			s, err := cl.open()
			if err != nil {
				return parley.Errorf(parley.EConflict, "You have no open session; name one with session_id.")
			}
			id = s.id
		}
		// An open session answers in its own goroutine, after any
		// set_email sent before; an ended one cannot change any more.
		if s := h.session(id); s != nil && s.customerID == cl.customer.ID {
			s.post(command{kind: cmdEmailTranscript, conn: cl.conn, req: in.Req, from: cl.me, cmid: in.ClientMsgID, text: to})
			return nil
		}
		var rec *parley.SessionRecord
		err := h.db.View(func(tx *storage.Tx) (err error) { rec, err = h.sessionFor(tx, cl.Viewer(), id); return })
		if err != nil {
			return err
		}
		f, err := h.mailTranscript(rec, in.ClientMsgID, to)
		if err != nil {
			return err
		}
		f.Re = in.Req
		cl.conn.Send(encode(f))
		return nil
	}
	return unknownType(in.Type)
}

// mailTranscript queues the transcript of rec for the address to, or the
// session's address when to is empty. cmid, if set, makes the request
// idempotent.
func (h *Hub) mailTranscript(rec *parley.SessionRecord, cmid, to string) (parley.EmailTranscriptFrame, error) {
	if to == "" {
		to = rec.Customer.Email
	}
	if to == "" {
		return parley.EmailTranscriptFrame{}, parley.Errorf(parley.EBadRequest, "No e-mail address for this session; send set_email first.")
	}
	key := "transcript:" + rec.ID + ":"
	if cmid != "" {
		key += "c:" + cmid
	} else {
		key += "n:" + parley.NewID(h.now())
	}
	ok, undo := h.cfg.Notify.AllowTranscript(rec.ID)
	if !ok {
		return parley.EmailTranscriptFrame{}, parley.Errorf(parley.ERateLimited,
			"At most %d transcript mails per conversation.", notify.MaxTranscriptMails)
	}
	var job *storage.Job
	var dup bool
	err := h.update(func(tx *storage.Tx) (err error) {
		job, dup, err = h.cfg.Notify.EnqueueTranscript(tx, rec.ID, to, key)
		return err
	})
	if err != nil || dup {
		undo()
	}
	if err != nil {
		return parley.EmailTranscriptFrame{}, err
	}
	return parley.EmailTranscriptFrame{
		Type: parley.FrameEmailTranscript, SessionID: rec.ID, Queued: true, ID: job.ID, Duplicate: dup,
	}, nil
}

// handleNotify runs this file's session commands in the session's
// goroutine.
func (s *session) handleNotify(c command) {
	switch c.kind {
	case cmdSetEmail:
		s.setEmail(c)
	case cmdEmailTranscript:
		f, err := s.hub.mailTranscript(s.rec, c.cmid, c.text)
		if err != nil {
			s.fail(c, err)
			return
		}
		f.Re = c.req
		c.conn.Send(encode(f))
	}
}

// setEmail stores the customer's address in the session, answers with the
// session and pushes it to the session's agents. A queued session while no
// agent is available is a message left for the team: with a customer
// message and an address, the team is told by mail (once per session).
func (s *session) setEmail(c command) {
	next := cloneRecord(s.rec)
	next.Customer.Email = c.text
	n := s.hub.cfg.Notify
	leftMessage := false
	if next.State == parley.StateQueued && n.MailEnabled() {
		_, _, avail := s.hub.disp.position(s.id)
		leftMessage = avail == 0
	}
	err := s.hub.update(func(tx *storage.Tx) error {
		if err := tx.PutSession(next); err != nil {
			return err
		}
		if leftMessage {
			_, err := n.EnqueueLeftMessage(tx, s.id)
			return err
		}
		return nil
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.rec = next
	c.conn.Send(encode(parley.SessionFrame{Type: parley.FrameSession, Re: c.req, Session: s.hub.wire(next, s.lastSeq)}))
	f := encode(parley.SessionFrame{Type: parley.FrameSession, Session: s.hub.agentWire(next, s.lastSeq)})
	for _, a := range next.Agents {
		s.hub.reg.toAgent(a.ID, nil, f)
	}
}

// waitsByMail reports whether a queued session stays in the queue without
// its customer connected: a connector's customer never connects, and one
// who gave an address can be answered by mail.
func (s *session) waitsByMail() bool {
	if strings.HasPrefix(s.customerID, ConnectorPrefix) {
		return true
	}
	return s.rec.Customer.Email != "" && s.hub.cfg.Notify.MailEnabled()
}

// cachedContext returns the customer's context when the context service
// answered recently, for the assigned frame; nil otherwise.
func (s *session) cachedContext() json.RawMessage {
	n := s.hub.cfg.Notify
	if !n.ContextEnabled() {
		return nil
	}
	if data, ok := n.CachedContext(s.rec.Customer.ID); ok {
		return data
	}
	return nil
}

// pushContext fetches the customer's context for the agent who just got
// the session, unless the assigned frame carried it from the cache, and
// pushes it in a customer_context frame from a goroutine of its own, so a
// slow service never delays the assignment.
func (s *session) pushContext(agentID string, sent json.RawMessage) {
	n := s.hub.cfg.Notify
	if !n.ContextEnabled() || sent != nil {
		return
	}
	h, sid, cust := s.hub, s.id, s.rec.Customer.Ref()
	go func() {
		data, err := n.FetchContext(n.Context(), cust, sid)
		if err != nil {
			h.log.Warn("customer context", "session", sid, "err", err)
			return
		}
		h.reg.toAgent(agentID, nil, contextFrame(sid, cust.ID, data))
	}()
}

// pushCachedContexts sends, after an agent's welcome, the cached context
// of each of its sessions.
func (h *Hub) pushCachedContexts(c Conn, sessions []parley.Session) {
	n := h.cfg.Notify
	if !n.ContextEnabled() {
		return
	}
	for _, s := range sessions {
		if data, ok := n.CachedContext(s.Customer.ID); ok {
			c.Send(contextFrame(s.ID, s.Customer.ID, data))
		}
	}
}

func contextFrame(sessionID, customerID string, data []byte) []byte {
	return encode(parley.CustomerContextFrame{
		Type: parley.FrameCustomerContext, SessionID: sessionID, CustomerID: customerID, Context: data,
	})
}

// OutboxCounts counts the outbox's jobs by kind (mail, webhook), then
// state (pending, sent, dead), for metrics.
func (h *Hub) OutboxCounts() (map[string]map[string]int, error) {
	var out map[string]map[string]int
	err := h.db.View(func(tx *storage.Tx) (err error) { out, err = tx.JobCounts(); return })
	return out, err
}
