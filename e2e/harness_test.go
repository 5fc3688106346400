// Package e2e tests Parley's web UI in a real browser: Debian's Chromium
// driven with chromedp, against a real Parley server on 127.0.0.1 and a
// host web site on localhost (a different origin, so the widget's
// cross-site embedding is real).
//
// The tests skip when no Chromium is found, unless PARLEY_E2E=1 (CI sets
// it), which turns a missing browser into a failure. With
// PARLEY_SCREENSHOTS=1 they (re)write docs/screenshots/*.png.
//
// Helpers for every browser test (widget_test.go, console_test.go):
//
//	srv := newServer(t, opts...)      // a Parley server; options: withAnonymous, withDemo,
//	                                  //   withTLS (both sites over HTTPS, tls_test.go)
//	srv.URL                           // "http://127.0.0.1:<port>" (Parley: console, frame, API)
//	srv.HostURL                       // "http://localhost:<port>" (the customer's web site)
//	srv.hostPage(token)               // URL of a host page that embeds the widget and, when
//	                                  //   token != "", calls Parley('identify', token)
//	srv.customerToken(id, name)       // a signed customer token (auth.SignCustomer)
//	srv.addAgent(name, capacity)      // (email, password) of a new agent account
//	srv.firstAgent(email)             // one-time password of a first agent (must be changed)
//	srv.agentToken(email, password)   // an agent token from POST /v1/agent/login
//	srv.agentWS(name)                 // a Go agent on the agent WebSocket (account created if
//	                                  //   needed), with its welcome
//	srv.customerWS(token)             // a Go customer on the customer WebSocket, with its welcome
//	peer.send(frame) / peer.expect(typ) / peer.waitFor(desc, pred) / peer.available()
//	srv.dropConns()                   // cut every WebSocket's TCP connection, no close frame
//	srv.restart()                     // stop and start the server on the same port and file
//	srv.down() / srv.up()             // restart in two steps (act while the server is down)
//
//	tb := newTab(t)                   // a browser tab (1280x800); fails the test on console
//	                                  //   errors, exceptions and CSP violations
//	tb.allow(substr)                  // tolerate console errors containing substr
//	tb.do(actions...)                 // run chromedp actions, failing the test on error
//	tb.waitJS(expr)                   // poll a JS expression in the page until truthy
//	tb.waitText(sel, want)            // wait until the element's text contains want
//	tb.texts(sel)                     // textContent of every element matching sel
//	tb.viewport(w, h)                 // resize (mobile: 375x740)
//	tb.screenshot(name)               // docs/screenshots/<name>.png when PARLEY_SCREENSHOTS=1
//	tb.requestedURLs()                // every URL requested (check no token is in one)
//	tb.downloadTo(dir)                // save downloads in dir
//
// The widget frame (an iframe of the host page) has frame variants, which
// retry with a fresh node when the frame's document was replaced:
// tb.frameWaitJS(expr), tb.frameWaitText(sel, want), tb.frameTexts(sel),
// tb.frameWaitVisible(sel), tb.frameClick(sel), tb.frameKeys(sel, keys),
// tb.frameDo(sel, actions...); tb.frame() is its node.
//
// Tests never sleep: they wait on the page (WaitVisible, polling with a
// deadline) or on WebSocket frames.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/internal/testcert"
	"github.com/parley-chat/parley/internal/wsclient"
	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// waitTime bounds every wait in these tests.
const waitTime = 15 * time.Second

