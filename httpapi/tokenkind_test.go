package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWrongKindOfToken checks that a customer token on the agent socket,
// and an agent token on the customer socket, are named as such rather than
// reported as a bad signature (they are signed with different secrets).
func TestWrongKindOfToken(t *testing.T) {
	h := newHarness(t)
	h.putAgent("Bob", 1)

	c := h.dial("/v1/agent/ws", nil)
	c.send(frame{"type": "hello", "token": h.customerToken("u-1"), "req": "h"})
	f := c.expectRe("h")
	require.Equal(t, "error", f.str("type"))
	assert.Equal(t, "unauthorized", f.str("code"))
	assert.Equal(t, "This is a customer token; the agent socket needs an agent token (POST /v1/agent/login).", f.str("message"))
	code, _ := c.expectClose()
	assert.Equal(t, 4401, code)

	c = h.dial("/v1/customer/ws", nil)
	c.send(frame{"type": "hello", "token": h.login("Bob"), "req": "h"})
	f = c.expectRe("h")
	require.Equal(t, "error", f.str("type"))
	assert.Equal(t, "unauthorized", f.str("code"))
	assert.Contains(t, f.str("message"), "This is an agent token")
	code, _ = c.expectClose()
	assert.Equal(t, 4401, code)

	// HTTP says the same for the customer endpoints.
	status, body, _ := h.get("/v1/customer/sessions", h.login("Bob"))
	assert.Equal(t, 401, status)
	assert.Contains(t, string(body), "This is an agent token")
}
