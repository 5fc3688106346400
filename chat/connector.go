package chat

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// ConnectorMessage is a customer's message a connector (SMS, a messenger)
// brings in.
type ConnectorMessage struct {
	Customer struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"customer"`
	Text        string `json:"text"`
	ClientMsgID string `json:"client_msg_id"`
	// Queue names the queue a new session starts in (the default queue
	// if empty; not_found if no such queue exists). A message for the
	// customer's open session leaves that session where it is, whatever
	// Queue says.
	Queue string `json:"queue,omitempty"`
}

// maxConnectorIDBytes bounds a connector's customer id and name.
const maxConnectorIDBytes = 256

// APIKeyHash is the stored hash of a connector's API key.
func APIKeyHash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// ConnectorSend posts a connector's customer message into the customer's
// open session, starting one in m.Queue when none is open, through the
// same path as a customer's send: the message gets the session's next
// seq, and a client_msg_id seen before gets the first acknowledgement
// back (Duplicate). key is the connector's API key. The customer's id is
// ConnectorPrefix + the key's name + ":" + the connector's id, so
// connectors cannot speak for web customers or for one another.
func (h *Hub) ConnectorSend(ctx context.Context, key string, m ConnectorMessage) (parley.SentFrame, error) {
	var k *storage.APIKey
	if key == "" {
		return parley.SentFrame{}, parley.Errorf(parley.EUnauthorized, "An API key is required (Authorization: Bearer <key>).")
	}
	if err := h.db.View(func(tx *storage.Tx) (err error) { k, err = tx.APIKeyByHash(APIKeyHash(key)); return }); err != nil {
		return parley.SentFrame{}, err
	}
	id, name := m.Customer.ID, strings.TrimSpace(m.Customer.Name)
	switch {
	case id == "" || len(id) > maxConnectorIDBytes || !utf8.ValidString(id):
		return parley.SentFrame{}, parley.Errorf(parley.EBadRequest, "customer.id is required (at most %d bytes).", maxConnectorIDBytes)
	case len(name) > maxConnectorIDBytes:
		return parley.SentFrame{}, parley.Errorf(parley.EBadRequest, "customer.name is longer than %d bytes.", maxConnectorIDBytes)
	case m.ClientMsgID == "":
		return parley.SentFrame{}, parley.Errorf(parley.EBadRequest, "client_msg_id is required, so that retries are safe.")
	}
	in := &parley.Inbound{Type: parley.FrameSend, Text: m.Text, ClientMsgID: m.ClientMsgID}
	if err := h.validateSend(in); err != nil {
		return parley.SentFrame{}, err
	}
	cust := parley.Customer{ID: ConnectorPrefix + k.Name + ":" + id, Name: name}
	// A session whose end is stored stays registered for a moment; a send
	// that reaches it then is refused as ended. Its message was not
	// stored, so it goes to a new session: one retry, with the ended
	// session no longer taken for the customer's open one.
	f, ended, err := h.connectorSendOnce(ctx, cust, m)
	if ended {
		f, _, err = h.connectorSendOnce(ctx, cust, m)
	}
	return f, err
}

// connectorSendOnce sends m into cust's open session, started if there is
// none. ended reports that the session had ended before it took m.
func (h *Hub) connectorSendOnce(ctx context.Context, cust parley.Customer, m ConnectorMessage) (f parley.SentFrame, ended bool, err error) {
	conn := newReplyConn()
	cl := &Client{hub: h, conn: conn, customer: &cust}
	cl.me = parley.Participant{Role: parley.RoleCustomer, ID: cust.ID, Name: cust.Name}
	s := h.openSessionOf(cust.ID)
	if s != nil && h.storedEnded(s.id) {
		s = nil // start makes a new one
	}
	if s == nil {
		if err := cl.start("start", m.Queue); err != nil {
			return f, false, err
		}
		if s = h.openSessionOf(cust.ID); s == nil {
			return f, false, parley.Errorf(parley.EConflict, "The session ended at once; send again.")
		}
	}
	s.post(command{kind: cmdSend, conn: conn, req: "send", from: cl.me, text: m.Text, cmid: m.ClientMsgID})
	select {
	case raw := <-conn.reply:
		var probe struct {
			Type    string `json:"type"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return f, false, err
		}
		if probe.Type == parley.FrameError {
			return f, probe.Code == parley.EConflict && h.storedEnded(s.id), parley.Errorf(probe.Code, "%s", probe.Message)
		}
		err := json.Unmarshal(raw, &f)
		f.Re = ""
		return f, false, err
	case <-ctx.Done():
		return f, false, parley.Errorf(parley.EUnavailable, "The session did not answer in time; send again with the same client_msg_id.")
	}
}

// storedEnded reports whether the session is stored as ended.
func (h *Hub) storedEnded(id string) bool {
	var ended bool
	_ = h.db.View(func(tx *storage.Tx) error {
		r, err := tx.Session(id)
		ended = err == nil && !r.Open()
		return nil
	})
	return ended
}

// replyConn is the Conn of a connector request: it keeps the answer to
// the send (req "send") and drops everything else.
type replyConn struct{ reply chan []byte }

func newReplyConn() *replyConn { return &replyConn{reply: make(chan []byte, 1)} }

// Send implements Conn.
func (c *replyConn) Send(frames ...[]byte) bool {
	for _, f := range frames {
		var probe struct {
			Re string `json:"re"`
		}
		if json.Unmarshal(f, &probe) == nil && probe.Re == "send" {
			select {
			case c.reply <- f:
			default:
			}
		}
	}
	return true
}