var (
	// browserCtx is the one browser of the test binary; nil when skipped.
	browserCtx context.Context
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	path := findChromium()
	if path == "" {
		if os.Getenv("PARLEY_E2E") == "1" {
			fmt.Fprintln(os.Stderr, "e2e: PARLEY_E2E=1 but no Chromium found (install it: apt-get install -y --no-install-recommends chromium)")
			return 1
		}
		skipReason = "no Chromium found: browser tests skipped (set PARLEY_E2E=1 to make this a failure)"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "parley-e2e-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// Keep the cross-site widget frame in the page's process, so
		// that queries and console events reach it (trusted pages only).
		chromedp.Flag("disable-features", "SitePerProcess,IsolateOrigins,Translate"),
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.WindowSize(1280, 800),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // start the browser
		fmt.Fprintln(os.Stderr, "e2e: starting Chromium:", err)
		return 1
	}
	browserCtx = ctx
	return m.Run()
}

func findChromium() string {
	if p := os.Getenv("PARLEY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// ---- the Parley server and the host site ----

type serverOptions struct {
	anonymous bool
	demo      bool
	tls       *testcert.Cert // withTLS (tls_test.go): both sites over HTTPS
	// hub, if set, adjusts the chat.Config (transfer_test.go).
	hub    func(*chat.Config)
	notify *notify.Config // withNotify (notify_test.go)
}

// serverOption configures newServer.
type serverOption func(*serverOptions)

// withAnonymous lets visitors without a token chat (--allow-anonymous).
func withAnonymous(o *serverOptions) { o.anonymous = true }

// withDemo turns on /demo and POST /v1/demo/token.
func withDemo(o *serverOptions) { o.demo = true }

// server is a real Parley server (storage, chat hub, admin, httpapi) on
// 127.0.0.1 plus a host web site on localhost that embeds its widget.
type server struct {
	t       *testing.T
	URL     string // Parley, e.g. http://127.0.0.1:40001
	HostURL string // the host site, e.g. http://localhost:40002
	addr    string
	dir     string
	secret  []byte
	opts    serverOptions

	db    *storage.DB
	hub   *chat.Hub
	api   *httpapi.Server
	admin *admin.Admin
	http  *http.Server
	ntf   *notify.Service

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // hijacked (WebSocket) connections
	pages  map[string]string     // host page path -> token
	nextID int
}

func newServer(t *testing.T, opts ...serverOption) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), secret: []byte("e2e-customer-secret-0123456789abcdef"),
		conns: map[net.Conn]struct{}{}, pages: map[string]string{}}
	for _, o := range opts {
		o(&s.opts)
	}
	// The host site first: Parley must know its origin (frame-ancestors).
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.HostURL = fmt.Sprintf("%s://localhost:%d", s.scheme(), hostLn.Addr().(*net.TCPAddr).Port)
	hostLn = s.wrapTLS(hostLn)
	hostSrv := &http.Server{Handler: http.HandlerFunc(s.serveHost), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hostSrv.Serve(hostLn) }()
	t.Cleanup(func() { _ = hostSrv.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	s.URL = s.scheme() + "://" + s.addr
	s.start(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *server) start(ln net.Listener) {
	t := s.t
	ln = s.wrapTLS(ln)
	db, err := storage.Open(filepath.Join(s.dir, "parley.db"), storage.Options{})
	require.NoError(t, err)
	s.ntf = s.openNotify(db)
	hcfg := chat.Config{QueueInterval: 50 * time.Millisecond, Notify: s.ntf}
	if s.opts.hub != nil {
		s.opts.hub(&hcfg)
	}
	hub, err := chat.Open(db, hcfg)
	require.NoError(t, err)
	s.db, s.hub = db, hub
	s.admin = admin.New(db, admin.HubLive(hub))
	s.api = httpapi.New(hub, httpapi.Config{
		CustomerSecret: s.secret,
		AgentSecret:    db.AgentSecret(),
		AllowAnonymous: s.opts.anonymous,
		AllowedOrigins: []string{s.HostURL},
		Accounts:       s.admin,
		Demo:           s.opts.demo,
		HelloTimeout:   5 * time.Second,
		// Tests seed long chats through the socket faster than a person
		// types; the limits have tests of their own (httpapi).
		SendRate: -1,
	})
	s.http = &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateHijacked {
				s.mu.Lock()
				s.conns[c] = struct{}{}
				s.mu.Unlock()
			}
		},
	}
	go func() { _ = s.http.Serve(ln) }()
}

