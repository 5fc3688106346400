package cli_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/cli"
)

var reissuedRe = regexp.MustCompile(`The agent (\S+) never signed in; its new one-time password: (\S+)`)

// loginBody posts body to the login endpoint and returns the status and
// the decoded answer.
func loginBody(t *testing.T, addr string, body map[string]string) (int, frame) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := (&http.Client{Timeout: waitTime}).Post("http://"+addr+"/v1/agent/login", "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out frame
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// changePassword signs in with a password and sets a new one, returning
// the status and the token.
func changePassword(t *testing.T, addr, email, password, newPassword string) (int, string) {
	t.Helper()
	status, out := loginBody(t, addr, map[string]string{"email": email, "password": password, "new_password": newPassword})
	return status, out.str("token")
}

// TestFirstRunPasswordSurvivesFailedStart: a first start that cannot
// listen shows no password and creates no agent; the next start creates
// the agent; and each later start before anyone signed in reissues a
// one-time password (only hashes are stored, so the old one cannot be
// shown again).
func TestFirstRunPasswordSurvivesFailedStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	r := runCLI(t, env{}, "", "serve", "--data", data, "--listen", busy.Addr().String())
	require.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "listen")
	assert.NotContains(t, r.out, "one-time password", "a failed start must not show a password it then loses")

	s := startServe(t, env{}, "--data", data)
	m := firstAgentRe.FindStringSubmatch(s.out.String())
	require.NotNil(t, m, "the next start creates the first agent: %q", s.out.String())
	first := m[2]
	require.Equal(t, 0, s.stop(t))

	s = startServe(t, env{}, "--data", data)
	assert.NotContains(t, s.out.String(), "Created the first agent")
	m = reissuedRe.FindStringSubmatch(s.out.String())
	require.NotNil(t, m, "an unused one-time password is reissued: %q", s.out.String())
	assert.Equal(t, "admin@localhost", m[1])
	second := m[2]
	assert.NotEqual(t, first, second)
	status, _ := login(t, s.addr, "admin@localhost", first)
	assert.Equal(t, http.StatusUnauthorized, status, "the replaced one-time password is void")
	status, token := changePassword(t, s.addr, "admin@localhost", second, "my-own-password")
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, token)
	require.Equal(t, 0, s.stop(t))

	s = startServe(t, env{}, "--data", data)
	assert.NotContains(t, s.out.String(), "one-time password", "a used one-time password is not reissued")
	status, _ = login(t, s.addr, "admin@localhost", "my-own-password")
	assert.Equal(t, http.StatusOK, status)
}

// TestOneTimePasswordMustBeChanged: signing in with the one-time password
// alone is refused with password_change_required; a short new password is
// refused; a good one is set, returns a token and voids the one-time one.
func TestOneTimePasswordMustBeChanged(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, env{}, "--data", data)
	m := firstAgentRe.FindStringSubmatch(s.out.String())
	require.NotNil(t, m)
	email, otp := m[1], m[2]

	for range 2 { // not just once: the one-time password never works alone
		status, out := loginBody(t, s.addr, map[string]string{"email": email, "password": otp})
		assert.Equal(t, http.StatusForbidden, status)
		assert.Equal(t, "forbidden", out.str("code"))
		assert.Contains(t, out.str("message"), "new password is required")
		assert.Equal(t, true, out["password_change_required"])
		assert.Empty(t, out.str("token"))
	}
	status, out := loginBody(t, s.addr, map[string]string{"email": email, "password": otp, "new_password": "short-pw"})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, out.str("message"), "at least 12 characters")
	status, out = loginBody(t, s.addr, map[string]string{"email": email, "password": "wrong-password", "new_password": "a-good-new-password"})
	assert.Equal(t, http.StatusUnauthorized, status, "the old password is checked first")

	status, token := changePassword(t, s.addr, email, otp, "a-good-new-password")
	require.Equal(t, http.StatusOK, status)
	_, w := agentWS(t, s.addr, token)
	assert.Equal(t, email, w.obj("agent").str("email"))
	status, _ = login(t, s.addr, email, otp)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = login(t, s.addr, email, "a-good-new-password")
	assert.Equal(t, http.StatusOK, status, "an agent with a chosen password signs in without new_password")
}

// TestShortPasswordsRefused: every way of setting a password refuses one
// shorter than 12 characters.
func TestShortPasswordsRefused(t *testing.T) {
	data := t.TempDir()
	runOK(t, env{}, "long-enough-pw\n", "agent", "add", "--name", "Bob", "--email", "bob@example.com", "--password-stdin", "--data", data)
	runFail(t, env{}, "eleven-char\n", "at least 12 characters",
		"agent", "add", "--name", "Dan", "--email", "dan@example.com", "--password-stdin", "--data", data)
	runFail(t, env{}, "eleven-char\n", "at least 12 characters", "agent", "set", "bob@example.com", "--password-stdin", "--data", data)
	assert.NotContains(t, listJSON(t, data), "dan@example.com")
}

// TestTokenNeedsDataDir: token on a data directory that does not exist
// fails like the other commands and creates nothing.
func TestTokenNeedsDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "missing")
	runFail(t, env{}, "", "no Parley data directory at "+data+"; run parley serve first or pass --data", "token", "--sub", "u-1", "--data", data)
	assert.NoDirExists(t, data)
	// With the secret given, no data directory is needed.
	out := runOK(t, env{}, "", "token", "--sub", "u-1", "--customer-secret", strings.Repeat("k", 32), "--data", data)
	assert.NotEmpty(t, strings.TrimSpace(out))
	assert.NoDirExists(t, data)
}

