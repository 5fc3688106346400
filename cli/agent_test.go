package cli_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/storage"
)

// agentHeader is the header of agent tables.
var agentHeader = []string{"ID", "NAME", "EMAIL", "CAPACITY", "ACTIVE", "STATUS", "QUEUES"}

// parseAgentTable checks that a table's header is agentHeader and that
// every cell starts at its header's column, and returns the rows keyed by
// email, each row keyed by column name.
func parseAgentTable(t *testing.T, out string) map[string]map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.NotEmpty(t, lines)
	header := lines[0]
	require.Equal(t, agentHeader, strings.Fields(header), "header of\n%s", out)
	starts := make([]int, len(agentHeader))
	for i, h := range agentHeader {
		starts[i] = strings.Index(header, h)
		if i > 0 {
			require.Greater(t, starts[i], starts[i-1])
		}
	}
	rows := map[string]map[string]string{}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, h := range agentHeader {
			require.Greater(t, len(line), starts[i], "short row %q", line)
			if i > 0 {
				assert.Equal(t, byte(' '), line[starts[i]-1], "column %s not aligned in %q", h, line)
			}
			end := len(line)
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			require.NotEqual(t, byte(' '), line[starts[i]], "column %s not aligned in %q", h, line)
			row[h] = strings.TrimSpace(line[starts[i]:end])
		}
		rows[row["EMAIL"]] = row
	}
	return rows
}

// listJSON runs agent ls --json.
func listJSON(t *testing.T, data string) map[string]admin.AgentRow {
	t.Helper()
	out := runOK(t, env{}, "", "agent", "ls", "--json", "--data", data)
	var rows []admin.AgentRow
	require.NoError(t, json.Unmarshal([]byte(out), &rows), "agent ls --json printed %q", out)
	m := map[string]admin.AgentRow{}
	for _, r := range rows {
		m[r.Email] = r
	}
	return m
}