func (s *server) stop() {
	if s.http == nil {
		return
	}
	_ = s.http.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	_ = s.api.Shutdown(ctx)
	_ = s.hub.Close()
	_ = s.ntf.Close()
	_ = s.db.Close()
	s.http = nil
	s.mu.Lock()
	clear(s.conns)
	s.mu.Unlock()
}

// restart stops the server (clients get close code 1001) and starts it
// again on the same address and database file.
func (s *server) restart() {
	s.t.Helper()
	s.down()
	s.up()
}

// down stops the server: clients get close code 1001 and cannot
// reconnect until up.
func (s *server) down() { s.stop() }

// up starts the server again after down, on the same address and file.
func (s *server) up() {
	s.t.Helper()
	var ln net.Listener
	deadline := time.Now().Add(waitTime)
	for {
		var err error
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		require.True(s.t, time.Now().Before(deadline), "listen again on %s: %v", s.addr, err)
		runtimeGosched()
	}
	s.start(ln)
}

// runtimeGosched yields between attempts to re-listen; the port is
// normally free at the first attempt.
func runtimeGosched() { <-time.After(10 * time.Millisecond) }

// dropConns cuts the TCP connection of every WebSocket at once, without a
// close frame, as a network failure would.
func (s *server) dropConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.conns)
	for c := range s.conns {
		_ = c.Close()
		delete(s.conns, c)
	}
	return n
}

// serveHost is the customer's web site: pages that embed the widget.
func (s *server) serveHost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	token, ok := s.pages[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = hostPageTmpl.Execute(w, map[string]any{"Token": token, "Widget": s.URL + "/widget.js"})
}

