package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// ExplainArgs name the session queue.explain explains.
type ExplainArgs struct {
	ID string `json:"id"`
}

// Explanation says why a session waits, or why it went to its agent.
type Explanation struct {
	SessionID string `json:"session_id"`
	State     string `json:"state"`
	Queue     string `json:"queue"`
	// Online reports whether a running server answered; a stopped one
	// has no agent connected.
	Online bool `json:"online"`
	// Why is the explanation in one sentence.
	Why string `json:"why"`
	// For a waiting session: its place, how many wait ahead of it and the
	// first of them, and every agent with the reason it does not have it.
	Position      int                       `json:"position,omitempty"`
	Ahead         int                       `json:"ahead"`
	AheadSessions []string                  `json:"ahead_sessions,omitempty"`
	Agents        []parley.RoutingCandidate `json:"agents,omitempty"`
	// Routing is the latest routing decision (agent, slot free since,
	// who it was chosen over), Routings every one, oldest first.
	Routing  *parley.Routing  `json:"routing,omitempty"`
	Routings []parley.Routing `json:"routings,omitempty"`
	// AgentNames names the agents mentioned, by id.
	AgentNames map[string]string `json:"agent_names"`
}

// ExplainSession explains a session: for a waiting one who is ahead of it
// and why no agent has it; for one that had an agent, which agent got it
// and why, from the decision recorded when it was routed.
func (a *Admin) ExplainSession(ctx context.Context, args ExplainArgs) (Explanation, error) {
	if _, err := parley.ParseID(args.ID); err != nil {
		return Explanation{}, err
	}
	var (
		rec      *parley.SessionRecord
		routings []parley.Routing
		agents   []*parley.Agent
		queued   []*parley.SessionRecord
	)
	err := a.db.View(func(tx *storage.Tx) (err error) {
		if rec, err = tx.Session(args.ID); err != nil {
			return err
		}
		if routings, err = tx.Routings(args.ID); err != nil {
			return err
		}
		if agents, err = tx.Agents(); err != nil {
			return err
		}
		queued, err = tx.QueuedSessions()
		return err
	})
	if err != nil {
		return Explanation{}, err
	}
	x := Explanation{
		SessionID: rec.ID, State: rec.State, Queue: rec.QueueName(), Online: a.Online(),
		Routings: routings, AgentNames: map[string]string{},
	}
	for _, ag := range agents {
		x.AgentNames[ag.ID] = ag.Name
	}
	if len(routings) > 0 {
		x.Routing = &routings[len(routings)-1]
	}
	if rec.State == parley.StateQueued {
		if err := a.explainWaiting(&x, rec, agents, queued); err != nil {
			return Explanation{}, err
		}
		return x, nil
	}
	x.Why = explainRouting(x)
	if x.Routing != nil && rec.Open() && !rec.HasAgent(x.Routing.AgentID) && len(rec.Agents) > 0 {
		names := make([]string, len(rec.Agents))
		for i, ag := range rec.Agents {
			names[i] = ag.Name
		}
		x.Why += fmt.Sprintf(" It is now with %s (a transfer or a join, not routing).", strings.Join(names, ", "))
	}
	return x, nil
}

// explainWaiting fills in why a queued session waits.
func (a *Admin) explainWaiting(x *Explanation, rec *parley.SessionRecord, agents []*parley.Agent, queued []*parley.SessionRecord) error {
	if l, ok := a.live.(queueLive); ok {
		w, waits, err := l.ExplainWaiting(rec.ID)
		if err != nil {
			return err
		}
		if waits {
			x.Queue, x.Position, x.Ahead, x.AheadSessions, x.Agents = w.Queue, w.Position, w.Position-1, w.Ahead, w.Agents
			x.Why = whyWaiting(*x)
			return nil
		}
		// Being handed to an agent right now, or not yet admitted.
		x.Why = "The session is being handed to an agent, or the server is still admitting it; ask again in a moment."
		return nil
	}
	// A stopped server: the stored queue, and nobody is connected.
	for _, r := range queued {
		if r.QueueName() != x.Queue {
			continue
		}
		if r.ID == rec.ID {
			break
		}
		x.Ahead++
		if len(x.AheadSessions) < 5 {
			x.AheadSessions = append(x.AheadSessions, r.ID)
		}
	}
	x.Position = x.Ahead + 1
	for _, ag := range agents {
		c := parley.RoutingCandidate{AgentID: ag.ID, Status: parley.StatusOffline, Capacity: ag.Capacity, Disabled: ag.Disabled, Reason: parley.ReasonNotAvailable}
		if len(ag.Queues) > 0 && !slices.Contains(ag.Queues, x.Queue) {
			c.Reason = parley.ReasonNotServing
		}
		x.Agents = append(x.Agents, c)
	}
	x.Why = "The server is not running, so no agent is connected to take it."
	return nil
}

