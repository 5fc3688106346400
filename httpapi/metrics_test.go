package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/httpapi"
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

// scrape returns the text of /metrics of h's metrics handler.
func scrape(t *testing.T, h *harness) string {
	t.Helper()
	ms := httptest.NewServer(h.api.MetricsHandler())
	defer ms.Close()
	resp, err := http.Get(ms.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// TestMetricsLimitsAndCommitLatency: a refusal by a limit is counted
// under the limit's flag name, every limit is exported (at 0 until hit),
// and group commits feed the commit latency histogram.
func TestMetricsLimitsAndCommitLatency(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.MaxConnsPerCustomer = 1 })
	cust, _ := h.customer("lim-1")
	cust.send(frame{"type": "start", "req": "s"})
	cust.expectRe("s")
	second := h.dial("/v1/customer/ws", nil)
	second.send(frame{"type": "hello", "token": h.customerToken("lim-1"), "req": "h"})
	require.Equal(t, "rate_limited", second.expectRe("h").str("code"))

	text := scrape(t, h)
	assert.Contains(t, text, `parley_limits_hit_total{limit="max_conns_per_customer"} 1`)
	for _, name := range []string{"max_conns_per_ip", "max_customer_conns", "max_conns_per_agent", "send_rate", "command_rate", "login", "anonymous_per_minute", "connector_rate", "uploads_per_minute"} {
		assert.Contains(t, text, `parley_limits_hit_total{limit="`+name+`"} 0`)
	}
	assert.Regexp(t, `parley_storage_commit_duration_seconds_bucket\{le="\+Inf"\} [1-9]`, text)
	assert.Regexp(t, `parley_storage_commit_duration_seconds_count [1-9]`, text)
	assert.Contains(t, text, `parley_storage_commit_duration_seconds_bucket{le="0.001"}`)
	assert.Contains(t, text, "go_build_info")
}
