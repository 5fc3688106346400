// Package parley holds Parley's domain types, its error type and the frames
// of the wire protocol. It is the leaf every other package builds on and
// imports nothing of the project.
package parley

import (
	"encoding/json"
)

// Session states.
const (
	StateQueued = "queued"
	StateActive = "active"
	StateEnded  = "ended"
)

// End reasons of a session.
const (
	EndCustomer   = "customer"
	EndAgent      = "agent"
	EndInactivity = "inactivity"
	EndAbandoned  = "abandoned"
	EndAdmin      = "admin"
)

// Event kinds.
const (
	KindQueued      = "queued"
	KindAgentJoined = "agent_joined"
	KindAgentLeft   = "agent_left"
	KindMessage     = "message"
	KindEnded       = "ended"
)

// Participant roles.
const (
	RoleCustomer = "customer"
	RoleAgent    = "agent"
	RoleSystem   = "system"
)

// Agent statuses. Agents ask for available, break or offline; draining is
// the server's answer to break while chats are still open.
const (
	StatusAvailable = "available"
	StatusDraining  = "draining"
	StatusBreak     = "break"
	StatusOffline   = "offline"
)

// Agent capacity: the number of concurrent chats an agent handles.
const (
	// DefaultCapacity is an agent's capacity unless set otherwise.
	DefaultCapacity = 2
	// MinCapacity and MaxCapacity bound the capacity an operator may set.
	MinCapacity = 1
	MaxCapacity = 100
)

// Customer is a customer as the host application's token describes it.
// Profile is the token's optional profile object, shown to agents only.
type Customer struct {
	ID      string          `json:"id"`
	Name    string          `json:"name,omitempty"`
	Email   string          `json:"email,omitempty"`
	Profile json.RawMessage `json:"profile,omitempty"`
	Visitor bool            `json:"visitor,omitempty"`
}

// Ref returns the customer as it appears in a Session.
func (c Customer) Ref() CustomerRef {
	return CustomerRef{ID: c.ID, Name: c.Name, Email: c.Email}
}

// ForAgents returns the customer as agents see it, profile data included.
func (c Customer) ForAgents() *CustomerProfile {
	return &CustomerProfile{ID: c.ID, Name: c.Name, Email: c.Email, Visitor: c.Visitor, Profile: c.Profile}
}

