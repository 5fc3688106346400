package parley

import "encoding/json"

// Frames of e-mail and customer context.
const (
	// FrameSetEmail is a customer's command setting the address of its
	// open session; the answer is the session frame.
	FrameSetEmail = "set_email"
	// FrameEmailTranscript asks for a session's transcript by e-mail and
	// answers that it is queued.
	FrameEmailTranscript = "email_transcript"
	// FrameCustomerContext pushes the business's context about a
	// customer to the agents of a session.
	FrameCustomerContext = "customer_context"
)

// EmailTranscriptFrame answers email_transcript: the mail is in the
// outbox and will be sent (retried until it is).
type EmailTranscriptFrame struct {
	Type      string `json:"type"`
	Re        string `json:"re,omitempty"`
	SessionID string `json:"session_id"`
	Queued    bool   `json:"queued"`
	// ID is the mail's delivery id, as `parley mail ls` shows it.
	ID string `json:"id"`
	// Duplicate is true when the request's client_msg_id was seen before
	// and this answers the first request: no second mail is sent.
	Duplicate bool `json:"duplicate,omitempty"`
}

// CustomerContextFrame gives agents what the business's context service
// said about a session's customer.
type CustomerContextFrame struct {
	Type       string          `json:"type"`
	SessionID  string          `json:"session_id"`
	CustomerID string          `json:"customer_id"`
	Context    json.RawMessage `json:"context"`
}
