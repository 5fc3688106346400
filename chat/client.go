package chat

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Client is one authenticated connection: a customer's or an agent's. The
// transport calls Handle for every frame after hello, from one goroutine,
// and Detach once when the connection ends.
type Client struct {
	hub      *Hub
	conn     Conn
	customer *parley.Customer // set for customers
	agent    *parley.Agent    // set for agents
	me       parley.Participant
}

// Viewer returns who the client is, for access checks.
func (cl *Client) Viewer() Viewer {
	if cl.agent != nil {
		return Viewer{AgentID: cl.agent.ID}
	}
	return Viewer{CustomerID: cl.customer.ID}
}

// Handle carries out one client frame. Answers and errors go to the
// client's Conn; a bad frame gets an error frame and changes nothing.
func (cl *Client) Handle(in *parley.Inbound) {
	var err error
	if cl.agent != nil {
		err = cl.handleAgent(in)
	} else {
		err = cl.handleCustomer(in)
	}
	if err != nil {
		cl.conn.Send(encode(parley.NewErrorFrame(in.Req, err)))
	}
}

// Detach unregisters the connection.
func (cl *Client) Detach() {
	if cl.agent != nil {
		cl.hub.agentDetached(cl.agent.ID, cl.conn) // unregisters it and starts the grace
		return
	}
	// The customer is gone from the moment its last connection is: no one
	// can see it without connections and not yet marked gone.
	cl.hub.reg.removeCustomerThen(cl.customer.ID, cl.conn, func() { cl.hub.customerGone(cl.customer.ID) })
}

func unknownType(t string) error {
	if t == "" {
		return parley.Errorf(parley.EBadRequest, "Frame has no type.")
	}
	if t == parley.FrameHello {
		return parley.Errorf(parley.EBadRequest, "Already said hello.")
	}
	if len(t) > 32 {
		t = t[:32]
	}
	return parley.Errorf(parley.EBadRequest, "Unknown frame type %q.", t)
}

// validateSend checks a send frame's text and client_msg_id.
func (h *Hub) validateSend(in *parley.Inbound) error {
	if strings.TrimSpace(in.Text) == "" {
		return parley.Errorf(parley.EBadRequest, "text is required.")
	}
	if !utf8.ValidString(in.Text) {
		return parley.Errorf(parley.EBadRequest, "text must be valid UTF-8.")
	}
	if max := h.cfg.MaxMessageChars; len(in.Text) > max && utf8.RuneCountInString(in.Text) > max {
		return parley.Errorf(parley.ETooLarge, "text is longer than %d characters.", max)
	}
	if len(in.ClientMsgID) > parley.MaxClientMsgIDBytes {
		return parley.Errorf(parley.EBadRequest, "client_msg_id is longer than %d bytes.", parley.MaxClientMsgIDBytes)
	}
	return nil
}

// Viewer is who is reading: a customer or an agent. Exactly one is set.
type Viewer struct {
	CustomerID string
	AgentID    string
}

// sessionFor loads a session record the viewer may read. It is the one
// place read access to a session's events is decided (history, transcripts
// and file downloads all come through here). Customers get not_found for
// other customers' sessions, so ids reveal nothing. Any agent may read any
// session of the business, open or ended, so a team can read a returning
// customer's earlier conversations; the agent reached this point with a
// valid token, which disabled accounts no longer get. Reading is all it
// grants: changing a session (send, leave, end, typing, uploads, resume)
// still needs the agent to be, or for resume have been, in it.
func (h *Hub) sessionFor(tx *storage.Tx, v Viewer, id string) (*parley.SessionRecord, error) {
	if _, err := parley.ParseID(id); err != nil {
		return nil, err
	}
	r, err := tx.Session(id)
	if parley.ErrorCode(err) == parley.ENotFound {
		return nil, parley.Errorf(parley.ENotFound, "Session %s not found.", id)
	} else if err != nil {
		return nil, err
	}
	switch {
	case v.CustomerID != "":
		if r.Customer.ID != v.CustomerID {
			return nil, parley.Errorf(parley.ENotFound, "Session %s not found.", id)
		}
	case v.AgentID != "":
		// Every enabled agent reads every session; see the doc comment.
	default:
		return nil, parley.Errorf(parley.EUnauthorized, "Not signed in.")
	}
	return r, nil
}

// History returns one page of a session's events, oldest first: the limit
// events before beforeSeq (0 = the latest). Customers never see whispers.
func (h *Hub) History(v Viewer, sessionID string, beforeSeq uint64, limit int) (parley.HistoryFrame, error) {
	switch {
	case limit == 0:
		limit = parley.DefaultHistoryLimit
	case limit < 0 || limit > parley.MaxHistoryLimit:
		return parley.HistoryFrame{}, parley.Errorf(parley.EBadRequest, "limit must be between 1 and %d.", parley.MaxHistoryLimit)
	}
	out := parley.HistoryFrame{Type: parley.FrameHistory, SessionID: sessionID}
	err := h.db.View(func(tx *storage.Tx) error {
		if _, err := h.sessionFor(tx, v, sessionID); err != nil {
			return err
		}
		var err error
		out.Events, out.More, err = tx.Events(sessionID, storage.EventQuery{
			BeforeSeq: beforeSeq, Limit: limit, NoWhispers: v.CustomerID != "",
		})
		return err
	})
	if out.Events == nil {
		out.Events = []parley.Event{}
	}
	return out, err
}

