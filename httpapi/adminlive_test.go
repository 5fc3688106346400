package httpapi_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/httpapi"
)

// TestDisableAgentClosesConnections checks that disabling an agent ends
// its live sockets, not only its future logins, and leaves its chats open.
func TestDisableAgentClosesConnections(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("dis-1")
	cust.send(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	ag, _ := h.agent("Dora", 1)
	ag.available()
	require.Equal(t, sid, ag.expect("assigned").obj("session").str("id"))

	_, err := h.admin.DisableAgent(context.Background(), admin.AgentDisableArgs{Email: "dora@example.com"})
	require.NoError(t, err)
	code, reason := ag.expectClose()
	assert.Equal(t, httpapi.CloseUnauthorized, code)
	assert.Contains(t, reason, "disabled")

	// The chat is still open for someone else to take over.
	cust.send(frame{"type": "sessions", "req": "l"})
	assert.Equal(t, "active", cust.expectRe("l").list("sessions")[0].str("state"))
}
