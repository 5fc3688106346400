package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/httpapi"
)

// TestAbusePipelinedSendsFastReader pipelines 1,000 sends from a customer
// that reads everything promptly: every one is acknowledged, and neither
// the customer nor the agent is disconnected as slow. Counting the
// outbound queue in frames cut such a client off after a few acks.
func TestAbusePipelinedSendsFastReader(t *testing.T) {
	h := newHarness(t, noRateLimits)
	sid, cust, ag := secActive(t, h, "u-pipe", "Pip")
	const n = 1000
	go func() {
		for i := range n {
			if cust.wc.Send(frame{"type": "send", "session_id": sid, "text": fmt.Sprintf("m%d", i), "req": fmt.Sprintf("p%d", i)}) != nil {
				return
			}
		}
	}()
	for i := range n {
		f := cust.waitFor("ack", func(f frame) bool { return f.str("re") != "" || f.str("type") == "error" })
		require.Equal(t, "sent", f.str("type"), "reply %d: %v", i, f)
		require.Equal(t, fmt.Sprintf("p%d", i), f.str("re"))
	}
	for i := range n {
		ev := ag.expectEvent("message")
		require.Equal(t, fmt.Sprintf("m%d", i), ev.str("text"))
	}
	customerStillUsable(t, cust)
}

// noRateLimits lifts the message rate limits for tests that flood on
// purpose.
func noRateLimits(c *httpapi.Config) {}
