// Package auth issues and verifies Parley's tokens and handles its secrets
// and agent passwords.
//
// Customer tokens are HS256 JSON Web Tokens signed by the host application
// with the customer secret; agent tokens are HS256 JSON Web Tokens signed by
// the server with its own agent secret and carry the audience AgentAudience.
// Every verification failure is a *parley.Error with code
// parley.EUnauthorized and a message written for people.
package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-chat/parley/parley"
)

// MaxTokenLen is the length in bytes above which a token is rejected without
// being parsed.
const MaxTokenLen = 8 << 10

// maxIDLen is the maximum length in bytes of a customer or agent id.
const maxIDLen = 256

// validID reports whether s is usable as a customer or agent id: 1 to 256
// bytes of valid UTF-8 without control characters.
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// unauthorized returns an EUnauthorized *parley.Error with msg.
func unauthorized(msg string) *parley.Error {
	return &parley.Error{Code: parley.EUnauthorized, Message: msg}
}

// parseToken checks the length of token, parses it into claims, verifies
// its HS256 signature with secret and validates its time claims against now.
// An exp claim is required. Any failure is reported as an EUnauthorized
// *parley.Error.
func parseToken(secret []byte, token string, now time.Time, claims jwt.Claims) error {
	if len(secret) == 0 {
		return unauthorized("token cannot be verified")
	}
	if token == "" {
		return unauthorized("token is missing")
	}
	if len(token) > MaxTokenLen {
		return unauthorized("token is too long")
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	t, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return secret, nil
	})
	if err != nil {
		return tokenError(t, err)
	}
	if !expIsNumber(token) {
		return unauthorized("token exp must be a number (seconds since the epoch)")
	}
	return nil
}

// expIsNumber reports whether the exp claim of a token that parsed is a
// JSON number. The jwt library also takes a string holding digits, which
// no issuer following RFC 7519 produces.
func expIsNumber(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var raw struct {
		Exp json.RawMessage `json:"exp"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil || len(raw.Exp) == 0 {
		return false
	}
	c := raw.Exp[0]
	return c == '-' || (c >= '0' && c <= '9')
}

// expiry returns the exp claim of verified claims.
func expiry(c jwt.Claims) time.Time {
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}
	}
	return exp.Time
}

// tokenError translates an error of the jwt parser into an EUnauthorized
// *parley.Error with a clear message.
func tokenError(t *jwt.Token, err error) *parley.Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthorized("token is malformed")
	case t == nil || t.Header["alg"] != jwt.SigningMethodHS256.Alg():
		return unauthorized("token must be signed with HS256")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized("token signature invalid")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthorized("token has no exp claim")
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized("token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized("token not valid yet")
	default:
		return unauthorized("token invalid")
	}
}

// hasAudience reports whether aud contains want.
func hasAudience(aud jwt.ClaimStrings, want string) bool {
	return slices.Contains(aud, want)
}

// sign signs claims with HS256 and secret.
func sign(secret []byte, claims jwt.Claims) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: cannot sign a token with an empty secret")
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", err
	}
	return s, nil
}