// Transcript returns a session and all of its events the viewer may see.
func (h *Hub) Transcript(v Viewer, sessionID string) (parley.Session, []parley.Event, error) {
	var (
		s      parley.Session
		events []parley.Event
	)
	err := h.StreamTranscript(v, sessionID, func(sess parley.Session) error { s = sess; return nil },
		func(ev parley.Event) error { events = append(events, ev); return nil })
	return s, events, err
}

// Bounds of one page of StreamTranscript: the events it reads in one
// short read transaction before it hands them on with none open.
const (
	transcriptPageEvents = 256
	transcriptPageBytes  = 256 << 10
)

// StreamTranscript reads a session the viewer may see and hands it to
// head, then each of its events the viewer may see, oldest first, to
// event. It reads them in bounded pages, each in its own short read
// transaction, and calls head and event with no transaction open: they
// may write to a slow network client, and a read transaction held that
// long would stall the database's writer (bbolt's remap waits for every
// reader) and keep freed pages from reuse. The events end at the
// session's last seq when head is called, so events appended meanwhile
// are left out; if the session is purged meanwhile, the stream ends with
// an ENotFound error once the events read run out. An error from the
// access checks comes before head is called, so a caller can still
// answer with it; head's and event's errors end the stream and are
// returned.
func (h *Hub) StreamTranscript(v Viewer, sessionID string, head func(parley.Session) error, event func(parley.Event) error) error {
	var (
		sess parley.Session
		last uint64
	)
	err := h.db.View(func(tx *storage.Tx) error {
		r, err := h.sessionFor(tx, v, sessionID)
		if err != nil {
			return err
		}
		if last, err = tx.LastSeq(sessionID); err != nil {
			return err
		}
		sess = r.Session(last)
		return nil
	})
	if err != nil {
		return err
	}
	if err := head(sess); err != nil {
		return err
	}
	q := storage.EventPageQuery{ThroughSeq: last, MaxEvents: transcriptPageEvents, MaxBytes: transcriptPageBytes,
		NoWhispers: v.CustomerID != ""}
	for done := last == 0; !done; {
		var page []parley.Event
		err := h.db.View(func(tx *storage.Tx) error {
			var err error
			page, q.AfterSeq, done, err = tx.EventPage(sessionID, q)
			return err
		})
		if err != nil {
			return fmt.Errorf("transcript of session %s: %w", sessionID, err)
		}
		for _, ev := range page {
			if err := event(ev); err != nil {
				return err
			}
		}
		if done && q.AfterSeq < last {
			// Seqs run 1..last without gaps: the rest was deleted.
			return parley.Errorf(parley.ENotFound, "Session %s was deleted during the transcript.", sessionID)
		}
	}
	return nil
}

// CustomerSessions lists the first page of a customer's sessions of the
// customer window, open and ended, newest first.
func (h *Hub) CustomerSessions(customerID string) ([]parley.Session, error) {
	list, _, err := h.CustomerSessionsPage(customerID, "", 0)
	return list, err
}

// CustomerSessionsPage lists a page of at most limit (0: the default) of
// a customer's sessions of the customer window, newest first, after the
// session before ("" for the first page), and whether more follow.
func (h *Hub) CustomerSessionsPage(customerID, before string, limit int) ([]parley.Session, bool, error) {
	switch {
	case limit == 0:
		limit = parley.DefaultSessionsLimit
	case limit < 0 || limit > parley.MaxSessionsLimit:
		return nil, false, parley.Errorf(parley.EBadRequest, "limit must be between 1 and %d.", parley.MaxSessionsLimit)
	}
	if before != "" {
		if _, err := parley.ParseID(before); err != nil {
			return nil, false, parley.Errorf(parley.EBadRequest, "before must be a session id.")
		}
	}
	var (
		recs []*parley.SessionRecord
		seqs []uint64
		more bool
	)
	since := h.now().Add(-h.cfg.CustomerWindow)
	err := h.db.View(func(tx *storage.Tx) error {
		var err error
		if recs, more, err = tx.CustomerSessionsPage(customerID, since, before, limit); err != nil {
			return err
		}
		seqs = make([]uint64, len(recs))
		for i, r := range recs {
			if seqs[i], err = tx.LastSeq(r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	out := make([]parley.Session, len(recs))
	for i, r := range recs {
		out[i] = h.wire(r, seqs[i])
	}
	return out, more, nil
}

// live finds the goroutine of an open session the viewer may address. A
// session that is not open is explained: not found, not yours, or ended.
// Agents' membership is checked by the session goroutine itself.
func (h *Hub) live(v Viewer, id string) (*session, error) {
	if id == "" {
		return nil, parley.Errorf(parley.EBadRequest, "session_id is required.")
	}
	if s := h.session(id); s != nil {
		if v.CustomerID != "" && s.customerID != v.CustomerID {
			return nil, parley.Errorf(parley.ENotFound, "Session %s not found.", id)
		}
		return s, nil
	}
	var open bool
	err := h.db.View(func(tx *storage.Tx) error {
		r, err := h.sessionFor(tx, v, id)
		open = err == nil && r.Open()
		return err
	})
	if err != nil {
		return nil, err
	}
	if open {
		// Stored but not registered: its start is under way (or its
		// goroutine could not be started, and the next server start
		// recovers it). It has not ended: ask the client to retry.
		e := parley.Errorf(parley.EUnavailable, "Session %s is starting; try again in a moment.", id)
		e.RetryAfter = startingRetry
		return nil, e
	}
	return nil, parley.Errorf(parley.EConflict, "Session %s has ended.", id)
}

// startingRetry is how long a client is told to wait before it retries a
// command for a session whose start is under way.
const startingRetry = 200 * time.Millisecond
