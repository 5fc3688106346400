package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
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

// TestAbuseTypingFlood floods an agent's session with 1,000 typing frames
// from the customer. The agent stays connected, gets only a few typing
// pushes a second (not one per frame), and ends up with the customer's
// latest state.
func TestAbuseTypingFlood(t *testing.T) {
	h := newHarness(t, noRateLimits)
	sid, cust, ag := secActive(t, h, "u-typist", "Tia")
	const n = 1000
	start := time.Now()
	var raw []byte
	for i := range n {
		raw = fmt.Appendf(raw[:0], `{"type":"typing","session_id":%q,"active":%t}`, sid, i%2 == 0)
		cust.sendRaw(raw)
	}
	cust.send(frame{"type": "send", "session_id": sid, "text": "done", "req": "done"})
	require.Equal(t, "sent", cust.expectRe("done").str("type"))
	var typing []frame
	ag.waitFor("done", func(f frame) bool {
		if f.str("type") == "typing" {
			typing = append(typing, f)
		}
		return f.str("type") == "event" && f.obj("event").str("text") == "done"
	})
	// The last state held back comes within an interval; wait for it
	// (or for nothing, if the last one went out at once).
	for {
		f, err := ag.wc.WaitFor(4*chat.DefaultSignalInterval, "typing", func(f frame) bool { return f.str("type") == "typing" })
		if err != nil {
			break
		}
		typing = append(typing, f)
	}
	elapsed := time.Since(start)
	require.NotEmpty(t, typing)
	assert.False(t, typing[len(typing)-1]["active"].(bool), "the customer's latest state is not typing")
	limit := int(elapsed/chat.DefaultSignalInterval) + 2
	assert.LessOrEqual(t, len(typing), limit, "%d typing pushes in %v", len(typing), elapsed)
	customerStillUsable(t, cust)
	ag.send(frame{"type": "send", "session_id": sid, "text": "still here", "req": "ag"})
	require.Equal(t, "sent", ag.expectRe("ag").str("type"))
}
