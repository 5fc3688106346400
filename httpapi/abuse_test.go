package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
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
func noRateLimits(c *httpapi.Config) { c.SendRate, c.CommandRate = -1, -1 }

// TestAbuseSendRateLimit checks the per-customer message rate: a burst
// goes through, the next send is refused with rate_limited and a
// retry_after_ms, on every connection of that customer but not for
// others, and time (on the injected clock) lifts it. Nothing refused is
// stored.
func TestAbuseSendRateLimit(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.SendRate, c.SendBurst = 10, 5 })
	sid, cust, ag := secActive(t, h, "u-fast", "Ray")
	send := func(c *client, req string) frame {
		t.Helper()
		c.send(frame{"type": "send", "session_id": sid, "text": req, "req": req})
		return c.expectRe(req)
	}
	for i := range 5 {
		require.Equal(t, "sent", send(cust, fmt.Sprint("b", i)).str("type"))
	}
	f := send(cust, "over")
	require.Equal(t, "error", f.str("type"), "%v", f)
	assert.Equal(t, "rate_limited", f.str("code"))
	// The harness clock runs with real time too: at most one token's wait.
	assert.True(t, f.num("retry_after_ms") > 0 && f.num("retry_after_ms") <= 100, "%v", f)
	// Another tab of the same customer shares the limit.
	tab, _ := h.customer("u-fast")
	f = send(tab, "tab")
	assert.Equal(t, "rate_limited", f.str("code"), "%v", f)
	// Another customer does not.
	other, _ := h.customer("u-calm")
	secStart(t, other)
	other.send(frame{"type": "send", "text": "hi", "req": "calm"})
	require.Equal(t, "sent", other.expectRe("calm").str("type"))
	// An agent is not limited by the customer's budget.
	ag.send(frame{"type": "send", "session_id": sid, "text": "agent", "req": "ag"})
	require.Equal(t, "sent", ag.expectRe("ag").str("type"))

	h.clock.advance(100 * time.Millisecond)
	f = send(cust, "later")
	require.Equal(t, "sent", f.str("type"), "%v", f)
	// queued, agent_joined, five messages, the agent's, this one.
	assert.Equal(t, 2+5+1+1, f.num("seq"))
}

// TestAbuseCommandRateLimit checks the per-connection limit on commands
// of any kind (history here).
func TestAbuseCommandRateLimit(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.CommandRate, c.CommandBurst = 1, 3 })
	cust, _ := h.customer("u-hist")
	sid := secStart(t, cust) // one command
	for i := range 2 {
		cust.send(frame{"type": "history", "session_id": sid, "req": fmt.Sprint("h", i)})
		require.Equal(t, "history", cust.expectRe(fmt.Sprint("h", i)).str("type"))
	}
	cust.send(frame{"type": "history", "session_id": sid, "req": "h-over"})
	f := cust.expectRe("h-over")
	assert.Equal(t, "rate_limited", f.str("code"), "%v", f)
	assert.True(t, f.num("retry_after_ms") > 0 && f.num("retry_after_ms") <= 1000, "%v", f)
	// Typing is not refused (it waits, and chat coalesces it).
	cust.send(frame{"type": "typing", "session_id": sid, "active": true})
	h.clock.advance(3 * time.Second)
	cust.send(frame{"type": "history", "session_id": sid, "req": "h-later"})
	require.Equal(t, "history", cust.expectRe("h-later").str("type"))
}

// TestAbuseMessageTooLong checks the maximum message length, in
// characters rather than bytes.
func TestAbuseMessageTooLong(t *testing.T) {
	h := newHarness(t)
	sid, cust, _ := secActive(t, h, "u-long", "Len")
	cust.send(frame{"type": "send", "session_id": sid, "text": strings.Repeat("é", chat.DefaultMaxMessageChars), "req": "max"})
	require.Equal(t, "sent", cust.expectRe("max").str("type"))
	cust.send(frame{"type": "send", "session_id": sid, "text": strings.Repeat("x", chat.DefaultMaxMessageChars+1), "req": "long"})
	f := cust.expectRe("long")
	assert.Equal(t, "error", f.str("type"))
	assert.Equal(t, "too_large", f.str("code"))
	customerStillUsable(t, cust)
}

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

