package parley

import (
	"encoding/json"
	"errors"
)

// Limits of the wire protocol.
const (
	// MaxFrameBytes is the largest WebSocket frame a client may send.
	MaxFrameBytes = 64 << 10
	// MaxClientMsgIDBytes bounds client_msg_id.
	MaxClientMsgIDBytes = 128
	// MaxReqBytes bounds the req correlation string.
	MaxReqBytes = 128
	// DefaultHistoryLimit and MaxHistoryLimit bound history pages.
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
	// DefaultResumeLimit and MaxResumeLimit bound the events of one resume
	// page.
	DefaultResumeLimit = 500
	MaxResumeLimit     = 1000
	// DefaultSessionsLimit and MaxSessionsLimit bound a page of a
	// customer's sessions list.
	DefaultSessionsLimit = 50
	MaxSessionsLimit     = 200
	// MaxResumePageBytes bounds the encoded events of one resume page: a
	// page ends early (with more) rather than grow past it.
	MaxResumePageBytes = 256 << 10
	// DefaultQueueListLimit and MaxQueueListLimit bound a queue_list answer.
	DefaultQueueListLimit = 100
	MaxQueueListLimit     = 500
)

// Client frame types.
const (
	FrameHello    = "hello"
	FrameStart    = "start"
	FrameResume   = "resume"
	FrameSend     = "send"
	FrameTyping   = "typing"
	FrameRead     = "read"
	FrameEnd      = "end"
	FrameHistory  = "history"
	FrameSessions = "sessions"
	FrameStatus   = "status"
	FrameAccept   = "accept"
	FrameLeave    = "leave"
	// FrameQueueList asks for, and answers with, the waiting sessions.
	FrameQueueList = "queue_list"
)

// Server frame types.
const (
	FrameWelcome     = "welcome"
	FrameSession     = "session"
	FrameEvent       = "event"
	FrameSent        = "sent"
	FrameAgentStatus = "agent_status"
	FrameAssigned    = "assigned"
	FrameQueue       = "queue"
	FrameError       = "error"
	FrameResumed     = "resumed"
)

// Inbound is any frame a client sends. Fields a frame type does not use are
// ignored.
type Inbound struct {
	Type        string `json:"type"`
	Req         string `json:"req,omitempty"`
	Token       string `json:"token,omitempty"`
	SessionID   string `json:"session_id,omitempty"`
	AfterSeq    uint64 `json:"after_seq,omitempty"`
	BeforeSeq   uint64 `json:"before_seq,omitempty"`
	Before      string `json:"before,omitempty"` // sessions: the page's cursor
	Limit       int    `json:"limit,omitempty"`
	Text        string `json:"text,omitempty"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
	Whisper     bool   `json:"whisper,omitempty"`
	Active      *bool  `json:"active,omitempty"`
	Seq         uint64 `json:"seq,omitempty"`
	Status      string `json:"status,omitempty"`
	// ToAgentID and Note are transfer's target agent and note.
	ToAgentID string `json:"to_agent_id,omitempty"`
	Note      string `json:"note,omitempty"`
	Email     string `json:"email,omitempty"` // set_email
	// Queue names the queue of a start, or filters a queue_list.
	Queue string `json:"queue,omitempty"`
}

// ErrorFrame reports a failed command.
type ErrorFrame struct {
	Type    string `json:"type"`
	Re      string `json:"re,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMS is set on rate_limited errors.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// NewErrorFrame returns the error frame for err in reply to req.
func NewErrorFrame(req string, err error) ErrorFrame {
	f := ErrorFrame{Type: FrameError, Re: req, Code: ErrorCode(err), Message: ErrorMessage(err)}
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		f.RetryAfterMS = max(1, e.RetryAfter.Milliseconds())
	}
	return f
}

// CustomerWelcome answers a customer's hello.
type CustomerWelcome struct {
	Type        string   `json:"type"`
	Re          string   `json:"re,omitempty"`
	Customer    Customer `json:"customer"`
	OpenSession *Session `json:"open_session"`
	// Token is set for anonymous visitors: the server-signed token to
	// resume with later.
	Token string `json:"token,omitempty"`
	// Limits tells the client what the server refuses, so it can say so
	// before sending.
	Limits *Limits `json:"limits,omitempty"`
}

// Limits are the sizes a server accepts from a client, sent in welcome so
// a user interface can refuse too long a message or too large a file
// before sending it.
type Limits struct {
	// MaxMessageChars is the longest message text, in characters.
	MaxMessageChars int `json:"max_message_chars"`
	// MaxFileSize is the largest file an upload may carry, in bytes.
	MaxFileSize int64 `json:"max_file_size"`
}

// AgentInfo is an agent's own view of itself.
type AgentInfo struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email,omitempty"`
	Status   string `json:"status"`
	Capacity int    `json:"capacity"`
	Active   int    `json:"active"`
}

// QueueInfo summarises the queue for agents.
type QueueInfo struct {
	Waiting     int `json:"waiting"`
	OldestWaitS int `json:"oldest_wait_s"`
	// Queues details each queue, by name; the totals above cover them
	// all.
	Queues []QueueDetail `json:"queues,omitempty"`
}

// Equal reports whether two summaries are the same.
func (q QueueInfo) Equal(o QueueInfo) bool {
	if q.Waiting != o.Waiting || q.OldestWaitS != o.OldestWaitS || len(q.Queues) != len(o.Queues) {
		return false
	}
	for i := range q.Queues {
		if q.Queues[i] != o.Queues[i] {
			return false
		}
	}
	return true
}

