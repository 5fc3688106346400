package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// handleLogin exchanges an agent's email and password for an agent token.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.logins.allow(clientIP(r)) {
		writeError(w, parley.Errorf(parley.ERateLimited, "Too many login attempts; wait a minute."))
		return
	}
	var body struct {
		Email       string `json:"email"`
		Password    string `json:"password"`
		NewPassword string `json:"new_password"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	if body.Email == "" || body.Password == "" {
		writeError(w, parley.Errorf(parley.EBadRequest, "email and password are required."))
		return
	}
	if s.cfg.Accounts == nil {
		writeError(w, parley.Errorf(parley.EUnavailable, "Agent sign-in is not configured."))
		return
	}
	a, err := s.cfg.Accounts.Login(r.Context(), body.Email, body.Password, body.NewPassword)
	if parley.ErrorCode(err) == parley.EForbidden {
		// A one-time password: say so in a field clients can test.
		writeJSON(w, http.StatusForbidden, passwordChangeFrame{
			ErrorFrame: parley.NewErrorFrame("", err), PasswordChangeRequired: true,
		})
		return
	} else if err != nil {
		writeError(w, err)
		return
	}
	token, exp, err := auth.SignAgent(s.cfg.AgentSecret, a.ID, auth.AgentTokenTTL, s.cfg.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token":      token,
		"expires_at": parley.TimeOf(exp),
		"agent":      parley.AgentInfo{ID: a.ID, Name: a.Name, Email: a.Email, Capacity: a.Capacity},
	})
}

// passwordChangeFrame is the login answer to a one-time password given
// without new_password.
type passwordChangeFrame struct {
	parley.ErrorFrame
	PasswordChangeRequired bool `json:"password_change_required"`
}

// handleSessions lists the customer's sessions of the customer window.
func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) {
	v, err := s.viewer(r, false)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := uintParam(l, "limit")
		if err != nil || n == 0 || n > parley.MaxSessionsLimit {
			writeError(w, parley.Errorf(parley.EBadRequest, "limit must be between 1 and %d.", parley.MaxSessionsLimit))
			return
		}
		limit = int(n)
	}
	list, more, err := s.hub.CustomerSessionsPage(v.CustomerID, q.Get("before"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, parley.SessionsFrame{Type: parley.FrameSessions, Sessions: list, More: more})
}

// handleEvents returns one page of a session's events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	v, err := s.viewer(r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	before, err := uintParam(q.Get("before_seq"), "before_seq")
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := uintParam(q.Get("limit"), "limit")
	if err != nil {
		writeError(w, err)
		return
	}
	page, err := s.hub.History(v, r.PathValue("id"), before, int(min(limit, 1<<20)))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// handleTranscript exports a whole session as txt, json or html.
func (s *Server) handleTranscript(w http.ResponseWriter, r *http.Request) {
	v, err := s.viewer(r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "txt"
	}
	f, ok := transcriptFormats[format]
	if !ok {
		writeError(w, parley.Errorf(parley.EBadRequest, "format must be txt, json or html."))
		return
	}
	// The transcript streams from one read transaction: whatever its
	// length, only a buffer's worth is held in memory.
	bw := bufio.NewWriterSize(w, 32<<10)
	started, n := false, 0
	err = s.hub.StreamTranscript(v, r.PathValue("id"), func(sess parley.Session) error {
		started = true
		w.Header().Set("Content-Type", f.contentType)
		w.Header().Set("Cache-Control", "no-store")
		if format == "html" {
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		}
		return f.head(bw, sess)
	}, func(ev parley.Event) error {
		n++
		return f.event(bw, n-1, ev)
	})
	if !started {
		writeError(w, err)
		return
	}
	if err == nil {
		err = f.tail(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// Too late for an error status: the response is cut short.
		s.log.Warn("transcript cut short", "session", r.PathValue("id"), "err", err)
	}
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.shuttingDown() {
		writeError(w, parley.Errorf(parley.EUnavailable, "Server is shutting down."))
		return
	}
	if err := s.hub.Ready(); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// viewer authenticates a bearer token: a customer token, or, where agents
// are allowed too, an agent token.
func (s *Server) viewer(r *http.Request, agents bool) (chat.Viewer, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return chat.Viewer{}, parley.Errorf(parley.EUnauthorized, "Authorization: Bearer <token> is required.")
	}
	now := s.cfg.Now()
	c, cerr := auth.VerifyCustomer(s.cfg.CustomerSecret, token, now)
	if cerr == nil {
		return chat.Viewer{CustomerID: c.ID}, nil
	}
	if agents {
		if id, err := auth.VerifyAgent(s.cfg.AgentSecret, token, now); err == nil {
			if _, err := s.hub.Agent(id); err != nil {
				return chat.Viewer{}, err
			}
			return chat.Viewer{AgentID: id}, nil
		}
	}
	return chat.Viewer{}, cerr
}

func uintParam(v, name string) (uint64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, parley.Errorf(parley.EBadRequest, "%s must be a non-negative integer.", name)
	}
	return n, nil
}

// decodeBody decodes a small JSON request body.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return parley.Errorf(parley.ETooLarge, "Request body is too large.")
		}
		if errors.Is(err, io.EOF) {
			return parley.Errorf(parley.EBadRequest, "Request body is empty.")
		}
		return parley.Errorf(parley.EBadRequest, "Request body is not valid JSON.")
	}
	return nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter rate-limits login attempts per client address, to slow down
// password guessing.
type limiter struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*rate.Limiter
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, m: make(map[string]*rate.Limiter)}
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[key]
	if lim == nil {
		if len(l.m) > 10000 {
			clear(l.m) // bound memory; forgetting old limiters only forgives
		}
		lim = rate.NewLimiter(rate.Every(6*time.Second), 10)
		l.m[key] = lim
	}
	return lim.AllowN(l.now(), 1)
}
