package cli_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
)

// TestServeRefusesShortCustomerSecret: a secret under 32 bytes can be
// brute-forced from one token; serve refuses it instead of using it.
func TestServeRefusesShortCustomerSecret(t *testing.T) {
	runFail(t, env{}, "", "at least 32", "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--customer-secret", "short-secret")
	runFail(t, env{"PARLEY_CUSTOMER_SECRET": "short-secret"}, "", "at least 32", "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
}

// TestServeCustomerSecretFile: the secret can come from a file, so it does
// not appear on the command line; a file others can read is warned about,
// as is a data directory others can read.
func TestServeCustomerSecretFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	secret := "file-secret-0123456789abcdef0123456789"
	require.NoError(t, os.WriteFile(file, []byte(secret+"\n"), 0o600))
	data := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(data, 0o700))

	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0", "--customer-secret-file", file)
	tok, err := auth.SignCustomer([]byte(secret), parley.Customer{ID: "u-file"}, time.Hour, time.Now())
	require.NoError(t, err)
	_, w := customerWS(t, s.addr, tok)
	assert.Equal(t, "u-file", w.obj("customer").str("id"))
	assert.NotContains(t, s.errOut.String(), "accessible to other users")
	require.Equal(t, 0, s.stop(t))
	assert.NoFileExists(t, filepath.Join(data, "customer-secret"))

	require.NoError(t, os.Chmod(file, 0o644))
	require.NoError(t, os.Chmod(data, 0o755))
	s = startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0", "--customer-secret-file", file)
	s.errOut.waitMatch(t, regexp.MustCompile(`customer secret file is accessible to other users.*`+regexp.QuoteMeta(file)), s.done)
	s.errOut.waitMatch(t, regexp.MustCompile(`data directory is accessible to other users`), s.done)
	require.Equal(t, 0, s.stop(t))

	runFail(t, env{}, "", "not both", "serve", "--data", data, "--listen", "127.0.0.1:0", "--customer-secret-file", file, "--customer-secret", secret)
	require.NoError(t, os.WriteFile(file, []byte("too-short"), 0o600))
	runFail(t, env{}, "", "at least 32", "serve", "--data", data, "--listen", "127.0.0.1:0", "--customer-secret-file", file)
}

// TestServeMetricsListen: /metrics is served only on --metrics-listen,
// never on the public listener.
func TestServeMetricsListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s := startServe(t, env{}, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--metrics-listen", addr)
	client := &http.Client{Timeout: waitTime}
	resp, err := client.Get(s.url("/metrics"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, err = client.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "parley_open_sessions")
}

// TestAgentLogoutCommand: parley agent logout closes the agent's sockets
// with 4401 and its token stops working; it signs in again with its
// password, online and offline alike.
func TestAgentLogoutCommand(t *testing.T) {
	data := t.TempDir()
	runOK(t, env{}, "pw-dana-secret\n", "agent", "add", "--name", "Dana", "--email", "dana@example.com", "--password-stdin", "--data", data)
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	status, token := login(t, s.addr, "dana@example.com", "pw-dana-secret")
	require.Equal(t, http.StatusOK, status)
	ag, _ := agentWS(t, s.addr, token)
	runOK(t, env{}, "", "agent", "logout", "dana@example.com", "--data", data)
	code, text, err := ag.wc.WaitClose(waitTime)
	require.NoError(t, err)
	assert.Equal(t, 4401, code)
	assert.Equal(t, "signed out; sign in again", text)

	status, token = login(t, s.addr, "dana@example.com", "pw-dana-secret")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 0, s.stop(t))
	// Offline: the token from before is refused after the next start.
	runOK(t, env{}, "", "agent", "logout", "dana@example.com", "--data", data)
	s = startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")

	c := dialWS(t, s.addr, "/v1/agent/ws")
	c.mustSend(frame{"type": "hello", "token": token, "req": "h"})
	assert.Equal(t, "unauthorized", c.expectRe("h").str("code"))
	runFail(t, env{}, "", "No agent with email nobody@example.com", "agent", "logout", "nobody@example.com", "--data", data)
}

// TestTokenCustomerSecretFile: parley token signs with the secret from a
// file, as serve verifies with it; a short secret is refused, and a
// lifetime the server would refuse by default is warned about.
func TestTokenCustomerSecretFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	secret := "file-secret-0123456789abcdef0123456789"
	require.NoError(t, os.WriteFile(file, []byte(secret+"\n"), 0o600))

	r := runCLI(t, env{}, "", "token", "--sub", "u-1", "--customer-secret-file", file)
	require.Equal(t, 0, r.code, r.err)
	c, err := auth.VerifyCustomer([]byte(secret), strings.TrimSpace(r.out), time.Now())
	require.NoError(t, err)
	assert.Equal(t, "u-1", c.ID)
	assert.Empty(t, r.err)

	r = runCLI(t, env{}, "", "token", "--sub", "u-1", "--customer-secret-file", file, "--ttl", "48h")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.err, "refuses a token valid for 48h")

	require.NoError(t, os.WriteFile(file, []byte("too-short"), 0o600))
	runFail(t, env{}, "", "at least 32", "token", "--sub", "u-1", "--customer-secret-file", file)
	runFail(t, env{}, "", "at least 32", "token", "--sub", "u-1", "--customer-secret", "short")
}