// AgentWelcome answers an agent's hello.
type AgentWelcome struct {
	Type     string    `json:"type"`
	Re       string    `json:"re,omitempty"`
	Agent    AgentInfo `json:"agent"`
	Sessions []Session `json:"sessions"`
	Queue    QueueInfo `json:"queue"`
	// Limits is as in CustomerWelcome.
	Limits *Limits `json:"limits,omitempty"`
}

// SessionFrame carries one session.
type SessionFrame struct {
	Type    string  `json:"type"`
	Re      string  `json:"re,omitempty"`
	Session Session `json:"session"`
}

// EventFrame pushes one event of a session.
type EventFrame struct {
	Type      string `json:"type"`
	Re        string `json:"re,omitempty"`
	SessionID string `json:"session_id"`
	Event     Event  `json:"event"`
}

// SentFrame acknowledges a durably stored message.
type SentFrame struct {
	Type        string `json:"type"`
	Re          string `json:"re,omitempty"`
	SessionID   string `json:"session_id"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
	Seq         uint64 `json:"seq"`
	ID          string `json:"id"`
	At          Time   `json:"at"`
	// Duplicate is true when the client_msg_id was seen before and this is
	// the original acknowledgement.
	Duplicate bool `json:"duplicate,omitempty"`
}

// TypingFrame tells the other side of a session that someone is typing.
type TypingFrame struct {
	Type      string      `json:"type"`
	SessionID string      `json:"session_id"`
	From      Participant `json:"from"`
	Active    bool        `json:"active"`
}

// ReadFrame tells agents how far the customer has read.
type ReadFrame struct {
	Type      string      `json:"type"`
	SessionID string      `json:"session_id"`
	Seq       uint64      `json:"seq"`
	From      Participant `json:"from"`
}

// HistoryFrame is one page of a session's events, oldest first.
type HistoryFrame struct {
	Type      string  `json:"type"`
	Re        string  `json:"re,omitempty"`
	SessionID string  `json:"session_id"`
	Events    []Event `json:"events"`
	More      bool    `json:"more"`
}

// SessionsFrame is one page of a customer's recent sessions, newest
// first. With More, the next page is asked for with before set to the id
// of the last session of this one.
type SessionsFrame struct {
	Type     string    `json:"type"`
	Re       string    `json:"re,omitempty"`
	Sessions []Session `json:"sessions"`
	More     bool      `json:"more"`
}

// QueueListFrame answers an agent's queue_list: the waiting sessions,
// next first, each with its position, wait estimate and customer profile.
type QueueListFrame struct {
	Type     string    `json:"type"`
	Re       string    `json:"re,omitempty"`
	Sessions []Session `json:"sessions"`
	// Waiting is how many sessions wait in all, which may exceed the list.
	Waiting int `json:"waiting"`
}

// AgentStatusFrame reports an agent's status.
type AgentStatusFrame struct {
	Type     string `json:"type"`
	Re       string `json:"re,omitempty"`
	Status   string `json:"status"`
	Active   int    `json:"active"`
	Capacity int    `json:"capacity"`
}

// CustomerProfile is what agents see of a customer.
type CustomerProfile struct {
	ID      string          `json:"id"`
	Name    string          `json:"name,omitempty"`
	Email   string          `json:"email,omitempty"`
	Visitor bool            `json:"visitor,omitempty"`
	Profile json.RawMessage `json:"profile,omitempty"`
}

// AssignedFrame gives an agent a session, by routing or on accept.
type AssignedFrame struct {
	Type            string          `json:"type"`
	Re              string          `json:"re,omitempty"`
	Session         Session         `json:"session"`
	Events          []Event         `json:"events"`
	CustomerProfile CustomerProfile `json:"customer_profile"`
	// CustomerContext is what the business's context service said about
	// the customer (serve --context-url), when it is already cached;
	// otherwise it follows in a customer_context frame.
	CustomerContext json.RawMessage `json:"customer_context,omitempty"`
}

// CustomerQueueFrame tells a waiting customer its place in the queue.
type CustomerQueueFrame struct {
	Type       string `json:"type"`
	SessionID  string `json:"session_id"`
	Queue      string `json:"queue,omitempty"`
	Position   int    `json:"position"`
	EWTSeconds *int   `json:"ewt_s,omitempty"`
	// AgentsAvailable counts the agents taking chats now; while it is 0
	// there is no wait estimate.
	AgentsAvailable int `json:"agents_available"`
}

// NewCustomerQueueFrame tells a customer its place: the wait estimate is
// left out while no agent is available.
func NewCustomerQueueFrame(sessionID string, pos, ewt, available int) CustomerQueueFrame {
	f := CustomerQueueFrame{Type: FrameQueue, SessionID: sessionID, Position: pos, AgentsAvailable: available}
	if available > 0 {
		f.EWTSeconds = &ewt
	}
	return f
}

// AgentQueueFrame tells agents how the queue stands.
type AgentQueueFrame struct {
	Type string `json:"type"`
	QueueInfo
}

// ResumedFrame ends one page of a resume: the events replayed cover every
// seq up to ThroughSeq. With More the client resumes again with after_seq
// ThroughSeq.
type ResumedFrame struct {
	Type       string `json:"type"`
	Re         string `json:"re,omitempty"`
	SessionID  string `json:"session_id"`
	ThroughSeq uint64 `json:"through_seq"`
	More       bool   `json:"more"`
}
