package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/httpapi"
)

// postConnector posts body to the connector endpoint with key and returns
// the status, the decoded answer and the headers.
func (h *harness) postConnector(key string, body any) (int, frame, http.Header) {
	h.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(h.t, err)
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/connector/messages", bytes.NewReader(b))
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var out frame
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out, resp.Header
}

// connectorMsg is a connector message from customer id.
func connectorMsg(id, text, cmid, queue string) map[string]any {
	m := map[string]any{"customer": map[string]string{"id": id, "name": "Sam " + id}, "text": text, "client_msg_id": cmid}
	if queue != "" {
		m["queue"] = queue
	}
	return m
}

// servingAgent stores an agent that serves only queues.
func (h *harness) servingAgent(name string, queues ...string) {
	h.t.Helper()
	email := h.putAgent(name, 1)
	_, err := h.admin.SetAgent(context.Background(), admin.AgentSetArgs{Email: email, Queues: &queues})
	require.NoError(h.t, err)
}

// TestConnectorStartsSessionInNamedQueue: a connector message that opens
// a session starts it in the queue it names, so only an agent serving that
// queue gets it; without queue it goes to the default queue; an unknown
// queue is not_found (and opens nothing); a message for the open session
// ignores queue.
func TestConnectorStartsSessionInNamedQueue(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, err := h.admin.AddQueue(ctx, admin.QueueAddArgs{Name: "billing"})
	require.NoError(t, err)
	key, err := h.admin.AddAPIKey(ctx, admin.APIKeyAddArgs{Name: "sms"})
	require.NoError(t, err)

	status, nf, _ := h.postConnector(key.Key, connectorMsg("+1555", "Hi", "c-0", "no-such-queue"))
	require.Equal(t, http.StatusNotFound, status, "%v", nf)
	assert.Equal(t, "error", nf.str("type"))
	assert.Equal(t, "not_found", nf.str("code"))
	assert.NotEmpty(t, nf.str("message"))
	rows, err := h.admin.Queue(ctx, admin.QueueArgs{})
	require.NoError(t, err)
	assert.Empty(t, rows, "an unknown queue opens no session")

	status, billed, _ := h.postConnector(key.Key, connectorMsg("+1555", "My invoice is wrong", "c-1", "billing"))
	require.Equal(t, http.StatusCreated, status, "%v", billed)
	billingSID := billed.str("session_id")
	status, plain, _ := h.postConnector(key.Key, connectorMsg("+1666", "Hello", "d-1", ""))
	require.Equal(t, http.StatusCreated, status, "%v", plain)
	defaultSID := plain.str("session_id")
	require.NotEqual(t, billingSID, defaultSID)

	// Queue is ignored for the open session, even an unknown one.
	status, again, _ := h.postConnector(key.Key, connectorMsg("+1555", "Still there?", "c-2", "no-such-queue"))
	require.Equal(t, http.StatusCreated, status, "%v", again)
	assert.Equal(t, billingSID, again.str("session_id"))

	// Dee serves the default queue only, with one slot: the billing
	// session waited longer, yet she gets the default one.
	h.servingAgent("Dee", "default")
	dee, _ := h.agentConn(h.login("Dee"))
	dee.available()
	as := dee.expect("assigned")
	assert.Equal(t, defaultSID, as.obj("session").str("id"))
	assert.Equal(t, "default", as.obj("session").str("queue"))

	h.servingAgent("Bill", "billing")
	bill, _ := h.agentConn(h.login("Bill"))
	bill.available()
	as = bill.expect("assigned")
	assert.Equal(t, billingSID, as.obj("session").str("id"))
	assert.Equal(t, "billing", as.obj("session").str("queue"))
	assert.Equal(t, "connector:sms:+1555", as.obj("session").obj("customer").str("id"))
	dee.noFrameBefore(frame{"type": "sessions", "req": h.req()}, func(f frame) bool { return f.str("type") == "assigned" })
}

// TestConnectorRateLimitPerKey: one API key over its rate is answered 429
// rate_limited with retry_after_ms and Retry-After, counted in
// parley_limits_hit_total; another key is unaffected, and the key may
// send again once its bucket refills.
func TestConnectorRateLimitPerKey(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.ConnectorRate, c.ConnectorBurst = 0.01, 2 }) // one per 100 s
	ctx := context.Background()
	a, err := h.admin.AddAPIKey(ctx, admin.APIKeyAddArgs{Name: "sms"})
	require.NoError(t, err)
	b, err := h.admin.AddAPIKey(ctx, admin.APIKeyAddArgs{Name: "chat-app"})
	require.NoError(t, err)

	for i := range 2 {
		status, f, _ := h.postConnector(a.Key, connectorMsg("+1555", "msg", "a-"+strconv.Itoa(i), ""))
		require.Equal(t, http.StatusCreated, status, "%v", f)
	}
	status, f, hdr := h.postConnector(a.Key, connectorMsg("+1555", "msg", "a-2", ""))
	require.Equal(t, http.StatusTooManyRequests, status, "%v", f)
	assert.Equal(t, "error", f.str("type"))
	assert.Equal(t, "rate_limited", f.str("code"))
	ms := f.num("retry_after_ms")
	assert.Greater(t, ms, 90_000, "about 100 s until the next token")
	assert.LessOrEqual(t, ms, 100_000)
	secs, err := strconv.Atoi(hdr.Get("Retry-After"))
	require.NoError(t, err, "Retry-After: %q", hdr.Get("Retry-After"))
	assert.Equal(t, (ms+999)/1000, secs)

	status, f, _ = h.postConnector(b.Key, connectorMsg("+1555", "msg", "b-0", ""))
	assert.Equal(t, http.StatusCreated, status, "another key is unaffected: %v", f)

	h.clock.advance(101 * time.Second)
	status, f, _ = h.postConnector(a.Key, connectorMsg("+1555", "msg", "a-2", ""))
	assert.Equal(t, http.StatusCreated, status, "the bucket refilled: %v", f)
	assert.Equal(t, 4, f.num("seq"), "the refused message was not stored")

	assert.Contains(t, scrape(t, h), `parley_limits_hit_total{limit="connector_rate"} 1`)
}
