package parley

import (
	"bytes"
	"encoding/json"
)

// Event kinds of the second round of version 1.
const (
	// KindInactivityWarning warns that an active session ends at EndsAt
	// unless the customer writes.
	KindInactivityWarning = "inactivity_warning"
	// KindTransferred says an agent handed the session to another agent,
	// or back to the queue (Event.To).
	KindTransferred = "transferred"
)

// Reasons of an agent_left event.
const (
	// LeftByAgent: the agent left on its own (the leave command).
	LeftByAgent = "left"
	// LeftDisconnected: the agent had no connection for the agent grace.
	LeftDisconnected = "disconnected"
	// LeftUnanswered: the agent did not reply within the reply timeout.
	LeftUnanswered = "unanswered"
	// LeftTransferred: the agent transferred the session.
	LeftTransferred = "transferred"
)

// Agent command frames of the second round of version 1.
const (
	// FrameTransfer hands a session to another agent or back to the queue.
	FrameTransfer = "transfer"
	// FrameAgents asks for, and answers with, every agent's status (an
	// extra of this server, for the console's transfer picker).
	FrameAgents = "agents"
)

// TransferTarget is the "to" of a transferred event: an agent, or nobody
// (back to the queue), which encodes as null. The zero value is no target
// at all and is left out with omitzero.
type TransferTarget struct {
	// Set tells the zero value (no "to") from back to the queue.
	Set bool
	// Agent is the receiving agent, nil for back to the queue.
	Agent *Participant
}

// QueueTarget is the target of a transfer back to the queue.
func QueueTarget() TransferTarget { return TransferTarget{Set: true} }

// AgentTarget is the target of a transfer to an agent.
func AgentTarget(p Participant) TransferTarget { return TransferTarget{Set: true, Agent: &p} }

// IsZero reports whether there is no target, for omitzero.
func (t TransferTarget) IsZero() bool { return !t.Set }

// MarshalJSON encodes the agent, or null for back to the queue.
func (t TransferTarget) MarshalJSON() ([]byte, error) {
	if t.Agent == nil {
		return []byte("null"), nil
	}
	return json.Marshal(t.Agent)
}

// UnmarshalJSON decodes an agent, or null for back to the queue.
func (t *TransferTarget) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*t = QueueTarget()
		return nil
	}
	var p Participant
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = AgentTarget(p)
	return nil
}

// AgentSummary is one agent in the answer to the agents command.
type AgentSummary struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Active   int    `json:"active"`
	Capacity int    `json:"capacity"`
}

// AgentsFrame answers the agents command: every enabled agent, by name.
type AgentsFrame struct {
	Type   string         `json:"type"`
	Re     string         `json:"re,omitempty"`
	Agents []AgentSummary `json:"agents"`
}