// agentCommands runs the agent commands on data and checks their output and
// errors. stopped tells whether a server runs.
func agentCommands(t *testing.T, data, stopped string) {
	d := []string{"--data", data}
	args := func(a ...string) []string { return append(a, d...) }

	out := runOK(t, env{}, "pw-bob-secret\n", args("agent", "add", "--name", "Bob", "--email", "bob@example.com", "--capacity", "3", "--password-stdin")...)
	rows := parseAgentTable(t, out)
	require.Len(t, rows, 1)
	bob := rows["bob@example.com"]
	assert.Equal(t, "Bob", bob["NAME"])
	assert.Equal(t, "3", bob["CAPACITY"])
	assert.Equal(t, "0", bob["ACTIVE"])
	assert.Len(t, bob["ID"], 26, "a ULID")

	// A name with a space and a password line ending in CRLF.
	runOK(t, env{}, "pw-carol-secret\r\n", args("agent", "add", "--name", "Carol Ann", "--email", "carol@example.com", "--password-stdin")...)

	rows = parseAgentTable(t, runOK(t, env{}, "", args("agent", "ls")...))
	require.Contains(t, rows, "bob@example.com")
	require.Contains(t, rows, "carol@example.com")
	assert.Equal(t, "Carol Ann", rows["carol@example.com"]["NAME"])
	assert.Equal(t, "2", rows["carol@example.com"]["CAPACITY"], "default capacity")
	assert.Equal(t, stopped, rows["bob@example.com"]["STATUS"])

	js := listJSON(t, data)
	require.Contains(t, js, "bob@example.com")
	assert.Equal(t, bob["ID"], js["bob@example.com"].ID)
	assert.Equal(t, 3, js["bob@example.com"].Capacity)
	assert.Equal(t, stopped, js["bob@example.com"].Status)
	assert.False(t, js["bob@example.com"].Disabled)

	out = runOK(t, env{}, "", args("agent", "set", "bob@example.com", "--capacity", "5")...)
	assert.Equal(t, "5", parseAgentTable(t, out)["bob@example.com"]["CAPACITY"])
	assert.Equal(t, 5, listJSON(t, data)["bob@example.com"].Capacity)
	assert.Equal(t, "Bob", listJSON(t, data)["bob@example.com"].Name, "set changes only what it is given")

	// Errors go to standard error with exit code 1.
	runFail(t, env{}, "other-password\n", "Another agent already uses that e-mail address",
		args("agent", "add", "--name", "Bob2", "--email", "bob@example.com", "--password-stdin")...)
	runFail(t, env{}, "", "No agent with email nobody@example.com", args("agent", "set", "nobody@example.com", "--capacity", "4")...)
	runFail(t, env{}, "", "No agent with email nobody@example.com", args("agent", "disable", "nobody@example.com")...)
	runFail(t, env{}, "", "capacity must be between 1 and 100", args("agent", "set", "bob@example.com", "--capacity", "0")...)
	runFail(t, env{}, "", "capacity must be between 1 and 100", args("agent", "set", "bob@example.com", "--capacity", "101")...)
	runFail(t, env{}, "pw\n", "capacity must be between 1 and 100",
		args("agent", "add", "--name", "Dan", "--email", "dan@example.com", "--capacity", "0", "--password-stdin")...)
	runFail(t, env{}, "pw\n", "capacity must be between 1 and 100",
		args("agent", "add", "--name", "Dan", "--email", "dan@example.com", "--capacity", "-1", "--password-stdin")...)
	runFail(t, env{}, "pw\n", "invalid argument", args("agent", "set", "bob@example.com", "--capacity", "many")...)
	runFail(t, env{}, "pw\n", "not a valid address", args("agent", "add", "--name", "Dan", "--email", "dan", "--password-stdin")...)
	runFail(t, env{}, "pw\n", "--password-stdin", args("agent", "add", "--name", "Dan", "--email", "dan@example.com")...)
	runFail(t, env{}, "", "read password from standard input", args("agent", "add", "--name", "Dan", "--email", "dan@example.com", "--password-stdin")...)
	runFail(t, env{}, "\n", "empty", args("agent", "add", "--name", "Dan", "--email", "dan@example.com", "--password-stdin")...)
	runFail(t, env{}, "pw\n", "required flag", args("agent", "add", "--email", "dan@example.com", "--password-stdin")...)
	assert.NotContains(t, listJSON(t, data), "dan@example.com", "failed adds store nothing")
	assert.Equal(t, 5, listJSON(t, data)["bob@example.com"].Capacity, "failed sets change nothing")

	out = runOK(t, env{}, "", args("agent", "disable", "carol@example.com")...)
	assert.Equal(t, "disabled", parseAgentTable(t, out)["carol@example.com"]["STATUS"])
	assert.True(t, listJSON(t, data)["carol@example.com"].Disabled)
	out = runOK(t, env{}, "", args("agent", "set", "carol@example.com", "--enable")...)
	assert.NotEqual(t, "disabled", parseAgentTable(t, out)["carol@example.com"]["STATUS"])
	runOK(t, env{}, "", args("agent", "disable", "carol@example.com")...)
}

// TestAgentCommandsOffline runs the agent commands on the file of a stopped
// server, then checks that a server started on it sees the result.
func TestAgentCommandsOffline(t *testing.T) {
	data := t.TempDir()
	agentCommands(t, data, "(server stopped)")
	assert.NoFileExists(t, filepath.Join(data, "admin.sock"))

	// The server finds agents, so it creates no first one.
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	assert.NotContains(t, s.out.String(), "Created the first agent")
	status, _ := login(t, s.addr, "bob@example.com", "pw-bob-secret")
	assert.Equal(t, http.StatusOK, status)
	status, _ = login(t, s.addr, "carol@example.com", "pw-carol-secret")
	assert.Equal(t, http.StatusUnauthorized, status, "carol is disabled")
	rows := listJSON(t, data)
	assert.Equal(t, "offline", rows["bob@example.com"].Status)
	assert.Equal(t, 5, rows["bob@example.com"].Capacity)
	require.Equal(t, 0, s.stop(t))

	// Changing a password offline.
	runOK(t, env{}, "new-pw-secret-1\n", "agent", "set", "bob@example.com", "--password-stdin", "--data", data)
	s = startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	status, _ = login(t, s.addr, "bob@example.com", "pw-bob-secret")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = login(t, s.addr, "bob@example.com", "new-pw-secret-1")
	assert.Equal(t, http.StatusOK, status)
}

