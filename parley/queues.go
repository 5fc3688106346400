package parley

import (
	"strings"
	"unicode"
)

// DefaultQueue is the queue that always exists: sessions started without
// a queue name, and sessions stored before queues existed, wait in it.
const DefaultQueue = "default"

// MaxQueueNameBytes bounds a queue's name.
const MaxQueueNameBytes = 64

// MaxGreetingChars bounds a queue's greeting, in characters.
const MaxGreetingChars = 1000

// Queue is a named line of waiting sessions, such as sales or support.
type Queue struct {
	Name string `json:"name"`
	// Greeting, if set, is stored as a system message when a session
	// starts in the queue.
	Greeting  string `json:"greeting,omitempty"`
	CreatedAt Time   `json:"created_at"`
}

// ValidQueueName checks a queue name: 1 to MaxQueueNameBytes letters,
// digits, '-', '_' or '.'.
func ValidQueueName(name string) error {
	if name == "" || len(name) > MaxQueueNameBytes {
		return Errorf(EBadRequest, "A queue name has 1 to %d characters.", MaxQueueNameBytes)
	}
	if strings.IndexFunc(name, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return Errorf(EBadRequest, "A queue name may hold letters, digits, '-', '_' and '.' only: %q.", name)
	}
	return nil
}

// QueueOrDefault returns name, or DefaultQueue if it is empty.
func QueueOrDefault(name string) string {
	if name == "" {
		return DefaultQueue
	}
	return name
}

// QueueDetail is how one queue stands, as agents and operators see it.
type QueueDetail struct {
	Name        string `json:"name"`
	Waiting     int    `json:"waiting"`
	OldestWaitS int    `json:"oldest_wait_s"`
	// AgentsAvailable counts the agents serving the queue who take chats
	// now.
	AgentsAvailable int `json:"agents_available"`
}

// Reasons a routing candidate lost, or an agent does not take a waiting
// session (RoutingCandidate.Reason).
const (
	// ReasonLaterSlot: the agent had a free slot, but free for a shorter
	// time than the chosen agent's.
	ReasonLaterSlot = "later_slot"
	// ReasonAtCapacity: every slot of the agent is taken.
	ReasonAtCapacity = "at_capacity"
	// ReasonNotServing: the agent does not serve the session's queue.
	ReasonNotServing = "not_serving"
	// ReasonNotAvailable: the agent is offline, on break or draining, not
	// connected, or disabled (see Status).
	ReasonNotAvailable = "not_available"
	// ReasonFree: the agent has a free slot and serves the queue (it takes
	// the session at the next routing step unless it is not the oldest
	// among its queues).
	ReasonFree = "free"
)

// RoutingCandidate is one agent as a routing decision saw it.
type RoutingCandidate struct {
	AgentID  string `json:"agent_id"`
	Status   string `json:"status"`
	Active   int    `json:"active"`
	Capacity int    `json:"capacity"`
	// Connected reports whether the agent had a connection.
	Connected bool `json:"connected"`
	Disabled  bool `json:"disabled,omitempty"`
	// FreeSince is when the agent's longest-free slot became free, if it
	// had a free slot and was available.
	FreeSince Time   `json:"free_since,omitzero"`
	Reason    string `json:"reason"`
}

// MaxRoutingCandidates bounds the agents a stored routing decision lists.
const MaxRoutingCandidates = 20

// Routing records why a session went to an agent, as decided at the
// moment of routing.
type Routing struct {
	SessionID string `json:"session_id"`
	Queue     string `json:"queue"`
	AgentID   string `json:"agent_id"`
	// At is when the decision was made.
	At Time `json:"at"`
	// Manual is set when the agent took the session by hand (accept).
	Manual   bool `json:"manual,omitempty"`
	QueuedAt Time `json:"queued_at,omitzero"`
	// FreeSince is when the chosen agent's slot became free.
	FreeSince Time `json:"free_since,omitzero"`
	// Others are the other agents and why they lost, closest first;
	// OthersOmitted counts those left out beyond MaxRoutingCandidates.
	Others        []RoutingCandidate `json:"others,omitempty"`
	OthersOmitted int                `json:"others_omitted,omitempty"`
}