// dialStatus tries a WebSocket upgrade and returns the HTTP status of a
// refusal (0 if the upgrade succeeded).
func dialStatus(t *testing.T, h *harness, path string) int {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(h.wsURL(path), nil)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
		return 0
	}
	require.NotNil(t, resp, "%v", err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAbuseConnsPerCustomer caps one customer's connections (4429 at
// hello) without touching other customers, and frees the slot when a
// connection ends.
func TestAbuseConnsPerCustomer(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.MaxConnsPerCustomer, c.MaxConnsPerAgent = 2, 1 })
	first, _ := h.customer("u-many")
	h.customer("u-many")
	third := h.dial("/v1/customer/ws", nil)
	third.send(frame{"type": "hello", "token": h.customerToken("u-many"), "req": "h"})
	f := third.expectRe("h")
	assert.Equal(t, "rate_limited", f.str("code"), "%v", f)
	code, _ := third.expectClose()
	assert.Equal(t, httpapi.CloseRateLimited, code)
	h.customer("u-other") // others are not affected

	require.NoError(t, first.wc.Close())
	<-first.closed
	// The slot is freed once the server has seen the close; poll for it.
	deadline := time.Now().Add(waitTime)
	for {
		c := h.dial("/v1/customer/ws", nil)
		c.send(frame{"type": "hello", "token": h.customerToken("u-many"), "req": "again"})
		if c.expectRe("again").str("type") == "welcome" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the closed connection's slot was never freed")
	}

	// Agents have their own cap.
	secAgentAccount(t, h, "Solo", 1)
	tok := h.login("Solo")
	h.agentConn(tok)
	extra := h.dial("/v1/agent/ws", nil)
	extra.send(frame{"type": "hello", "token": tok, "req": "a2"})
	assert.Equal(t, "rate_limited", extra.expectRe("a2").str("code"))
	code, _ = extra.expectClose()
	assert.Equal(t, httpapi.CloseRateLimited, code)
}

// TestAbuseConnsPerIP refuses upgrades beyond the per-address cap with
// HTTP 429, while plain HTTP (health checks) still works.
func TestAbuseConnsPerIP(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.MaxConnsPerIP = 3 })
	for range 3 {
		require.Equal(t, 0, dialStatus(t, h, "/v1/customer/ws"))
	}
	assert.Equal(t, http.StatusTooManyRequests, dialStatus(t, h, "/v1/customer/ws"))
	assert.Equal(t, http.StatusTooManyRequests, dialStatus(t, h, "/v1/agent/ws"))
	code, _ := secGet(t, h, "/healthz", "")
	assert.Equal(t, http.StatusOK, code)
}

// TestAbuseCustomerShare caps customer connections in all, so that agents
// still connect when customers have taken their share of descriptors.
func TestAbuseCustomerShare(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.MaxCustomerConns = 2 })
	h.customer("u-a")
	h.customer("u-b")
	assert.Equal(t, http.StatusServiceUnavailable, dialStatus(t, h, "/v1/customer/ws"))
	ag, _ := secAgent(t, h, "Still", 1)
	ag.available()
	code, _ := secGet(t, h, "/healthz", "")
	assert.Equal(t, http.StatusOK, code)
}

// TestDefaultMaxCustomerConns keeps a reserve below the file limit.
func TestDefaultMaxCustomerConns(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	n := httpapi.DefaultMaxCustomerConns()
	assert.Less(t, uint64(n), lim.Cur)
	assert.GreaterOrEqual(t, lim.Cur-uint64(n), uint64(64))
}