// TestAgentCommandsOnline runs the agent commands through the admin socket
// of a running server and checks that changes reach it live.
func TestAgentCommandsOnline(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	// The database is locked by the server, so success means the commands
	// went through the socket.
	agentCommands(t, data, "offline")

	status, token := login(t, s.addr, "bob@example.com", "pw-bob-secret")
	require.Equal(t, http.StatusOK, status)
	status, _ = login(t, s.addr, "carol@example.com", "pw-carol-secret")
	assert.Equal(t, http.StatusUnauthorized, status, "carol is disabled")
	ag, w := agentWS(t, s.addr, token)
	assert.Equal(t, 5, w.obj("agent").num("capacity"))
	ag.mustSend(frame{"type": "status", "status": "available", "req": "st"})
	assert.Equal(t, "available", ag.expectRe("st").str("status"))
	rows := parseAgentTable(t, runOK(t, env{}, "", "agent", "ls", "--data", data))
	assert.Equal(t, "available", rows["bob@example.com"]["STATUS"])
	assert.Equal(t, "available", listJSON(t, data)["bob@example.com"].Status)

	// A customer is routed to bob; ls shows the active chat.
	secret, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	tok, err := auth.SignCustomer(bytes.TrimSpace(secret), customer("u-1"), time.Hour, time.Now())
	require.NoError(t, err)
	cust, _ := customerWS(t, s.addr, tok)
	cust.mustSend(frame{"type": "start", "req": "s"})
	cust.expectRe("s")
	ag.expect("assigned")
	assert.Equal(t, 1, listJSON(t, data)["bob@example.com"].Active)

	// A capacity change reaches the connected agent.
	runOK(t, env{}, "", "agent", "set", "bob@example.com", "--capacity", "7", "--data", data)
	ag.waitFor("agent_status with capacity 7", func(f frame) bool {
		return f.str("type") == "agent_status" && f.num("capacity") == 7
	})
	assert.Equal(t, 7, listJSON(t, data)["bob@example.com"].Capacity)

	// Disabling bob stops him from signing in again.
	runOK(t, env{}, "", "agent", "disable", "bob@example.com", "--data", data)
	status, _ = login(t, s.addr, "bob@example.com", "pw-bob-secret")
	assert.Equal(t, http.StatusUnauthorized, status)

	require.Equal(t, 0, s.stop(t))
	rows = parseAgentTable(t, runOK(t, env{}, "", "agent", "ls", "--data", data))
	assert.Equal(t, "disabled", rows["bob@example.com"]["STATUS"])
	assert.Equal(t, "(server stopped)", rows["admin@localhost"]["STATUS"])
}

// TestAgentLsLockedFile holds the database open while no admin socket
// answers: the command must fail quickly and say why.
func TestAgentLsLockedFile(t *testing.T) {
	data := t.TempDir()
	db, err := storage.Open(filepath.Join(data, "parley.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()

	check := func() {
		t.Helper()
		start := time.Now()
		r := runCLI(t, env{}, "", "agent", "ls", "--data", data)
		assert.Less(t, time.Since(start), 3*time.Second)
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.err, "locked by a running server")
		assert.Contains(t, r.err, "admin socket")
		assert.Contains(t, r.err, "does not answer")
		assert.Empty(t, r.out)
	}
	check()

	// The same with a stale socket file nobody listens on.
	ln, err := net.Listen("unix", filepath.Join(data, "admin.sock"))
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	require.FileExists(t, filepath.Join(data, "admin.sock"))
	check()
}

// TestAgentNoDataDir names the missing directory.
func TestAgentNoDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "missing")
	runFail(t, env{}, "", "no Parley data directory at "+data, "agent", "ls", "--data", data)
	assert.NoDirExists(t, data)
}

