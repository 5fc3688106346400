package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetrics checks that /metrics serves Prometheus text with the hub's
// counters and gauges after some traffic.
func TestMetrics(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("met-1")
	cust.send(frame{"type": "start", "req": "s"})
	cust.expectRe("s")
	cust.send(frame{"type": "send", "text": "hi", "client_msg_id": "m1", "req": "m"})
	require.Equal(t, "sent", cust.expectRe("m").str("type"))
	cust.send(frame{"type": "send", "text": "hi", "client_msg_id": "m1", "req": "m2"})
	require.Equal(t, true, cust.expectRe("m2")["duplicate"])

	// Not on the public listener.
	code, _, _ := h.get("/metrics", "")
	require.Equal(t, http.StatusNotFound, code)

	ms := httptest.NewServer(h.api.MetricsHandler())
	defer ms.Close()
	resp, err := http.Get(ms.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	hdr := resp.Header
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, hdr.Get("Content-Type"), "text/plain")
	text := string(body)
	for _, want := range []string{
		"parley_messages_total 1",
		"parley_duplicate_sends_total 1",
		"parley_open_sessions 1",
		"parley_queue_waiting 1",
		`parley_connections{role="customer"} 1`,
		`parley_agents{status="available"} 0`,
		"parley_storage_commits_total",
		"go_goroutines",
	} {
		assert.Contains(t, text, want)
	}
}
