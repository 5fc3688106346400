package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/internal/wsclient"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// waitTime bounds every wait for a frame; tests never sleep.
const waitTime = 5 * time.Second

// clock is a settable clock shared by storage, chat and httpapi.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// harness is a real Parley server over a temporary bbolt file.
type harness struct {
	t      *testing.T
	clock  *clock
	dir    string
	db     *storage.DB
	hub    *chat.Hub
	api    *httpapi.Server
	srv    *httptest.Server
	secret []byte
	admin  *admin.Admin
	seq    atomic.Int64
	// hubConfig, if set, adjusts the chat.Config of every start (tests of
	// retention set Retention and JanitorInterval with it).
	hubConfig func(*chat.Config)
}

type harnessOption func(*httpapi.Config)

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{}, dir: t.TempDir(), secret: []byte("0123456789abcdef0123456789abcdef")}
	h.start(opts...)
	return h
}

func (h *harness) start(opts ...harnessOption) {
	t := h.t
	db, err := storage.Open(filepath.Join(h.dir, "parley.db"), storage.Options{Now: h.clock.now})
	require.NoError(t, err)
	hcfg := chat.Config{Now: h.clock.now, QueueInterval: 20 * time.Millisecond}
	if h.hubConfig != nil {
		h.hubConfig(&hcfg)
	}
	hub, err := chat.Open(db, hcfg)
	require.NoError(t, err)
	cfg := httpapi.Config{
		CustomerSecret: h.secret,
		AgentSecret:    db.AgentSecret(),
		Now:            h.clock.now,
		HelloTimeout:   2 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.db, h.hub = db, hub
	h.admin = admin.New(db, admin.HubLive(hub))
	if cfg.Accounts == nil {
		cfg.Accounts = h.admin
	}
	h.api = httpapi.New(hub, cfg)
	h.srv = httptest.NewUnstartedServer(h.api)
	h.srv.Start()
	t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.srv == nil {
		return
	}
	h.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	_ = h.api.Shutdown(ctx)
	_ = h.hub.Close()
	_ = h.db.Close()
	h.srv = nil
}

// restart stops the server cleanly and starts a new one on the same file.
func (h *harness) restart(opts ...harnessOption) {
	h.stop()
	h.start(opts...)
}

func (h *harness) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http") + path
}

// customerToken mints a token for customer id.
func (h *harness) customerToken(id string) string {
	tok, err := auth.SignCustomer(h.secret, parley.Customer{ID: id, Name: "Customer " + id, Email: id + "@example.com",
		Profile: json.RawMessage(`{"plan":"pro"}`)}, time.Hour, h.clock.now())
	require.NoError(h.t, err)
	return tok
}

// dial opens a WebSocket without saying hello.
func (h *harness) dial(path string, header http.Header) *client {
	h.t.Helper()
	wc, err := wsclient.Dial(context.Background(), h.wsURL(path), wsclient.Options{Header: header, Timeout: waitTime})
	require.NoError(h.t, err)
	h.t.Cleanup(func() { wc.Close() })
	return newClient(h.t, wsclient.Listen[frame](wc, wsclient.ListenOptions{}))
}

// customer connects customer id and waits for its welcome.
func (h *harness) customer(id string) (*client, frame) {
	h.t.Helper()
	c := h.dial("/v1/customer/ws", nil)
	c.send(frame{"type": "hello", "token": h.customerToken(id), "req": "h"})
	return c, c.expect("welcome")
}

// addAgent creates an agent account and returns its email.
func (h *harness) addAgent(name string, capacity int) string {
	h.t.Helper()
	email := strings.ToLower(name) + "@example.com"
	_, err := h.admin.AddAgent(context.Background(), admin.AgentAddArgs{Name: name, Email: email, Capacity: capacity, Password: agentPassword(name)})
	require.NoError(h.t, err)
	return email
}

// putAgent stores an agent account directly, with the cheapest bcrypt
// cost, unless one with its email exists, and returns the email. Creating
// agents through admin.Admin costs a full-strength hash, about a second
// under -race; tests that are not about accounts use this instead.
func (h *harness) putAgent(name string, capacity int) string {
	h.t.Helper()
	email := strings.ToLower(name) + "@example.com"
	err := h.db.View(func(tx *storage.Tx) error { _, err := tx.AgentByEmail(email); return err })
	if parley.ErrorCode(err) != parley.ENotFound {
		require.NoError(h.t, err)
		return email
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(agentPassword(name)), bcrypt.MinCost)
	require.NoError(h.t, err)
	now := h.clock.now()
	a := &parley.Agent{
		ID: parley.NewID(now), Name: name, Email: email, Capacity: capacity,
		Status: parley.StatusOffline, PasswordHash: hash, CreatedAt: parley.TimeOf(now),
	}
	require.NoError(h.t, h.db.Update(context.Background(), func(tx *storage.Tx) error { return tx.PutAgent(a) }))
	return email
}

