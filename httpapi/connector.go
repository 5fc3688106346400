package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// maxConnectorBody bounds a connector request: a message of the largest
// size in any script, with room for the rest.
const maxConnectorBody = 64 << 10

// connectorTimeout bounds how long a connector request waits for its
// message to be stored.
const connectorTimeout = 30 * time.Second

// Defaults of the connector limit: requests per second per API key, and
// how many may come at once above that rate.
const (
	DefaultConnectorRate  = 50
	DefaultConnectorBurst = 100
)

// connectorKeys bounds the table of per-key buckets; a key forgotten
// when more than this many keys are used gets a full bucket again.
const connectorKeys = 10000

// connectorRoutes sets up the connector limit (ConnectorRate per API key)
// and registers the connector endpoint.
func (s *Server) connectorRoutes() {
	if s.cfg.ConnectorRate == 0 {
		s.cfg.ConnectorRate = DefaultConnectorRate
		if s.cfg.ConnectorBurst <= 0 {
			s.cfg.ConnectorBurst = DefaultConnectorBurst
		}
	}
	if s.cfg.ConnectorBurst <= 0 {
		s.cfg.ConnectorBurst = max(int(2*s.cfg.ConnectorRate), 1)
	}
	if r := s.cfg.ConnectorRate; r > 0 {
		s.connectors = newKeyedLimiter(time.Second, s.cfg.ConnectorBurst, connectorKeys)
		s.connectors.limit = rate.Limit(r) // any rate, even below one per second
	}
	s.mux.HandleFunc("POST /v1/connector/messages", s.handleConnectorMessage)
}

// limitConnector takes a token of the API key's bucket, or returns a
// rate_limited error saying when to retry. It runs before the key is
// looked up, so a flood is refused without reading the database; keys are
// told apart by their hash, so the table holds no key itself.
func (s *Server) limitConnector(key string) error {
	if s.connectors == nil {
		return nil
	}
	if res, wait := s.connectors.take(string(chat.APIKeyHash(key)), s.cfg.Now()); res == nil {
		s.hits.hit(hitConnectorRate)
		ms := (wait + time.Millisecond - 1) / time.Millisecond
		return parley.RateLimited(wait, "Too many requests with this API key; retry in %d ms.", ms)
	}
	return nil
}

// handleConnectorMessage takes a customer's message from a connector
// (POST /v1/connector/messages, Authorization: Bearer <API key>) and
// answers with the message's acknowledgement: 201 when stored, 200 when
// its client_msg_id was stored before (duplicate). Each API key may make
// ConnectorRate requests per second (429 rate_limited with Retry-After
// above it).
func (s *Server) handleConnectorMessage(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		writeError(w, parley.Errorf(parley.EUnauthorized, "Authorization: Bearer <API key> is required."))
		return
	}
	if err := s.limitConnector(key); err != nil {
		writeError(w, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConnectorBody)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, parley.Errorf(parley.ETooLarge, "Request body is too large."))
			return
		}
		writeError(w, parley.Errorf(parley.EBadRequest, "Request body could not be read."))
		return
	}
	var m chat.ConnectorMessage
	if len(bytes.TrimSpace(data)) == 0 || json.Unmarshal(data, &m) != nil {
		writeError(w, parley.Errorf(parley.EBadRequest, "Request body is not valid JSON."))
		return
	}
	if err := checkStrict(data, &m); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), connectorTimeout)
	defer cancel()
	var f parley.SentFrame
	if !s.admit(func() { f, err = s.hub.ConnectorSend(ctx, key, m) }) {
		err = errDraining
	}
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusCreated
	if f.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, f)
}
