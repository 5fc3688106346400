package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueueListOldestFirst checks the agent's queue_list: the waiting
// sessions in queue order with exact positions, when each was queued and
// the customer's profile, bounded by limit, with the total waiting.
func TestQueueListOldestFirst(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for _, c := range []string{"q1", "q2", "q3"} {
		cust, _ := h.customer(c)
		ids = append(ids, h.startSession(cust).str("id"))
	}
	ag, _ := h.fastAgent("Quinn", 2) // offline: nothing is routed to it

	all := h.do(ag, frame{"type": "queue_list"})
	require.Equal(t, "queue_list", all.str("type"), "answer %v", all)
	assert.Equal(t, 3, all.num("waiting"))
	list := all.list("sessions")
	require.Len(t, list, 3)
	for i, s := range list {
		assert.Equal(t, ids[i], s.str("id"), "oldest first")
		assert.Equal(t, i+1, s.num("position"))
		assert.NotEmpty(t, s.str("queued_at"))
		p := s.obj("customer_profile")
		assert.Equal(t, []string{"q1", "q2", "q3"}[i], p.str("id"))
		assert.Equal(t, "pro", p.obj("profile").str("plan"), "the token's profile data")
	}

	one := h.do(ag, frame{"type": "queue_list", "limit": 1})
	assert.Equal(t, 3, one.num("waiting"))
	require.Len(t, one.list("sessions"), 1)
	assert.Equal(t, ids[0], one.list("sessions")[0].str("id"))

	bad := h.do(ag, frame{"type": "queue_list", "limit": 100000})
	assert.Equal(t, "bad_request", bad.str("code"))

	// Taken sessions leave the list.
	taken := h.do(ag, frame{"type": "accept", "session_id": ids[1]})
	require.Equal(t, "assigned", taken.str("type"), "accept answered %v", taken)
	after := h.do(ag, frame{"type": "queue_list"})
	var got []string
	for _, s := range after.list("sessions") {
		got = append(got, s.str("id"))
	}
	assert.Equal(t, []string{ids[0], ids[2]}, got)
	assert.Equal(t, []int{1, 2}, []int{after.list("sessions")[0].num("position"), after.list("sessions")[1].num("position")})
}

// TestAgentSeesCustomerProfileAndPastSessions checks what an agent's
// customer pane needs: the profile in the welcome's sessions (after a
// reconnect) and the customer's recent sessions over HTTP, which
// customers themselves cannot use.
func TestAgentSeesCustomerProfileAndPastSessions(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("pane")
	first := h.startSession(cust).str("id")
	h.do(cust, frame{"type": "end"})
	second := h.startSession(cust).str("id")

	ag, _ := h.fastAgent("Pia", 2)
	require.Equal(t, second, h.do(ag, frame{"type": "accept"}).obj("session").str("id"))

	// A second tab of the agent: its welcome carries the customer profile.
	_, welcome := h.agentConn(h.login("Pia"))
	sessions := welcome.list("sessions")
	require.Len(t, sessions, 1)
	assert.Equal(t, "pro", sessions[0].obj("customer_profile").obj("profile").str("plan"))

	status, body, _ := h.get("/v1/agent/customers/pane/sessions", h.login("Pia"))
	require.Equal(t, http.StatusOK, status, string(body))
	var out struct {
		Sessions []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"sessions"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	require.Len(t, out.Sessions, 2)
	assert.Equal(t, second, out.Sessions[0].ID, "newest first")
	assert.Equal(t, first, out.Sessions[1].ID)
	assert.Equal(t, "ended", out.Sessions[1].State)

	status, _, _ = h.get("/v1/agent/customers/pane/sessions", h.customerToken("pane"))
	assert.Equal(t, http.StatusForbidden, status)
	status, _, _ = h.get("/v1/agent/customers/pane/sessions", "")
	assert.Equal(t, http.StatusUnauthorized, status)
}
