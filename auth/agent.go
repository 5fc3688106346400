package auth

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-chat/parley/parley"
)

// AgentTokenTTL is the lifetime of an agent token.
const AgentTokenTTL = 12 * time.Hour

// AgentAudience is the aud claim of every agent token. Customer tokens that
// carry it are rejected, and agent tokens must carry it.
const AgentAudience = "parley-agent"

// SignAgent mints an agent token for agentID, signed with HS256 and the
// server's agent secret, valid from now for ttl. It returns the token and
// its expiry as encoded in the token (whole seconds). The token carries
// token generation 0; see SignAgentGen.
func SignAgent(secret []byte, agentID string, ttl time.Duration, now time.Time) (token string, expires time.Time, err error) {
	return SignAgentGen(secret, agentID, 0, ttl, now)
}

// agentTokenClaims are the claims of an agent token. Gen is the agent's token
// generation when the token was issued: raising the generation stored
// with the agent revokes every token issued before.
type agentTokenClaims struct {
	jwt.RegisteredClaims
	Gen uint64 `json:"gen,omitempty"`
}

// SignAgentGen is SignAgent for an agent whose token generation is gen
// (parley.Agent.TokenGen).
func SignAgentGen(secret []byte, agentID string, gen uint64, ttl time.Duration, now time.Time) (token string, expires time.Time, err error) {
	if !validID(agentID) {
		return "", time.Time{}, parley.Errorf(parley.EBadRequest, "agent id must be 1 to 256 bytes of UTF-8 without control characters")
	}
	if ttl <= 0 {
		return "", time.Time{}, parley.Errorf(parley.EBadRequest, "token lifetime must be positive")
	}
	exp := jwt.NewNumericDate(now.Add(ttl))
	claims := agentTokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   agentID,
			Audience:  jwt.ClaimStrings{AgentAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: exp,
		},
		Gen: gen,
	}
	token, err = sign(secret, claims)
	if err != nil {
		return "", time.Time{}, err
	}
	return token, exp.Time, nil
}

// Messages for a token of the wrong kind: the first thing a new setup
// tends to get wrong, so they say what to use instead.
const (
	msgCustomerTokenForAgent = "This is a customer token; the agent socket needs an agent token (POST /v1/agent/login)."
	msgAgentTokenForCustomer = "This is an agent token; customers need a customer token signed with the customer secret."
)

// VerifyAgent verifies an agent token signed with HS256 and secret and
// returns the agent id in its sub claim. The token must carry the audience
// AgentAudience and an exp claim after now. Every failure is an
// EUnauthorized *parley.Error; a customer token is named as such.
func VerifyAgent(secret []byte, token string, now time.Time) (agentID string, err error) {
	t, err := VerifyAgentToken(secret, token, now)
	return t.ID, err
}

// AgentToken is what a verified agent token says.
type AgentToken struct {
	// ID is the agent's id.
	ID string
	// Gen is the token generation it was issued for; the token is revoked
	// once the agent's stored generation differs.
	Gen uint64
	// Expires is its exp claim.
	Expires time.Time
}

// VerifyAgentToken is VerifyAgent returning the whole AgentToken.
func VerifyAgentToken(secret []byte, token string, now time.Time) (AgentToken, error) {
	var claims agentTokenClaims
	if err := parseToken(secret, token, now, &claims); err != nil {
		if isAgent, ok := peekAgentAudience(token); ok && !isAgent {
			return AgentToken{}, unauthorized(msgCustomerTokenForAgent)
		}
		return AgentToken{}, err
	}
	if !hasAudience(claims.Audience, AgentAudience) {
		return AgentToken{}, unauthorized(msgCustomerTokenForAgent)
	}
	if claims.Subject == "" {
		return AgentToken{}, unauthorized("token has no sub claim")
	}
	if !validID(claims.Subject) {
		return AgentToken{}, unauthorized("token sub is not a valid agent id")
	}
	return AgentToken{ID: claims.Subject, Gen: claims.Gen, Expires: expiry(&claims)}, nil
}

// peekAgentAudience reports, without verifying anything, whether token
// carries the agent audience; ok is false when it does not even parse. It
// only serves to name the kind of a token that failed verification, since
// customer and agent tokens are signed with different secrets.
func peekAgentAudience(token string) (isAgent, ok bool) {
	if token == "" || len(token) > MaxTokenLen {
		return false, false
	}
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return false, false
	}
	return hasAudience(claims.Audience, AgentAudience), true
}
