package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// handleLogin exchanges an agent's email and password for an agent token.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
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
	attempt, err := s.logins.begin(clientIP(r), body.Email, s.cfg.Now())
	if err != nil {
		s.hits.hit(hitLogin)
		writeError(w, err)
		return
	}
	a, err := s.cfg.Accounts.Login(r.Context(), body.Email, body.Password, body.NewPassword)
	// A one-time password that must be replaced was still the right one.
	attempt.finish(err == nil || parley.ErrorCode(err) == parley.EForbidden)
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
	token, exp, err := auth.SignAgentGen(s.cfg.AgentSecret, a.ID, a.TokenGen, auth.AgentTokenTTL, s.cfg.Now())
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

// handleAgentCustomerSessions lists a customer's recent sessions for an
// agent's customer pane.
func (s *Server) handleAgentCustomerSessions(w http.ResponseWriter, r *http.Request) {
	v, err := s.viewer(r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	if v.AgentID == "" {
		writeError(w, parley.Errorf(parley.EForbidden, "This list is for agents; customers use GET /v1/customer/sessions."))
		return
	}
	list, err := s.hub.CustomerSessionsForAgent(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, parley.SessionsFrame{Type: parley.FrameSessions, Sessions: list})
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
	if format == "pdf" {
		s.servePDFTranscript(w, r, v) // transcript_pdf.go
		return
	}
	f, ok := transcriptFormats[format]
	if !ok {
		writeError(w, parley.Errorf(parley.EBadRequest, "format must be txt, json, html or pdf."))
		return
	}
	// The transcript streams in pages, each read in its own short read
	// transaction and written with none open (chat.StreamTranscript):
	// whatever its length, only a page and a buffer are held in memory,
	// and a client that reads slowly holds no transaction.
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
		// Too late for an error status: the response is cut short, and
		// the connection is closed without the end of the body, so the
		// client sees the transcript is incomplete.
		s.log.Warn("transcript cut short", "session", r.PathValue("id"), "err", err)
		_ = bw.Flush()
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
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
	return s.verifyViewerToken(token, agents)
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

// decodeBody decodes a small JSON request body: one JSON value and
// nothing after it, checked by checkStrict.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return parley.Errorf(parley.ETooLarge, "Request body is too large.")
		}
		return parley.Errorf(parley.EBadRequest, "Request body could not be read.")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return parley.Errorf(parley.EBadRequest, "Request body is empty.")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return parley.Errorf(parley.EBadRequest, "Request body is not valid JSON.")
	}
	return checkStrict(data, v)
}
