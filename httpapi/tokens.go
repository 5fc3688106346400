package httpapi

import (
	"sync"
	"time"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// DefaultMaxTokenTTL is how far ahead a customer token's exp may lie
// unless Config.MaxTokenTTL says otherwise.
const DefaultMaxTokenTTL = 24 * time.Hour

// tokenState is what a connection knows of its client's credentials.
type tokenState struct {
	ip string // the client's address (clientIP)

	mu     sync.Mutex
	expiry *time.Timer // closes the connection when its token expires
}

// expireAt arranges for the connection to close with 4401 ("token
// expired; sign in again") when its token expires at exp, as the server's
// clock counts.
func (c *wsConn) expireAt(exp time.Time) {
	if exp.IsZero() {
		return
	}
	d := exp.Sub(c.srv.cfg.Now())
	c.tok.mu.Lock()
	defer c.tok.mu.Unlock()
	if c.tok.expiry != nil {
		c.tok.expiry.Stop()
	}
	c.tok.expiry = time.AfterFunc(d, func() { c.close(c.srv.disconnectFor(reasonTokenExpired)) })
}

// stopExpiry stops the expiry timer of a connection that ended, so a
// closed connection holds no timer until its token's exp.
func (c *wsConn) stopExpiry() {
	c.tok.mu.Lock()
	defer c.tok.mu.Unlock()
	if c.tok.expiry != nil {
		c.tok.expiry.Stop()
		c.tok.expiry = nil
	}
}

// customerHello authenticates a customer's hello: a customer token (at
// most MaxTokenTTL ahead), or none for a new visitor when anonymous
// visitors are allowed, at most AnonymousPerMinute per address. A visitor
// coming back gets a fresh visitor token, so its identity outlives the
// bounded token lifetime as long as it returns within it. It returns the
// customer, the visitor token to put in the welcome (if any) and when the
// connection's credentials expire.
func (s *Server) customerHello(c *wsConn, token string, now time.Time) (parley.Customer, string, time.Time, error) {
	if token == "" {
		if !s.cfg.AllowAnonymous {
			return parley.Customer{}, "", time.Time{}, parley.Errorf(parley.EUnauthorized, "hello needs a customer token.")
		}
		if s.visitors != nil {
			if r, wait := s.visitors.take(c.tok.ip, now); r == nil {
				s.hits.hit(hitAnonymous)
				return parley.Customer{}, "", time.Time{}, parley.RateLimited(wait,
					"Too many new visitors from your address; try again in %s.", roundUp(wait))
			}
		}
		return s.visitorToken(auth.NewVisitor(now), now)
	}
	cust, exp, err := auth.VerifyCustomerToken(s.cfg.CustomerSecret, token, now, s.maxTokenTTL())
	if err != nil {
		return parley.Customer{}, "", time.Time{}, err
	}
	if cust.Visitor && s.cfg.AllowAnonymous {
		return s.visitorToken(cust, now)
	}
	return cust, "", exp, nil
}

// visitorToken signs a visitor token for cust valid for VisitorTTL.
func (s *Server) visitorToken(cust parley.Customer, now time.Time) (parley.Customer, string, time.Time, error) {
	token, err := auth.SignCustomer(s.cfg.CustomerSecret, cust, s.cfg.VisitorTTL, now)
	if err != nil {
		return parley.Customer{}, "", time.Time{}, err
	}
	return cust, token, now.Add(s.cfg.VisitorTTL).Truncate(time.Second), nil
}

// maxTokenTTL returns the bound for auth.VerifyCustomerToken: 0 for none.
func (s *Server) maxTokenTTL() time.Duration { return max(s.cfg.MaxTokenTTL, 0) }

// verifyViewerToken authenticates an HTTP bearer token: a customer token,
// or, where agents are allowed too, an agent token of the agent's current
// generation.
func (s *Server) verifyViewerToken(token string, agents bool) (chat.Viewer, error) {
	now := s.cfg.Now()
	c, _, cerr := auth.VerifyCustomerToken(s.cfg.CustomerSecret, token, now, s.maxTokenTTL())
	if cerr == nil {
		return chat.Viewer{CustomerID: c.ID}, nil
	}
	if agents {
		if t, err := auth.VerifyAgentToken(s.cfg.AgentSecret, token, now); err == nil {
			a, err := s.hub.Agent(t.ID)
			if err != nil {
				return chat.Viewer{}, err
			}
			if a.TokenGen != t.Gen {
				return chat.Viewer{}, parley.Errorf(parley.EUnauthorized, "This token was revoked (password change or sign-out); sign in again.")
			}
			return chat.Viewer{AgentID: t.ID}, nil
		}
	}
	return chat.Viewer{}, cerr
}