// TestAbuseSessionsListPaged lists 120 sessions of one customer: the
// socket's sessions command and GET /v1/customer/sessions answer pages
// (50 by default) with more, and the pages, followed with before, give
// every session once, newest first.
func TestAbuseSessionsListPaged(t *testing.T) {
	h := newHarness(t)
	const n = 120
	for start := 0; start < n; start += 40 {
		require.NoError(t, h.db.Update(context.Background(), func(tx *storage.Tx) error {
			for range 40 {
				now := parley.TimeOf(h.clock.now())
				r := &parley.SessionRecord{ID: parley.NewID(now.Time), State: parley.StateEnded, Customer: parley.Customer{ID: "u-hoard"},
					Agents: []parley.AgentRef{}, CreatedAt: now, QueuedAt: now, EndedAt: now, EndReason: parley.EndCustomer}
				if err := tx.PutSession(r); err != nil {
					return err
				}
				h.clock.advance(time.Millisecond)
			}
			return nil
		}))
	}
	cust, _ := h.customer("u-hoard")
	cust.send(frame{"type": "sessions", "req": "all"})
	first := cust.expectRe("all")
	require.Len(t, first.list("sessions"), parley.DefaultSessionsLimit)
	require.Equal(t, true, first["more"])

	seen := map[string]bool{}
	var last frame
	before, pages := "", 0
	for {
		cust.send(frame{"type": "sessions", "req": fmt.Sprint("p", pages), "limit": 35, "before": before})
		page := cust.expectRe(fmt.Sprint("p", pages))
		require.Equal(t, "sessions", page.str("type"), "%v", page)
		pages++
		for _, s := range page.list("sessions") {
			require.False(t, seen[s.str("id")], "session listed twice")
			seen[s.str("id")] = true
			if last != nil {
				require.GreaterOrEqual(t, last.str("created_at"), s.str("created_at"), "not newest first")
			}
			last = s
		}
		if page["more"] != true {
			break
		}
		before = last.str("id")
	}
	assert.Len(t, seen, n)
	assert.Equal(t, 4, pages)

	tok := "Bearer " + h.customerToken("u-hoard")
	code, body := secGet(t, h, "/v1/customer/sessions?limit=100", tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var f frame
	require.NoError(t, json.Unmarshal(body, &f))
	assert.Len(t, f.list("sessions"), 100)
	assert.Equal(t, true, f["more"])
	code, body = secGet(t, h, "/v1/customer/sessions?before="+f.list("sessions")[99].str("id"), tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &f))
	assert.Len(t, f.list("sessions"), 20)
	assert.Equal(t, false, f["more"])
	code, _ = secGet(t, h, "/v1/customer/sessions?limit=100000", tok)
	assert.Equal(t, http.StatusBadRequest, code)
	// A cursor from another customer's list is refused.
	code, _ = secGet(t, h, "/v1/customer/sessions?before="+last.str("id"), "Bearer "+h.customerToken("u-else"))
	assert.Equal(t, http.StatusBadRequest, code)
}

// TestAbuseReadFlood does for read receipts what TestAbuseTypingFlood
// does for typing: few pushes, and the latest one wins.
func TestAbuseReadFlood(t *testing.T) {
	h := newHarness(t, noRateLimits)
	sid, cust, ag := secActive(t, h, "u-reader", "Rex")
	cust.send(frame{"type": "send", "session_id": sid, "text": "one", "req": "one"})
	last := cust.expectRe("one").num("seq")
	start := time.Now()
	var raw []byte
	for i := range 600 {
		raw = fmt.Appendf(raw[:0], `{"type":"read","session_id":%q,"seq":%d}`, sid, 1+i%last)
		cust.sendRaw(raw)
	}
	cust.send(frame{"type": "send", "session_id": sid, "text": "done", "req": "done"})
	require.Equal(t, "sent", cust.expectRe("done").str("type"))
	var reads []frame
	ag.waitFor("done", func(f frame) bool {
		if f.str("type") == "read" {
			reads = append(reads, f)
		}
		return f.str("type") == "event" && f.obj("event").str("text") == "done"
	})
	for {
		f, err := ag.wc.WaitFor(4*chat.DefaultSignalInterval, "read", func(f frame) bool { return f.str("type") == "read" })
		if err != nil {
			break
		}
		reads = append(reads, f)
	}
	elapsed := time.Since(start)
	require.NotEmpty(t, reads)
	assert.Equal(t, 1+599%last, reads[len(reads)-1].num("seq"), "the latest read position wins")
	assert.LessOrEqual(t, len(reads), int(elapsed/chat.DefaultSignalInterval)+2, "%d read pushes in %v", len(reads), elapsed)
}
