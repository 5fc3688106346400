package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/cli"
	"github.com/parley-chat/parley/internal/wsclient"
	"github.com/parley-chat/parley/parley"
)

// waitTime bounds every wait in these tests; they never sleep.
const waitTime = 10 * time.Second

var (
	listenRe     = regexp.MustCompile(`Parley listening on http://(\S+) \(data in (.*)\)`)
	firstAgentRe = regexp.MustCompile(`Created the first agent (\S+) with one-time password: (\S+)`)
)

// syncBuffer is an io.Writer safe for concurrent use that lets a reader
// wait for some output to appear.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitMatch waits until the output matches re and returns the submatches.
// It fails the test when done is closed first or the deadline passes.
func (b *syncBuffer) waitMatch(t *testing.T, re *regexp.Regexp, done <-chan struct{}) []string {
	t.Helper()
	deadline := time.After(waitTime)
	for {
		b.mu.Lock()
		m := re.FindStringSubmatch(b.buf.String())
		ch := b.changed
		b.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-ch:
		case <-done:
			// Look once more: the last write may have raced with exit.
			if m := re.FindStringSubmatch(b.String()); m != nil {
				return m
			}
			t.Fatalf("command exited before printing %q; output:\n%s", re, b.String())
		case <-deadline:
			t.Fatalf("no %q within %s; output:\n%s", re, waitTime, b.String())
		}
	}
}

// env is an environment for cli.Main's lookup function.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// result is the outcome of one command.
type result struct {
	code     int
	out, err string
}

// runCLI runs one short command in process with stdin as standard input.
func runCLI(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	var out, errOut bytes.Buffer
	code := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, e.lookup)
	require.NoError(t, ctx.Err(), "parley %s did not finish in time", strings.Join(args, " "))
	return result{code: code, out: out.String(), err: errOut.String()}
}

// runOK runs a command that must succeed.
func runOK(t *testing.T, e env, stdin string, args ...string) string {
	t.Helper()
	r := runCLI(t, e, stdin, args...)
	require.Equal(t, 0, r.code, "parley %s failed: %s", strings.Join(args, " "), r.err)
	return r.out
}

// runFail runs a command that must fail with exit code 1 and an error on
// standard error containing want, and nothing on standard output.
func runFail(t *testing.T, e env, stdin, want string, args ...string) {
	t.Helper()
	r := runCLI(t, e, stdin, args...)
	require.Equal(t, 1, r.code, "parley %s should fail; out: %s", strings.Join(args, " "), r.out)
	assert.Contains(t, r.err, want)
	assert.True(t, strings.HasPrefix(r.err, "parley: "), "error %q", r.err)
	assert.Empty(t, r.out)
}

// server is an in-process parley serve.
type server struct {
	addr   string
	data   string
	out    *syncBuffer
	errOut *syncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	code   int // valid after done is closed
}

// startServe runs parley serve with args (plus --listen 127.0.0.1:0 unless
// the caller gives one) and waits for its listening line.
func startServe(t *testing.T, e env, args ...string) *server {
	t.Helper()
	if _, set := e["PARLEY_LISTEN"]; !set && !slices.Contains(args, "--listen") {
		// Never the default port: another program may hold it.
		args = append(args, "--listen", "127.0.0.1:0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{out: newSyncBuffer(), errOut: newSyncBuffer(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.code = cli.Main(ctx, append([]string{"serve"}, args...), cli.Streams{In: strings.NewReader(""), Out: s.out, Err: s.errOut}, e.lookup)
	}()
	t.Cleanup(func() { s.stop(t) })
	m := s.out.waitMatch(t, listenRe, s.done)
	s.addr, s.data = m[1], m[2]
	return s
}

// stop cancels the server's context and returns its exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(waitTime):
		t.Fatalf("server did not stop within %s", waitTime)
	}
	return s.code
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// login signs an agent in over HTTP and returns the status and token.
func login(t *testing.T, addr, email, password string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	// bcrypt at the default cost under -race on a loaded 2-core machine
	// can take seconds per comparison; the timeout only bounds a hang.
	client := &http.Client{Timeout: 6 * waitTime}
	resp, err := client.Post("http://"+addr+"/v1/agent/login", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Token
}

// frame is a decoded JSON frame.
type frame map[string]any

func (f frame) str(k string) string { return wsclient.Frame(f).Str(k) }
func (f frame) num(k string) int    { return wsclient.Frame(f).Num(k) }
func (f frame) obj(k string) frame  { return frame(wsclient.Frame(f).Obj(k)) }

// wsClient is a WebSocket client reading frames in the background, a thin
// layer over wsclient. Its reader drops frames nobody takes, so a test that
// stops reading does not wedge it.
type wsClient struct {
	t      *testing.T
	wc     *wsclient.Client[frame]
	conn   *websocket.Conn
	frames <-chan frame
	closed <-chan struct{}
}

func dialWS(t *testing.T, addr, path string) *wsClient {
	t.Helper()
	conn, err := wsclient.Dial(context.Background(), "ws://"+addr+path, wsclient.Options{Timeout: waitTime, WriteTimeout: waitTime})
	require.NoError(t, err)
	wc := wsclient.Listen[frame](conn, wsclient.ListenOptions{Buffer: 1 << 16, Drop: true})
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, wc: wc, conn: conn.WS(), frames: wc.Frames(), closed: wc.Done()}
}