// TestTokenTTLDays: --ttl takes days and weeks like the other durations.
func TestTokenTTLDays(t *testing.T) {
	secret := strings.Repeat("k", 32)
	for ttl, want := range map[string]time.Duration{"1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour, "90m": 90 * time.Minute} {
		before := time.Now()
		var out struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "token", "--sub", "u-1", "--ttl", ttl, "--json", "--customer-secret", secret)), &out), ttl)
		assert.WithinDuration(t, before.Add(want), out.ExpiresAt, time.Minute, ttl)
		c, err := auth.VerifyCustomer([]byte(secret), out.Token, before.Add(want-time.Minute))
		require.NoError(t, err, ttl)
		assert.Equal(t, "u-1", c.ID)
	}
	runFail(t, env{}, "", "not a duration", "token", "--sub", "u-1", "--ttl", "soon", "--customer-secret", secret)
}

// TestPurgeDefaultsToRetention: purge without --older-than purges by the
// retention: 90 days, or PARLEY_RETENTION (or --retention) when set.
func TestPurgeDefaultsToRetention(t *testing.T) {
	d := a3Seed(t)
	var res struct {
		Cutoff   string `json:"cutoff"`
		Sessions int    `json:"sessions"`
	}
	before := time.Now()
	a3JSON(t, &res, "purge", "--dry-run", "--data", d.dir)
	assert.Equal(t, 3, res.Sessions, "ended 100, 100 and 95 days ago (no hold placed)")
	cutoff, err := time.Parse(time.RFC3339, res.Cutoff)
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(-90*24*time.Hour), cutoff, time.Minute)

	var out bytes.Buffer
	code := cli.Main(t.Context(), []string{"purge", "--dry-run", "--json", "--data", d.dir},
		cli.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, env{"PARLEY_RETENTION": "5d"}.lookup)
	require.Equal(t, 0, code, out.String())
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	assert.Equal(t, 5, res.Sessions, "the 10- and 30-day-old ones too")
	runFail(t, env{"PARLEY_RETENTION": "0"}, "", "pass --older-than", "purge", "--data", d.dir)
}

// TestStatsJSONKeepsZeros: stats --json prints every count, zeros too.
func TestStatsJSONKeepsZeros(t *testing.T) {
	data := t.TempDir()
	runOK(t, env{}, "long-enough-pw\n", "agent", "add", "--name", "Bob", "--email", "bob@example.com", "--password-stdin", "--data", data)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "stats", "--json", "--data", data)), &m))
	for _, k := range []string{"online", "open_sessions", "queued", "oldest_wait_s", "agents_by_status", "connections", "database_bytes", "messages_since_start"} {
		assert.Contains(t, m, k)
	}
	assert.Equal(t, float64(0), m["connections"])
	assert.Equal(t, float64(0), m["messages_since_start"])
}

// TestVersion prints the build's version, in text and JSON.
func TestVersion(t *testing.T) {
	out := runOK(t, env{}, "", "version")
	assert.True(t, strings.HasPrefix(out, "parley "), out)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "version", "--json")), &v))
	for _, k := range []string{"module", "version", "revision", "modified", "build_time", "go"} {
		assert.Contains(t, v, k)
	}
	assert.NotEmpty(t, v["version"])
}

// TestUnknownSubcommandFails walks the command tree: for every command
// group, an unknown subcommand fails with a clear error and exit 1, while
// the group alone still prints its help and succeeds.
func TestUnknownSubcommandFails(t *testing.T) {
	root := cli.NewRootCmd(cli.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, env{}.lookup)
	var groups [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			p := append(append([]string{}, path...), sub.Name())
			if sub.HasSubCommands() {
				groups = append(groups, p)
			}
			walk(sub, p)
		}
	}
	walk(root, nil)
	require.GreaterOrEqual(t, len(groups), 5, "agent, queue, sessions, hold, audit at least: %v", groups)
	for _, g := range groups {
		runFail(t, env{}, "", `unknown command "bogus" for "parley `+strings.Join(g, " ")+`"`, append(g, "bogus")...)
		out := runOK(t, env{}, "", g...)
		assert.Contains(t, out, "Available Commands", g)
	}
}

// TestErrorsReadCleanly: errors from deep down print once, without Go
// type names or repeated paths.
func TestErrorsReadCleanly(t *testing.T) {
	data := t.TempDir()
	runOK(t, env{}, "long-enough-pw\n", "agent", "add", "--name", "Bob", "--email", "bob@example.com", "--password-stdin", "--data", data)
	r := runCLI(t, env{}, "long-enough-pw\n", "agent", "add", "--name", "Bob", "--email", "bob@example.com", "--password-stdin", "--data", data)
	require.Equal(t, 1, r.code)
	assert.Equal(t, "parley: Another agent already uses that e-mail address.\n", r.err)

	missing := filepath.Join(t.TempDir(), "nothing-here")
	for _, args := range [][]string{{"agent", "ls"}, {"compact"}, {"stats"}} {
		r := runCLI(t, env{}, "", append(args, "--data", missing)...)
		require.Equal(t, 1, r.code, args)
		assert.Equal(t, "parley: no Parley data directory at "+missing+"; run parley serve first or pass --data\n", r.err, args)
	}
	assert.NoDirExists(t, missing)

	// A file error names its path once.
	bad := filepath.Join(t.TempDir(), "backup.db")
	require.NoError(t, os.WriteFile(bad, []byte("not a database"), 0o600))
	r = runCLI(t, env{}, "", "check", bad)
	require.Equal(t, 1, r.code)
	assert.Equal(t, 1, strings.Count(r.err, bad), "path repeated in %q", r.err)
	assert.NotContains(t, r.err, "parley error")
}
