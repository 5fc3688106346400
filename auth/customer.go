package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-chat/parley/parley"
)

// VisitorPrefix starts the id of every anonymous visitor.
const VisitorPrefix = "v-"

// customerClaims are the claims of a customer token.
type customerClaims struct {
	jwt.RegisteredClaims
	Name    string          `json:"name,omitempty"`
	Email   string          `json:"email,omitempty"`
	Profile json.RawMessage `json:"profile,omitempty"`
	Vis     bool            `json:"vis,omitempty"`
}

// VerifyCustomer verifies a customer token signed with HS256 and secret and
// returns the customer it describes. The token must carry an exp claim that
// is after now and a sub claim that is a valid customer id; its optional
// profile claim must be a JSON object (null counts as absent). Tokens with
// the agent audience are rejected, and named as agent tokens. Every
// failure is an EUnauthorized *parley.Error.
func VerifyCustomer(secret []byte, token string, now time.Time) (parley.Customer, error) {
	c, _, err := VerifyCustomerToken(secret, token, now, 0)
	return c, err
}

// VerifyCustomerToken is VerifyCustomer that also returns the token's
// expiry and, when maxTTL is positive, refuses a token whose exp lies more
// than maxTTL after now: a long-lived token that leaks stays useful for
// long, so the server bounds what host applications may mint.
func VerifyCustomerToken(secret []byte, token string, now time.Time, maxTTL time.Duration) (parley.Customer, time.Time, error) {
	c, claims, err := verifyCustomer(secret, token, now)
	if err != nil {
		return c, time.Time{}, err
	}
	exp := expiry(&claims)
	// A minute of leeway for a host whose clock runs ahead of ours.
	if maxTTL > 0 && exp.Sub(now) > maxTTL+time.Minute {
		return parley.Customer{}, time.Time{}, unauthorized(fmt.Sprintf(
			"token expires too far ahead: this server accepts customer tokens valid for at most %s", parley.FormatDuration(maxTTL)))
	}
	return c, exp, nil
}

// verifyCustomer verifies a customer token and returns the customer and
// the token's claims.
func verifyCustomer(secret []byte, token string, now time.Time) (parley.Customer, customerClaims, error) {
	var claims customerClaims
	c, err := claims.check(secret, token, now)
	return c, claims, err
}

func (claims *customerClaims) check(secret []byte, token string, now time.Time) (parley.Customer, error) {
	if err := parseToken(secret, token, now, claims); err != nil {
		if isAgent, ok := peekAgentAudience(token); ok && isAgent {
			return parley.Customer{}, unauthorized(msgAgentTokenForCustomer)
		}
		return parley.Customer{}, err
	}
	if hasAudience(claims.Audience, AgentAudience) {
		return parley.Customer{}, unauthorized(msgAgentTokenForCustomer)
	}
	if claims.Subject == "" {
		return parley.Customer{}, unauthorized("token has no sub claim")
	}
	if !validID(claims.Subject) {
		return parley.Customer{}, unauthorized("token sub is not a valid customer id")
	}
	profile, ok := normalizeProfile(claims.Profile)
	if !ok {
		return parley.Customer{}, unauthorized("token profile must be a JSON object")
	}
	return parley.Customer{
		ID:      claims.Subject,
		Name:    claims.Name,
		Email:   claims.Email,
		Profile: profile,
		Visitor: claims.Vis,
	}, nil
}

// normalizeProfile returns p compacted, or nil if p is empty or null, and
// reports whether p is acceptable, that is absent, null or a JSON object.
func normalizeProfile(p json.RawMessage) (json.RawMessage, bool) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return nil, true
	}
	if p[0] != '{' || !json.Valid(p) {
		return nil, false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, p); err != nil {
		return nil, false
	}
	return json.RawMessage(buf.Bytes()), true
}

// SignCustomer mints a customer token for c, signed with HS256 and secret,
// valid from now for ttl. It is used by `parley token` and for anonymous
// visitors; the vis claim is set when c.Visitor is true. An invalid customer
// id, a profile that is not a JSON object or a non-positive ttl is an
// EBadRequest *parley.Error, and a token that would be longer than
// MaxTokenLen is an ETooLarge *parley.Error.
func SignCustomer(secret []byte, c parley.Customer, ttl time.Duration, now time.Time) (string, error) {
	if !validID(c.ID) {
		return "", parley.Errorf(parley.EBadRequest, "customer id must be 1 to 256 bytes of UTF-8 without control characters")
	}
	profile, ok := normalizeProfile(c.Profile)
	if !ok {
		return "", parley.Errorf(parley.EBadRequest, "customer profile must be a JSON object")
	}
	if ttl <= 0 {
		return "", parley.Errorf(parley.EBadRequest, "token lifetime must be positive")
	}
	claims := customerClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Name:    c.Name,
		Email:   c.Email,
		Profile: profile,
		Vis:     c.Visitor,
	}
	token, err := sign(secret, claims)
	if err != nil {
		return "", err
	}
	if len(token) > MaxTokenLen {
		return "", parley.Errorf(parley.ETooLarge, "customer token would be longer than %d bytes", MaxTokenLen)
	}
	return token, nil
}

// NewVisitor returns a fresh anonymous customer whose id is VisitorPrefix
// followed by a new ULID for now.
func NewVisitor(now time.Time) parley.Customer {
	return parley.Customer{ID: VisitorPrefix + parley.NewID(now), Visitor: true}
}
