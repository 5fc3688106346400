package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeLogFormatJSON: with --log-format json every log line is one
// JSON object with time, level and msg; WebSocket connections are logged
// (at debug) with the client address and the request id.
func TestServeLogFormatJSON(t *testing.T) {
	s := startServe(t, env{"PARLEY_LOG_FORMAT": "json"}, "--data", t.TempDir(), "--log-level", "debug")
	dialWS(t, s.addr, "/v1/customer/ws")
	s.errOut.waitMatch(t, regexp.MustCompile(`"msg":"websocket opened"`), s.done)
	require.Equal(t, 0, s.stop(t))
	lines := strings.Split(strings.TrimSpace(s.errOut.String()), "\n")
	require.NotEmpty(t, lines)
	var opened map[string]any
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "not JSON: %s", l)
		for _, k := range []string{"time", "level", "msg"} {
			assert.Contains(t, m, k, l)
		}
		if m["msg"] == "websocket opened" {
			opened = m
		}
	}
	require.NotNil(t, opened)
	assert.Equal(t, "127.0.0.1", opened["client"])
	assert.Equal(t, "customer", opened["role"])
	assert.NotEmpty(t, opened["request_id"])
}