// agentPassword is the password of the test agent called name (at least
// auth.MinPasswordLen characters).
func agentPassword(name string) string { return "pw-" + name + "-long-enough" }

// login signs an agent in over HTTP and returns its token.
func (h *harness) login(name string) string {
	h.t.Helper()
	var out struct{ Token string }
	status := h.post("/v1/agent/login", map[string]string{"email": strings.ToLower(name) + "@example.com", "password": agentPassword(name)}, &out)
	require.Equal(h.t, http.StatusOK, status)
	return out.Token
}

// agent creates (if needed), signs in and connects an agent, and waits for
// its welcome.
func (h *harness) agent(name string, capacity int) (*client, frame) {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.db.View(func(tx *storage.Tx) error {
		if _, err := tx.AgentByEmail(strings.ToLower(name) + "@example.com"); err != nil {
			return nil
		}
		n = 1
		return nil
	}))
	if n == 0 {
		h.addAgent(name, capacity)
	}
	return h.agentConn(h.login(name))
}

func (h *harness) agentConn(token string) (*client, frame) {
	h.t.Helper()
	c := h.dial("/v1/agent/ws", nil)
	c.send(frame{"type": "hello", "token": token})
	return c, c.expect("welcome")
}

// available sets an agent available and waits for the answer.
func (c *client) available() frame {
	c.t.Helper()
	c.send(frame{"type": "status", "status": "available", "req": "st"})
	return c.expectRe("st")
}

func (h *harness) post(path string, body, out any) int {
	h.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(h.srv.URL+path, "application/json", bytes.NewReader(b))
	require.NoError(h.t, err)
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (h *harness) get(path, token string) (int, []byte, http.Header) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// frame is a decoded JSON frame.
type frame map[string]any

func (f frame) str(k string) string { return wsclient.Frame(f).Str(k) }
func (f frame) num(k string) int    { return wsclient.Frame(f).Num(k) }
func (f frame) obj(k string) frame  { return frame(wsclient.Frame(f).Obj(k)) }
func (f frame) list(k string) []frame {
	l := wsclient.Frame(f).List(k)
	out := make([]frame, len(l))
	for i, v := range l {
		out[i] = frame(v)
	}
	return out
}

// client is a test WebSocket client that reads frames in the background:
// a thin layer over wsclient that fails the test instead of returning
// errors.
type client struct {
	t      *testing.T
	wc     *wsclient.Client[frame]
	conn   *websocket.Conn // for tests that misbehave on purpose
	frames <-chan frame    // frames as they arrive
	closed <-chan struct{} // closed when the connection has ended
}

func newClient(t *testing.T, wc *wsclient.Client[frame]) *client {
	return &client{t: t, wc: wc, conn: wc.WS(), frames: wc.Frames(), closed: wc.Done()}
}

func (c *client) send(f frame) {
	c.t.Helper()
	require.NoError(c.t, c.wc.Send(f))
}

func (c *client) sendRaw(data []byte) {
	c.t.Helper()
	require.NoError(c.t, c.wc.Write(data))
}

// next returns the next frame.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.wc.Next(waitTime)
	require.NoError(c.t, err)
	return f
}

// waitFor returns the first frame matching pred, discarding others.
func (c *client) waitFor(desc string, pred func(frame) bool) frame {
	c.t.Helper()
	f, err := c.wc.WaitFor(waitTime, desc, pred)
	require.NoError(c.t, err)
	return f
}

// expect returns the next frame of type typ, skipping pushes of other types
// (queue updates, typing) but failing on an error frame.
func (c *client) expect(typ string) frame {
	c.t.Helper()
	f, err := c.wc.Expect(waitTime, typ)
	require.NoError(c.t, err)
	return f
}

// expectRe returns the reply to request req.
func (c *client) expectRe(req string) frame {
	c.t.Helper()
	return c.waitFor("re="+req, func(f frame) bool { return f.str("re") == req })
}

// expectEvent returns the next event frame's event of kind.
func (c *client) expectEvent(kind string) frame {
	c.t.Helper()
	f := c.waitFor("event "+kind, func(f frame) bool { return f.str("type") == "event" && f.obj("event").str("kind") == kind })
	return f.obj("event")
}

// expectClose waits for the server to close the connection and returns
// the close code and text.
func (c *client) expectClose() (int, string) {
	c.t.Helper()
	code, text, err := c.wc.WaitClose(waitTime)
	require.NoError(c.t, err)
	return code, text
}

// noFrame asserts that no frame matching pred arrives before a marker
// round trip completes: it sends a request that the server answers and
// checks everything received before the answer.
func (c *client) noFrameBefore(req frame, pred func(frame) bool) {
	c.t.Helper()
	c.send(req)
	r := req["req"].(string)
	for {
		f := c.next()
		if pred(f) {
			c.t.Fatalf("unexpected frame %v", f)
		}
		if f.str("re") == r {
			return
		}
	}
}

func (h *harness) msgID() string { return fmt.Sprintf("m-%d", h.seq.Add(1)) }
