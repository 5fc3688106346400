package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/parley-chat/parley/parley"
)

// maxContextBytes bounds a context service's answer.
const maxContextBytes = 64 << 10

// contextCache keeps customers' context for ContextCacheTTL.
type contextCache struct {
	mu sync.Mutex
	m  map[string]contextEntry
}

type contextEntry struct {
	data json.RawMessage
	at   time.Time
}

func newContextCache() *contextCache { return &contextCache{m: make(map[string]contextEntry)} }

// ContextEnabled reports whether a customer context service is configured.
func (s *Service) ContextEnabled() bool { return s != nil && s.cfg.ContextURL != "" }

// CachedContext returns a customer's context if it was fetched within
// ContextCacheTTL.
func (s *Service) CachedContext(customerID string) (json.RawMessage, bool) {
	if !s.ContextEnabled() {
		return nil, false
	}
	s.ctxc.mu.Lock()
	defer s.ctxc.mu.Unlock()
	e, ok := s.ctxc.m[customerID]
	if !ok || s.now().Sub(e.at) >= s.cfg.ContextCacheTTL {
		if ok {
			delete(s.ctxc.m, customerID)
		}
		return nil, false
	}
	return e.data, true
}

// contextRequest is what the context service receives.
type contextRequest struct {
	Customer  parley.CustomerRef `json:"customer"`
	SessionID string             `json:"session_id"`
}

// FetchContext asks the context service about a customer, within
// ContextTimeout, and caches the answer: a POST of
// {"customer":{id,name,email},"session_id"} signed like webhooks with
// the context secret, answered by a JSON object.
func (s *Service) FetchContext(ctx context.Context, c parley.CustomerRef, sessionID string) (json.RawMessage, error) {
	if !s.ContextEnabled() {
		return nil, parley.Errorf(parley.EUnavailable, "No customer context service is configured.")
	}
	if data, ok := s.CachedContext(c.ID); ok {
		return data, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ContextTimeout)
	defer cancel()
	body, err := json.Marshal(contextRequest{Customer: c, SessionID: sessionID})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.ContextURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Context/1")
	req.Header.Set(HeaderSignature, Sign(s.cfg.ContextSecret, s.now(), body))
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("customer context: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("customer context: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxContextBytes+1))
	if err != nil {
		return nil, fmt.Errorf("customer context: %w", err)
	}
	if len(data) > maxContextBytes {
		return nil, fmt.Errorf("customer context: answer larger than %d bytes", maxContextBytes)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("customer context: answer is not a JSON object: %w", err)
	}
	compact := new(bytes.Buffer)
	if err := json.Compact(compact, data); err != nil {
		return nil, err
	}
	s.ctxc.mu.Lock()
	if len(s.ctxc.m) > 10000 {
		clear(s.ctxc.m)
	}
	s.ctxc.m[c.ID] = contextEntry{data: compact.Bytes(), at: s.now()}
	s.ctxc.mu.Unlock()
	return compact.Bytes(), nil
}

// Context returns the service's context of the Service's lifetime, ended
// by Close, for background fetches.
func (s *Service) Context() context.Context { return s.ctx }
