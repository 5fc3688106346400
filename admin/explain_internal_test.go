package admin

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/parley-chat/parley/parley"
)

func TestWhyWaiting(t *testing.T) {
	cand := func(id, status, reason string) parley.RoutingCandidate {
		return parley.RoutingCandidate{AgentID: id, Status: status, Connected: true, Reason: reason, Active: 2, Capacity: 2}
	}
	names := map[string]string{"a": "Amy", "b": "Bob", "c": "Cat"}
	tests := []struct {
		name   string
		agents []parley.RoutingCandidate
		ahead  int
		want   string
	}{
		{"nobody serves", []parley.RoutingCandidate{cand("a", parley.StatusAvailable, parley.ReasonNotServing)}, 0,
			"No agent serves queue sales."},
		{"all away", []parley.RoutingCandidate{
			cand("a", parley.StatusBreak, parley.ReasonNotAvailable),
			cand("b", parley.StatusDraining, parley.ReasonNotAvailable),
			{AgentID: "c", Status: parley.StatusAvailable, Reason: parley.ReasonNotAvailable},
		}, 2, "No agent serving queue sales is available: Amy is on break, Bob is draining for a break, Cat is not connected. 2 session(s) wait ahead of it in queue sales."},
		{"all busy", []parley.RoutingCandidate{
			cand("a", parley.StatusAvailable, parley.ReasonAtCapacity),
			cand("b", parley.StatusBreak, parley.ReasonNotAvailable),
		}, 0, "All 1 available agent(s) serving queue sales are at capacity."},
		{"about to be routed", []parley.RoutingCandidate{cand("a", parley.StatusAvailable, parley.ReasonFree)}, 0,
			"1 agent(s) serving queue sales have a free slot; the session is about to be routed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Explanation{Queue: "sales", Ahead: tt.ahead, Agents: tt.agents, AgentNames: names}
			assert.Equal(t, tt.want, whyWaiting(x))
		})
	}
}
