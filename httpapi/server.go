// Package httpapi is Parley's transport: HTTP endpoints and the customer
// and agent WebSockets. It decodes, authenticates and encodes; every rule of
// the chat itself lives in package chat.
package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// Config configures a Server. Zero durations and sizes take the defaults.
type Config struct {
	// CustomerSecret verifies customer tokens and signs visitor tokens.
	CustomerSecret []byte
	// AgentSecret signs and verifies agent tokens.
	AgentSecret []byte
	// AllowAnonymous lets a hello without a token create a visitor.
	AllowAnonymous bool
	// AllowedOrigins lists extra origins (scheme://host[:port]) whose pages
	// may open WebSockets; "*" allows any. Same-host origins and clients
	// that send no Origin are always allowed.
	AllowedOrigins []string
	// HelloTimeout bounds the wait for hello; default 10s.
	HelloTimeout time.Duration
	// PingInterval is how often the server pings; a client silent for two
	// intervals is dropped. Default 30s.
	PingInterval time.Duration
	// WriteTimeout bounds each write to a client; default 10s.
	WriteTimeout time.Duration
	// OutboundBytes is the outbound budget of one connection: while more
	// bytes than this wait to be written, its commands are not read; a
	// client over it for longer than WriteTimeout, or at four times it, is
	// disconnected as too slow. Default 1 MiB.
	OutboundBytes int
	// Limits against abuse (limits.go, docs/security.md): connections per
	// customer, agent and address, customer connections in all (default
	// from the file limit), messages per second per customer and frames
	// per second per connection. Zero takes the default; negative lifts it.
	MaxConnsPerCustomer, MaxConnsPerAgent, MaxConnsPerIP, MaxCustomerConns int
	SendRate, CommandRate                                                  float64
	SendBurst, CommandBurst                                                int
	// ConnectorRate bounds the requests per second of one connector API
	// key to POST /v1/connector/messages, ConnectorBurst those at once
	// above it (connector.go). Zero takes the default; a negative rate
	// lifts the limit.
	ConnectorRate  float64
	ConnectorBurst int
	// VisitorTTL is how long a visitor token lasts; default and at most
	// MaxTokenTTL. Each hello with a visitor token gets a fresh one.
	VisitorTTL time.Duration
	// MaxTokenTTL refuses customer tokens whose exp lies further ahead;
	// default 24h, negative for no maximum.
	MaxTokenTTL time.Duration
	// AnonymousPerMinute bounds new visitors per client address; default
	// 5, negative for no bound.
	AnonymousPerMinute int
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Accounts signs agents in (POST /v1/agent/login); *admin.Admin
	// implements it. Without it, sign-in is unavailable.
	Accounts Accounts
	// Demo turns on the demo page (/demo) and POST /v1/demo/token, which
	// signs a short-lived customer token for any name, for requests made
	// to a loopback name and not through a proxy. Only for servers on
	// loopback, or when the operator asks for it (--demo).
	Demo bool
	// DemoPublic serves the demo to every request, whatever its Host
	// (--demo); it needs Demo.
	DemoPublic bool
	// PublicURL is the scheme://host[:port] browsers reach this server at,
	// used in the snippet of the landing page; default: the request's Host.
	PublicURL string
	// Files configures the file endpoints (files.go).
	Files FileConfig
	// Now is the clock for tokens; default time.Now.
	Now func() time.Time
	// Logger receives logs; default discards them.
	Logger *slog.Logger
}

// Accounts checks agents' passwords. Login returns the agent whose email
// and password match, after replacing its password with newPassword when
// that is set. An EForbidden error means the password is a one-time
// password that must be replaced: the client must send new_password.
type Accounts interface {
	Login(ctx context.Context, email, password, newPassword string) (*parley.Agent, error)
}

// Server serves Parley's HTTP and WebSocket API over a chat Hub.
type Server struct {
	hub      *chat.Hub
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	mux      *http.ServeMux
	logins   *loginLimiter
	reqIDs   *requestIDs
	hits     limitHits     // limits hit, for metrics
	visitors *keyedLimiter // new visitors per client address
	uploads  *keyedLimiter // uploads per customer or agent (files.go)
	// connectors are the requests per connector API key (connector.go).
	connectors *keyedLimiter

	handoff handoff // see drain.go
	limits  connLimits

	mu       sync.Mutex
	conns    map[*wsConn]struct{}
	draining bool
	idle     chan struct{} // closed when draining and no conns are left

	hooks testHooks
}

// testHooks let tests stop the server at points where order matters. They
// are nil outside tests.
type testHooks struct {
	// ended runs when a connection's reader has finished with it, its
	// writer is done and the close frame is written.
	ended func()
}