// send writes f; it may be called from several goroutines.
func (c *wsClient) send(f frame) error { return c.wc.Send(f) }

func (c *wsClient) mustSend(f frame) {
	c.t.Helper()
	require.NoError(c.t, c.send(f))
}

// waitFor returns the first frame matching pred, discarding others.
func (c *wsClient) waitFor(desc string, pred func(frame) bool) frame {
	c.t.Helper()
	f, err := c.wc.WaitFor(waitTime, desc, pred)
	require.NoError(c.t, err)
	return f
}

func (c *wsClient) expectRe(req string) frame {
	c.t.Helper()
	return c.waitFor("re="+req, func(f frame) bool { return f.str("re") == req })
}

func (c *wsClient) expect(typ string) frame {
	c.t.Helper()
	return c.waitFor(typ, func(f frame) bool { return f.str("type") == typ })
}

// customerWS connects a customer with token and returns its welcome.
func customerWS(t *testing.T, addr, token string) (*wsClient, frame) {
	t.Helper()
	c := dialWS(t, addr, "/v1/customer/ws")
	c.mustSend(frame{"type": "hello", "token": token, "req": "hello"})
	w := c.expectRe("hello")
	require.Equal(t, "welcome", w.str("type"), "hello answered %v", w)
	return c, w
}

// agentWS connects an agent with token and returns its welcome.
func agentWS(t *testing.T, addr, token string) (*wsClient, frame) {
	t.Helper()
	c := dialWS(t, addr, "/v1/agent/ws")
	c.mustSend(frame{"type": "hello", "token": token, "req": "hello"})
	w := c.expectRe("hello")
	require.Equal(t, "welcome", w.str("type"), "hello answered %v", w)
	return c, w
}

func requireMode(t *testing.T, path string, want os.FileMode) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, want, fi.Mode().Perm(), "mode of %s", path)
	return fi
}

// TestServeNewDataDir starts a server on a new data directory, checks what
// it creates and prints, signs the first agent in, stops it and starts it
// again.
func TestServeNewDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "new", "data")
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	assert.Equal(t, data, s.data)
	m := firstAgentRe.FindStringSubmatch(s.out.String())
	require.NotNil(t, m, "no first agent line in %q", s.out.String())
	email, password := m[1], m[2]
	assert.Equal(t, "admin@localhost", email)
	assert.GreaterOrEqual(t, len(password), 12)
	assert.Contains(t, s.out.String(), "parley agent set admin@localhost --password-stdin")
	assert.Less(t, strings.Index(s.out.String(), "Created the first agent"), strings.Index(s.out.String(), "Parley listening"))

	di, err := os.Stat(data)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	requireMode(t, filepath.Join(data, "parley.db"), 0o600)
	requireMode(t, filepath.Join(data, "customer-secret"), 0o600)
	secret, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(bytes.TrimSpace(secret)), auth.MinSecretLen)
	sock := requireMode(t, filepath.Join(data, "admin.sock"), 0o600)
	assert.NotZero(t, sock.Mode()&os.ModeSocket, "admin.sock is not a socket")

	resp, err := (&http.Client{Timeout: waitTime}).Get(s.url("/healthz"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	status, _ := login(t, s.addr, email, password)
	require.Equal(t, http.StatusForbidden, status, "a one-time password must be replaced at the first sign-in")
	newPassword := "a-chosen-password"
	status, token := changePassword(t, s.addr, email, password, newPassword)
	require.Equal(t, http.StatusOK, status)
	ag, w := agentWS(t, s.addr, token)
	assert.Equal(t, "admin", w.obj("agent").str("name"))
	status, _ = login(t, s.addr, email, password+"x")
	assert.Equal(t, http.StatusUnauthorized, status)

	// A customer token from the data directory's secret is accepted.
	tok, err := auth.SignCustomer(bytes.TrimSpace(secret), parley.Customer{ID: "u-1", Name: "Ada"}, time.Hour, time.Now())
	require.NoError(t, err)
	_, cw := customerWS(t, s.addr, tok)
	assert.Equal(t, "Ada", cw.obj("customer").str("name"))

	// A second server on the same directory is refused while the first runs.
	r := runCLI(t, env{}, "", "serve", "--data", data, "--listen", "127.0.0.1:0")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "another Parley server is using")

	// A clean stop returns 0, closes clients and removes the socket.
	require.Equal(t, 0, s.stop(t))
	select {
	case <-ag.closed:
	case <-time.After(waitTime):
		t.Fatal("agent connection still open after shutdown")
	}
	_, err = os.Stat(filepath.Join(data, "admin.sock"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, s.errOut.String(), "parley listening", "logs go to the error stream")

	// The second start neither creates an agent nor a new secret nor a
	// new one-time password; the chosen password still works.
	s2 := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	assert.NotContains(t, s2.out.String(), "Created the first agent")
	assert.NotContains(t, s2.out.String(), password)
	secret2, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	assert.Equal(t, secret, secret2)
	requireMode(t, filepath.Join(data, "customer-secret"), 0o600)
	requireMode(t, filepath.Join(data, "admin.sock"), 0o600)
	assert.NotContains(t, s2.out.String(), "one-time password")
	status, _ = login(t, s2.addr, email, newPassword)
	assert.Equal(t, http.StatusOK, status)
	_, cw = customerWS(t, s2.addr, tok)
	assert.Equal(t, "u-1", cw.obj("customer").str("id"))
	require.Equal(t, 0, s2.stop(t))
	_, err = os.Stat(filepath.Join(data, "admin.sock"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestServeStaleSocket starts a server over a socket file left behind by a
// crashed one.
func TestServeStaleSocket(t *testing.T) {
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "admin.sock"), nil, 0o600))
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	fi, err := os.Stat(filepath.Join(data, "admin.sock"))
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSocket)
	out := runOK(t, env{}, "", "agent", "ls", "--data", data)
	assert.Contains(t, out, "admin@localhost")
	assert.Equal(t, 0, s.stop(t))
}