// TestAgentEnv checks PARLEY_DATA and PARLEY_JSON, and that flags win.
func TestAgentEnv(t *testing.T) {
	data := t.TempDir()
	e := env{"PARLEY_DATA": data}
	runOK(t, e, "pw-eve-secret\n", "agent", "add", "--name", "Eve", "--email", "eve@example.com", "--password-stdin")
	assert.FileExists(t, filepath.Join(data, "parley.db"))

	out := runOK(t, env{"PARLEY_DATA": data, "PARLEY_JSON": "true"}, "", "agent", "ls")
	var rows []admin.AgentRow
	require.NoError(t, json.Unmarshal([]byte(out), &rows), "PARLEY_JSON=true gives JSON: %q", out)
	require.Len(t, rows, 1)
	assert.Equal(t, "eve@example.com", rows[0].Email)

	// --data beats PARLEY_DATA, --json=false beats PARLEY_JSON.
	missing := filepath.Join(t.TempDir(), "missing")
	out = runOK(t, env{"PARLEY_DATA": missing, "PARLEY_JSON": "true"}, "", "agent", "ls", "--data", data, "--json=false")
	assert.Contains(t, parseAgentTable(t, out), "eve@example.com")
	runFail(t, env{"PARLEY_DATA": missing}, "", "no Parley data directory", "agent", "ls")
	runFail(t, env{"PARLEY_JSON": "sometimes"}, "", "PARLEY_JSON", "agent", "ls", "--data", data)
}

// TestToken mints customer tokens with the data directory's secret or a
// configured one.
func TestToken(t *testing.T) {
	data := t.TempDir()
	out := runOK(t, env{}, "", "token", "--data", data, "--sub", "u-1", "--name", "Ada")
	tok := strings.TrimSpace(out)
	assert.Equal(t, tok+"\n", out, "one line")
	secretFile := filepath.Join(data, "customer-secret")
	requireMode(t, secretFile, 0o600)
	secret, err := os.ReadFile(secretFile)
	require.NoError(t, err)
	secret = bytes.TrimSpace(secret)
	c, err := auth.VerifyCustomer(secret, tok, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "u-1", c.ID)
	assert.Equal(t, "Ada", c.Name)
	_, err = auth.VerifyCustomer(secret, tok, time.Now().Add(61*time.Minute))
	assert.Error(t, err, "the default ttl is an hour")

	// The secret file is kept, so a running server accepts the tokens.
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	after, err := os.ReadFile(secretFile)
	require.NoError(t, err)
	assert.Equal(t, secret, bytes.TrimSpace(after))
	_, w := customerWS(t, s.addr, tok)
	assert.Equal(t, "Ada", w.obj("customer").str("name"))

	out = runOK(t, env{}, "", "token", "--data", data, "--sub", "u-2", "--email", "b@example.com",
		"--profile", `{"plan":"pro"}`, "--ttl", "2m", "--json")
	var js struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &js))
	c, err = auth.VerifyCustomer(secret, js.Token, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "u-2", c.ID)
	assert.Equal(t, "b@example.com", c.Email)
	assert.JSONEq(t, `{"plan":"pro"}`, string(c.Profile))
	exp, err := time.Parse(time.RFC3339, js.ExpiresAt)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(2*time.Minute), exp, 10*time.Second)

	// PARLEY_CUSTOMER_SECRET, and the flag over it.
	envSecret := "env-secret-0123456789abcdef0123456789"
	tok = strings.TrimSpace(runOK(t, env{"PARLEY_CUSTOMER_SECRET": envSecret, "PARLEY_DATA": data}, "", "token", "--sub", "u-3"))
	_, err = auth.VerifyCustomer([]byte(envSecret), tok, time.Now())
	assert.NoError(t, err)
	_, err = auth.VerifyCustomer(secret, tok, time.Now())
	assert.Error(t, err)
	tok = strings.TrimSpace(runOK(t, env{"PARLEY_CUSTOMER_SECRET": envSecret}, "", "token", "--data", data, "--sub", "u-3", "--customer-secret", envSecret+"2"))
	_, err = auth.VerifyCustomer([]byte(envSecret+"2"), tok, time.Now())
	assert.NoError(t, err)

	runFail(t, env{}, "", "required flag", "token", "--data", data)
}