// hostPageTmpl is a customer's page: the queue stub and identify call the
// README documents, a Parley('on','message') handler that collects what it
// hears in window.heard, then the one script tag.
var hostPageTmpl = template.Must(template.New("host").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme shop</title>
<link rel="icon" href="data:,">
</head><body>
<h1>Acme shop</h1><p>Fine things, delivered late.</p>
{{- if .Token}}
<script>window.Parley=window.Parley||function(){(window.Parley.q=window.Parley.q||[]).push(arguments)};Parley('identify', {{.Token}});</script>
{{- end}}
<script>window.Parley=window.Parley||function(){(window.Parley.q=window.Parley.q||[]).push(arguments)};
window.heard=[];Parley('on','message',function(m){window.heard.push(m.from.name+': '+m.text)});</script>
<script src="{{.Widget}}" async></script>
</body></html>`))

// hostPage returns the URL of a new host page; with a token, the page
// identifies the visitor as that customer.
func (s *server) hostPage(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	p := fmt.Sprintf("/shop/%d", s.nextID)
	s.pages[p] = token
	return s.HostURL + p
}

// customerToken signs a customer token, as a host site's server would.
func (s *server) customerToken(id, name string) string {
	s.t.Helper()
	tok, err := auth.SignCustomer(s.secret, parley.Customer{ID: id, Name: name, Email: id + "@example.com",
		Profile: json.RawMessage(`{"plan":"pro"}`)}, time.Hour, time.Now())
	require.NoError(s.t, err)
	return tok
}

// agentPassword is the password addAgent gives the agent called name.
func agentPassword(name string) string { return "pw-" + name + "-long-enough" }

// addAgent stores an agent account (cheap bcrypt cost; the same as
// `parley agent add` otherwise) unless one with its email exists, and
// returns its email and password.
func (s *server) addAgent(name string, capacity int) (email, password string) {
	s.t.Helper()
	email = strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"
	password = agentPassword(name)
	err := s.db.View(func(tx *storage.Tx) error { _, err := tx.AgentByEmail(email); return err })
	if parley.ErrorCode(err) != parley.ENotFound {
		require.NoError(s.t, err)
		return email, password
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	require.NoError(s.t, err)
	now := time.Now()
	a := &parley.Agent{ID: parley.NewID(now), Name: name, Email: email, Capacity: capacity,
		Status: parley.StatusOffline, PasswordHash: hash, CreatedAt: parley.TimeOf(now)}
	require.NoError(s.t, s.db.Update(context.Background(), func(tx *storage.Tx) error { return tx.PutAgent(a) }))
	return email, password
}

// firstAgent creates the first agent of an empty database, as
// `parley serve` does, and returns its one-time password.
func (s *server) firstAgent(email string) string {
	s.t.Helper()
	created, err := s.admin.FirstAgent(context.Background(), email)
	require.NoError(s.t, err)
	require.Len(s.t, created, 1)
	return created[0].Password
}

// agentToken signs an agent in over HTTP and returns its token.
func (s *server) agentToken(email, password string) string {
	s.t.Helper()
	a, err := s.admin.Login(context.Background(), email, password, "")
	require.NoError(s.t, err)
	tok, _, err := auth.SignAgent(s.db.AgentSecret(), a.ID, auth.AgentTokenTTL, time.Now())
	require.NoError(s.t, err)
	return tok
}

// peer is a Go client on a Parley WebSocket.
type peer struct {
	t *testing.T
	c *wsclient.Client[wsclient.Frame]
}

func (s *server) dial(path string) *peer {
	s.t.Helper()
	wc, err := wsclient.Dial(context.Background(), "ws"+strings.TrimPrefix(s.URL, "http")+path,
		wsclient.Options{Timeout: waitTime, Dialer: s.wsDialer()})
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = wc.Close() })
	return &peer{t: s.t, c: wsclient.Listen[wsclient.Frame](wc, wsclient.ListenOptions{})}
}

// agentWS connects the agent called name (creating its account with
// capacity 2 if needed) and returns it with its welcome.
func (s *server) agentWS(name string) (*peer, wsclient.Frame) {
	s.t.Helper()
	email, pw := s.addAgent(name, 2)
	p := s.dial("/v1/agent/ws")
	p.send(wsclient.Frame{"type": "hello", "token": s.agentToken(email, pw)})
	return p, p.expect("welcome")
}

// customerWS connects a customer with token and returns it with its welcome.
func (s *server) customerWS(token string) (*peer, wsclient.Frame) {
	s.t.Helper()
	p := s.dial("/v1/customer/ws")
	p.send(wsclient.Frame{"type": "hello", "token": token})
	return p, p.expect("welcome")
}

func (p *peer) send(f wsclient.Frame) {
	p.t.Helper()
	require.NoError(p.t, p.c.Send(f))
}

// expect returns the next frame of type typ, skipping others.
func (p *peer) expect(typ string) wsclient.Frame {
	p.t.Helper()
	f, err := p.c.Expect(waitTime, typ)
	require.NoError(p.t, err)
	return f
}

// waitFor returns the first frame matching pred, skipping others.
func (p *peer) waitFor(desc string, pred func(wsclient.Frame) bool) wsclient.Frame {
	p.t.Helper()
	f, err := p.c.WaitFor(waitTime, desc, pred)
	require.NoError(p.t, err)
	return f
}

// available sets an agent available and waits for the answer.
func (p *peer) available() {
	p.t.Helper()
	p.send(wsclient.Frame{"type": "status", "status": "available", "req": "avail"})
	p.waitFor("agent_status", func(f wsclient.Frame) bool { return f.Str("re") == "avail" })
}

// isEvent matches an event frame of the given kind (and text, if set).
func isEvent(kind, text string) func(wsclient.Frame) bool {
	return func(f wsclient.Frame) bool {
		ev := f.Obj("event")
		return f.Str("type") == "event" && ev.Str("kind") == kind && (text == "" || ev.Str("text") == text)
	}
}

// ---- the browser ----

// tab is one browser tab of a test.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
	allowed  []string
	urls     []string // every request and WebSocket URL, frames included
}

// newTab opens a tab in the test binary's browser, or skips the test when
// there is none. Console errors, exceptions and CSP violations fail the
// test when it ends.
func newTab(t *testing.T) *tab {
	t.Helper()
	if browserCtx == nil {
		t.Skip(skipReason)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	tb := &tab{t: t, ctx: ctx}
	require.NoError(t, chromedp.Do(ctx)) // open the tab
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		var u string
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			u = ev.Request.URL
		case *network.EventWebSocketCreated:
			u = ev.URL
		default:
			return
		}
		tb.mu.Lock()
		tb.urls = append(tb.urls, u)
		tb.mu.Unlock()
	}))
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.note(m)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, p := range tb.problems {
			t.Errorf("browser console: %s", p)
		}
	})
	tb.viewport(1280, 800)
	return tb
}

func (tb *tab) note(m chromedp.ConsoleMessage) {
	bad := m.Type == chromedp.ConsoleError || m.IsException() ||
		strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy")
	if !bad {
		return
	}
	text := fmt.Sprintf("%s %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
	if m.Exception != nil && m.Exception.Exception != nil && m.Exception.Exception.Description != "" {
		text += ": " + m.Exception.Exception.Description
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, a := range tb.allowed {
		if strings.Contains(text, a) {
			return
		}
	}
	tb.problems = append(tb.problems, text)
}

// requestedURLs returns every URL the tab requested so far (pages,
// frames, assets, fetches and WebSockets).
func (tb *tab) requestedURLs() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.urls...)
}

// downloadTo makes the browser save downloads in dir.
func (tb *tab) downloadTo(dir string) {
	tb.t.Helper()
	_, err := chromedp.CallBrowser(tb.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
	require.NoError(tb.t, err)
}

// allow tolerates console errors whose text contains substr, for tests
// that break the network on purpose.
func (tb *tab) allow(substr string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.allowed = append(tb.allowed, substr)
}

// do runs actions, failing the test on an error or after waitTime.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTime)
	defer cancel()
	require.NoError(tb.t, chromedp.Do(ctx, actions...))
}

// run runs one action and returns its value.
func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTime)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(tb.t, err)
	return v
}

func (tb *tab) viewport(w, h int64) { tb.t.Helper(); tb.do(chromedp.EmulateViewport(w, h)) }

// waitJS polls a JavaScript expression in the page until it is truthy.
func (tb *tab) waitJS(expr string) {
	tb.t.Helper()
	run(tb, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitTime)))
}

// waitText waits until the text of the first element matching sel
// contains want.
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	run(tb, chromedp.PollFunction[chromedp.Void](waitTextFn, chromedp.WithPollingArgs(sel, want),
		chromedp.WithPollingTimeout(waitTime)))
}

const waitTextFn = `(sel, want) => { const e = document.querySelector(sel); return !!e && e.textContent.includes(want); }`

// texts returns the textContent of every element matching sel.
func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[[]string](fmt.Sprintf(`Array.from(document.querySelectorAll(%q), e => e.textContent)`, sel)))
}

// frame returns the node of the widget's iframe, waiting until the frame
// app runs in it (the loader marks it data-ready), so that queries from
// the node look in the frame's document, not in the blank one before.
func (tb *tab) frame() *chromedp.Node {
	tb.t.Helper()
	tb.do(chromedp.WaitReady(chromedp.CSS("iframe#parley-frame[data-ready]")))
	nodes := run(tb, chromedp.Nodes(chromedp.CSS("iframe#parley-frame[data-ready]")))
	require.NotEmpty(tb.t, nodes)
	return nodes[0]
}

// inFrame makes a query look in the widget frame.
func (tb *tab) inFrame() chromedp.QueryOption { tb.t.Helper(); return chromedp.FromNode(tb.frame()) }

// frameAttempt bounds one attempt of a frame query; a query that looks
// in a document the frame has since replaced never matches, so frame
// helpers try again with a fresh node until waitTime has passed.
const frameAttempt = 2 * time.Second

// frameRetry runs attempt with the frame's current node until it succeeds
// or waitTime has passed.
func frameRetry[T any](tb *tab, attempt func(frame *chromedp.Node) chromedp.Action[T]) T {
	tb.t.Helper()
	deadline := time.Now().Add(waitTime)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, frameAttempt)
		v, err := chromedp.Run(ctx, attempt(tb.frame()))
		cancel()
		if err == nil {
			return v
		}
		if !time.Now().Before(deadline) || tb.ctx.Err() != nil {
			require.NoError(tb.t, err)
		}
	}
}

// frameDo runs actions on the elements matching sel in the widget frame.
func (tb *tab) frameDo(sel string, actions ...func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	frameRetry(tb, func(frame *chromedp.Node) chromedp.Action[chromedp.Void] {
		steps := make([]chromedp.Action[chromedp.Void], len(actions))
		for i, a := range actions {
			steps[i] = a(chromedp.CSS(sel), chromedp.FromNode(frame))
		}
		return chromedp.Steps(steps...)
	})
}

// frameWaitVisible waits until the element matching sel in the widget
// frame is visible.
func (tb *tab) frameWaitVisible(sel string) {
	tb.t.Helper()
	tb.frameDo(sel, func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(sel, in)
	})
}

// frameClick clicks the element matching sel in the widget frame.
func (tb *tab) frameClick(sel string) {
	tb.t.Helper()
	tb.frameDo(sel, func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.Click(sel, in)
	})
}

// frameKeys types keys into the element matching sel in the widget frame.
func (tb *tab) frameKeys(sel, keys string) {
	tb.t.Helper()
	tb.frameDo(sel, func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.SendKeys(sel, keys, in)
	})
}

// frameWaitJS polls a JavaScript expression in the widget frame until it
// is truthy.
func (tb *tab) frameWaitJS(expr string) {
	tb.t.Helper()
	frameRetry(tb, func(frame *chromedp.Node) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInFrame(frame), chromedp.WithPollingTimeout(frameAttempt))
	})
}

// frameWaitText waits until the text of the first element matching sel
// in the widget frame contains want.
func (tb *tab) frameWaitText(sel, want string) {
	tb.t.Helper()
	frameRetry(tb, func(frame *chromedp.Node) chromedp.Action[chromedp.Void] {
		return chromedp.PollFunction[chromedp.Void](waitTextFn, chromedp.WithPollingArgs(sel, want),
			chromedp.WithPollingInFrame(frame), chromedp.WithPollingTimeout(frameAttempt))
	})
}

// frameTexts returns the textContent of every element matching sel in the
// widget frame.
func (tb *tab) frameTexts(sel string) []string {
	tb.t.Helper()
	return frameRetry(tb, func(frame *chromedp.Node) chromedp.Action[[]string] {
		return chromedp.PollFunction[[]string](`(sel) => Array.from(document.querySelectorAll(sel), e => e.textContent)`,
			chromedp.WithPollingArgs(sel), chromedp.WithPollingInFrame(frame), chromedp.WithPollingTimeout(frameAttempt))
	})
}

// screenshot saves the viewport as docs/screenshots/<name>.png when
// PARLEY_SCREENSHOTS=1 (the committed images are made that way).
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	png := run(tb, chromedp.CaptureScreenshot())
	if os.Getenv("PARLEY_SCREENSHOTS") != "1" {
		return
	}
	require.NoError(tb.t, os.WriteFile(filepath.Join("..", "docs", "screenshots", name+".png"), png, 0o644))
}