// TestServeEnv checks that environment variables configure serve and that
// flags win over them.
func TestServeEnv(t *testing.T) {
	data := t.TempDir()
	secret := "env-secret-0123456789abcdef0123456789"
	e := env{"PARLEY_DATA": data, "PARLEY_LISTEN": "127.0.0.1:0", "PARLEY_CUSTOMER_SECRET": secret, "PARLEY_LOG_LEVEL": "error"}
	s := startServe(t, e)
	assert.Equal(t, data, s.data)
	assert.FileExists(t, filepath.Join(data, "parley.db"))
	assert.NoFileExists(t, filepath.Join(data, "customer-secret"), "a configured secret is not written to disk")
	assert.NotContains(t, s.errOut.String(), "level=INFO", "PARLEY_LOG_LEVEL is honoured")
	tok, err := auth.SignCustomer([]byte(secret), parley.Customer{ID: "u-env"}, time.Hour, time.Now())
	require.NoError(t, err)
	_, w := customerWS(t, s.addr, tok)
	assert.Equal(t, "u-env", w.obj("customer").str("id"))
	require.Equal(t, 0, s.stop(t))

	// Flags override the environment.
	other := filepath.Join(t.TempDir(), "unused")
	e = env{"PARLEY_DATA": other, "PARLEY_LISTEN": "256.0.0.1:bad", "PARLEY_CUSTOMER_SECRET": secret}
	data2 := t.TempDir()
	s = startServe(t, e, "--data", data2, "--listen", "127.0.0.1:0", "--customer-secret", secret+"-flag")
	assert.Equal(t, data2, s.data)
	assert.NoDirExists(t, other)
	tok, err = auth.SignCustomer([]byte(secret+"-flag"), parley.Customer{ID: "u-flag"}, time.Hour, time.Now())
	require.NoError(t, err)
	_, w = customerWS(t, s.addr, tok)
	assert.Equal(t, "u-flag", w.obj("customer").str("id"))
	require.Equal(t, 0, s.stop(t))

	// Without the flag the bad environment value is used, and fails.
	r := runCLI(t, env{"PARLEY_LISTEN": "256.0.0.1:bad"}, "", "serve", "--data", t.TempDir())
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "listen")

	// A value that does not parse names its variable.
	r = runCLI(t, env{"PARLEY_ALLOW_ANONYMOUS": "maybe"}, "", "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "PARLEY_ALLOW_ANONYMOUS")
}

// TestServeBadLogLevel fails before touching the data directory.
func TestServeBadLogLevel(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	r := runCLI(t, env{}, "", "serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "loud")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "--log-level")
	assert.NoDirExists(t, data)
}

// customer is a test customer with id.
func customer(id string) parley.Customer {
	return parley.Customer{ID: id, Name: "Customer " + id, Email: id + "@example.com"}
}