// whyWaiting sums up why a waiting session has no agent.
func whyWaiting(x Explanation) string {
	var serving, free, full int
	var away []string
	for _, c := range x.Agents {
		switch c.Reason {
		case parley.ReasonNotServing:
			continue
		case parley.ReasonFree, parley.ReasonLaterSlot:
			free++
		case parley.ReasonAtCapacity:
			full++
		case parley.ReasonNotAvailable:
			away = append(away, fmt.Sprintf("%s %s", firstNonEmpty(x.AgentNames[c.AgentID], c.AgentID), statusText(c)))
		}
		serving++
	}
	ahead := ""
	if x.Ahead > 0 {
		ahead = fmt.Sprintf(" %d session(s) wait ahead of it in queue %s.", x.Ahead, x.Queue)
	}
	switch {
	case serving == 0:
		return fmt.Sprintf("No agent serves queue %s.", x.Queue) + ahead
	case free+full == 0:
		return fmt.Sprintf("No agent serving queue %s is available: %s.", x.Queue, strings.Join(away, ", ")) + ahead
	case free == 0:
		return fmt.Sprintf("All %d available agent(s) serving queue %s are at capacity.", full, x.Queue) + ahead
	}
	return fmt.Sprintf("%d agent(s) serving queue %s have a free slot; the session is about to be routed.", free, x.Queue) + ahead
}

// statusText says why an agent does not take chats.
func statusText(c parley.RoutingCandidate) string {
	switch {
	case c.Disabled:
		return "is disabled"
	case c.Status == parley.StatusAvailable && !c.Connected:
		return "is not connected"
	case c.Status == parley.StatusBreak:
		return "is on break"
	case c.Status == parley.StatusDraining:
		return "is draining for a break"
	}
	return "is " + c.Status
}

// explainRouting sums up the latest routing decision of a session.
func explainRouting(x Explanation) string {
	r := x.Routing
	if r == nil {
		return "No routing decision was recorded for this session (it had no agent yet, or was assigned before decisions were recorded)."
	}
	name := firstNonEmpty(x.AgentNames[r.AgentID], r.AgentID)
	if r.Manual {
		return fmt.Sprintf("%s took it by hand (accept) at %s, from queue %s.", name, r.At.Format(parley.TimeLayout), r.Queue)
	}
	s := fmt.Sprintf("%s got it at %s: among the available agents serving queue %s with a free slot, %s's had been free longest",
		name, r.At.Format(parley.TimeLayout), r.Queue, name)
	if !r.FreeSince.IsZero() {
		s += fmt.Sprintf(" (since %s)", r.FreeSince.Format(parley.TimeLayout))
	}
	n := len(r.Others) + r.OthersOmitted
	return s + fmt.Sprintf("; it was chosen over %d other agent(s).", n)
}

// ReasonText says why a candidate lost, for people.
func ReasonText(c parley.RoutingCandidate, queue string) string {
	switch c.Reason {
	case parley.ReasonLaterSlot:
		return "had a free slot, but only since " + c.FreeSince.Format(parley.TimeLayout)
	case parley.ReasonFree:
		return "has a free slot since " + c.FreeSince.Format(parley.TimeLayout)
	case parley.ReasonAtCapacity:
		return fmt.Sprintf("at capacity (%d/%d)", c.Active, c.Capacity)
	case parley.ReasonNotServing:
		return "does not serve queue " + queue
	}
	return statusText(c)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