// CustomerRef is the customer as shown in a Session object.
type CustomerRef struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// AgentRef names an agent in a session.
type AgentRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Participant is the author of an event.
type Participant struct {
	Role string `json:"role"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Session is a conversation as clients see it.
type Session struct {
	ID         string      `json:"id"`
	State      string      `json:"state"`
	Customer   CustomerRef `json:"customer"`
	Agents     []AgentRef  `json:"agents"`
	CreatedAt  Time        `json:"created_at"`
	AssignedAt Time        `json:"assigned_at,omitzero"`
	EndedAt    Time        `json:"ended_at,omitzero"`
	EndReason  string      `json:"end_reason,omitempty"`
	LastSeq    uint64      `json:"last_seq"`
	Position   int         `json:"position,omitempty"`
	EWTSeconds *int        `json:"ewt_s,omitempty"`
	// AgentsAvailable counts the agents taking chats now, while the
	// session is queued; while it is 0 there is no wait estimate.
	AgentsAvailable *int `json:"agents_available,omitempty"`
	// QueuedAt is when the session entered the queue, while it is queued.
	QueuedAt Time `json:"queued_at,omitzero"`
	// Queue names the queue the session waits, or waited, in.
	Queue string `json:"queue,omitempty"`
	// CustomerProfile is the customer as agents see it: verified or
	// visitor, and the token's profile data. Only agents get it.
	CustomerProfile *CustomerProfile `json:"customer_profile,omitempty"`
}

// SetQueuePlace sets a queued session's position, the agents available
// and, unless none is, the estimated wait.
func (s *Session) SetQueuePlace(pos, ewt, available int) {
	s.Position, s.AgentsAvailable, s.EWTSeconds = pos, &available, nil
	if available > 0 {
		s.EWTSeconds = &ewt
	}
}

// SessionRecord is a session as stored: the wire Session plus what only the
// server needs.
type SessionRecord struct {
	ID       string     `json:"id"`
	State    string     `json:"state"`
	Customer Customer   `json:"customer"`
	Agents   []AgentRef `json:"agents"`
	// Participants lists every agent that was ever in the session, so an
	// agent who left can still read it.
	Participants []string `json:"participants,omitempty"`
	CreatedAt    Time     `json:"created_at"`
	// QueuedAt orders the queue: sessions are served in QueuedAt order.
	QueuedAt   Time   `json:"queued_at,omitzero"`
	AssignedAt Time   `json:"assigned_at,omitzero"`
	EndedAt    Time   `json:"ended_at,omitzero"`
	EndReason  string `json:"end_reason,omitempty"`
	// Excluded lists the agents routing no longer offers the session to
	// (they let it go unanswered, or handed it back to the queue).
	Excluded []string `json:"excluded,omitempty"`
	// Queue names the session's queue; empty (sessions stored before
	// queues existed) means DefaultQueue.
	Queue string `json:"queue,omitempty"`
}

// QueueName returns the session's queue, DefaultQueue if unset.
func (r *SessionRecord) QueueName() string { return QueueOrDefault(r.Queue) }

// Open reports whether the session has not ended.
func (r *SessionRecord) Open() bool { return r.State != StateEnded }

// HasAgent reports whether the agent is currently in the session.
func (r *SessionRecord) HasAgent(agentID string) bool {
	for _, a := range r.Agents {
		if a.ID == agentID {
			return true
		}
	}
	return false
}

// WasParticipant reports whether the agent is or ever was in the session.
func (r *SessionRecord) WasParticipant(agentID string) bool {
	for _, id := range r.Participants {
		if id == agentID {
			return true
		}
	}
	return r.HasAgent(agentID)
}

// Session returns the wire form of the record.
func (r *SessionRecord) Session(lastSeq uint64) Session {
	return Session{
		ID:         r.ID,
		State:      r.State,
		Customer:   r.Customer.Ref(),
		Agents:     append([]AgentRef{}, r.Agents...),
		CreatedAt:  r.CreatedAt,
		AssignedAt: r.AssignedAt,
		EndedAt:    r.EndedAt,
		EndReason:  r.EndReason,
		LastSeq:    lastSeq,
		Queue:      r.QueueName(),
	}
}

// Event is one durably stored thing that happened in a session. Seq starts
// at 1 and has no gaps within a session.
type Event struct {
	Seq         uint64      `json:"seq"`
	ID          string      `json:"id"`
	At          Time        `json:"at"`
	Kind        string      `json:"kind"`
	From        Participant `json:"from"`
	Text        string      `json:"text,omitempty"`
	Whisper     bool        `json:"whisper"`
	Reason      string      `json:"reason,omitempty"`
	ClientMsgID string      `json:"client_msg_id,omitempty"`
	// To is where a transferred event sent the session: an agent, or
	// back to the queue (null on the wire).
	To TransferTarget `json:"to,omitzero"`
	// EndsAt comes with inactivity_warning: when the session ends unless
	// the customer writes.
	EndsAt Time `json:"ends_at,omitzero"`
	// File is the file a KindFile event shares.
	File *File `json:"file,omitempty"`
}

// Agent is a support agent's account.
type Agent struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Email        string `json:"email"`
	Capacity     int    `json:"capacity"`
	Status       string `json:"status"`
	Disabled     bool   `json:"disabled,omitempty"`
	PasswordHash []byte `json:"password_hash,omitempty"`
	// MustChangePassword is set while the agent's password is a generated
	// one-time password: signing in with it requires choosing a new one.
	MustChangePassword bool `json:"must_change_password,omitempty"`
	CreatedAt          Time `json:"created_at"`
	// TokenGen is the generation of the agent's tokens: tokens carry the
	// generation they were issued for and stop working once it changes.
	// A password change, disabling the account and `parley agent logout`
	// raise it.
	TokenGen uint64 `json:"token_gen,omitempty"`
	// Queues are the queues the agent serves; empty means every queue,
	// including queues added later.
	Queues []string `json:"queues,omitempty"`
}

// Ref returns the agent as named in sessions.
func (a *Agent) Ref() AgentRef { return AgentRef{ID: a.ID, Name: a.Name} }

// Participant returns the agent as the author of events.
func (a *Agent) Participant() Participant {
	return Participant{Role: RoleAgent, ID: a.ID, Name: a.Name}
}