// New returns a Server for hub.
func New(hub *chat.Hub, cfg Config) *Server {
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.OutboundBytes <= 0 {
		cfg.OutboundBytes = DefaultOutboundBytes
	}
	cfg = withLimitDefaults(cfg)
	if cfg.MaxTokenTTL == 0 {
		cfg.MaxTokenTTL = DefaultMaxTokenTTL
	}
	if cfg.VisitorTTL <= 0 || (cfg.MaxTokenTTL > 0 && cfg.VisitorTTL > cfg.MaxTokenTTL) {
		cfg.VisitorTTL = max(cfg.MaxTokenTTL, 0)
		if cfg.VisitorTTL == 0 {
			cfg.VisitorTTL = DefaultMaxTokenTTL
		}
	}
	if cfg.AnonymousPerMinute == 0 {
		cfg.AnonymousPerMinute = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		hub:    hub,
		cfg:    cfg,
		log:    cfg.Logger,
		mux:    http.NewServeMux(),
		conns:  make(map[*wsConn]struct{}),
		logins: newLoginLimiter(),
		reqIDs: newRequestIDs(),
	}
	if n := cfg.AnonymousPerMinute; n > 0 {
		s.visitors = newKeyedLimiter(time.Minute/time.Duration(n), n, 10000)
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      s.checkOrigin,
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /v1/customer/ws", s.serveWS("customer"))
	s.mux.HandleFunc("GET /v1/agent/ws", s.serveWS("agent"))
	s.mux.HandleFunc("POST /v1/agent/login", s.handleLogin)
	s.mux.HandleFunc("GET /v1/customer/sessions", s.handleSessions)
	s.mux.HandleFunc("GET /v1/customer/sessions/{id}/events", s.handleEvents)
	s.mux.HandleFunc("GET /v1/customer/sessions/{id}/transcript", s.handleTranscript)
	s.mux.HandleFunc("GET /v1/agent/customers/{id}/sessions", s.handleAgentCustomerSessions)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.HandleFunc("POST /v1/demo/token", s.handleDemoToken)
	s.connectorRoutes()
	s.fileRoutes()
	ui, err := newWebUI(&s.cfg)
	if err != nil {
		s.log.Error("the web UI is unavailable", "err", err)
		return
	}
	s.mux.HandleFunc("GET /{$}", ui.serveLanding)
	s.mux.HandleFunc("GET /demo", ui.serveDemo)
	s.mux.HandleFunc("GET /", ui.serveAsset)
}

// MetricsHandler serves the hub's metrics in Prometheus text format. It is
// not on the public handler: serve it on a listener of its own
// (parley serve --metrics-listen), where only the scraper can reach it.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(s.hub, &s.hits))
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, s.withClientIP(w, r))
}

// checkOrigin refuses browser pages from foreign origins. Requests without
// an Origin header come from non-browser clients and are allowed.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	// The host the browser addressed (X-Forwarded-Host from a trusted
	// proxy), or the public URL.
	if strings.EqualFold(u.Host, requestHost(r)) || strings.EqualFold(strings.TrimSuffix(s.cfg.PublicURL, "/"), origin) {
		return true
	}
	for _, allowed := range s.cfg.AllowedOrigins {
		if allowed == "*" || strings.EqualFold(strings.TrimSuffix(allowed, "/"), origin) {
			return true
		}
	}
	s.log.Warn("refused WebSocket from foreign origin", "origin", origin, "client", clientIP(r), "request_id", requestID(r))
	return false
}

// authenticate checks a hello and attaches the connection to the hub.
func (s *Server) authenticate(c *wsConn, in *parley.Inbound) (*chat.Client, error) {
	now := s.cfg.Now()
	if c.role == "agent" {
		if in.Token == "" {
			return nil, parley.Errorf(parley.EUnauthorized, "hello needs an agent token.")
		}
		t, err := auth.VerifyAgentToken(s.cfg.AgentSecret, in.Token, now)
		if err != nil {
			return nil, err
		}
		if err := s.claim(c, t.ID); err != nil {
			return nil, err
		}
		c.expireAt(t.Expires)
		return s.hub.AttachAgent(c, t.ID, t.Gen, in.Req)
	}
	cust, token, exp, err := s.customerHello(c, in.Token, now)
	if err != nil {
		return nil, err
	}
	if err := s.claim(c, cust.ID); err != nil {
		return nil, err
	}
	c.expireAt(exp)
	return s.hub.AttachCustomer(c, cust, in.Req, token)
}

// track registers a connection; it reports false once shutdown began.
func (s *Server) track(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.draining && len(s.conns) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

func (s *Server) shuttingDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Shutdown stops the server gracefully (see drain.go): it refuses new
// WebSockets with 503, stops handing frames to chat, closes the hub so
// that every command already handed over is answered, then tells every
// WebSocket client the server is going away (close code 1001: reconnect
// and resume) once its answers are delivered, and waits until they are
// gone or ctx ends. It closes the hub (chat.Hub.Close may be called again
// afterwards). Call it while the HTTP listener still accepts, so that
// clients arriving meanwhile get 503 rather than a refused connection,
// and shut the HTTP server down after it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	if err := s.stopHanding(ctx); err != nil {
		s.log.Warn("a connection was still handing a command over at the shutdown deadline", "err", err)
	}
	_ = s.hub.Close()
	s.mu.Lock()
	idle := make(chan struct{})
	if len(s.conns) == 0 {
		close(idle)
	} else {
		s.idle = idle
	}
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(s.disconnectFor(reasonShutdown))
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes err as {"type":"error","code":…,"message":…} with the
// status its code maps to.
func writeError(w http.ResponseWriter, err error) {
	f := parley.NewErrorFrame("", err)
	if f.RetryAfterMS > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt((f.RetryAfterMS+999)/1000, 10))
	}
	writeJSON(w, httpStatus(f.Code), f)
}
