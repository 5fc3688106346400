package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-chat/parley/parley"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// agentClaims returns claims of a valid agent token at testNow with the
// given changes; a nil value deletes the claim.
func agentClaims(changes map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "agent-1",
		"aud": AgentAudience,
		"exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestSignAgentRoundTrip(t *testing.T) {
	agentID := parley.NewID(testNow)
	tok, expires, err := SignAgent(testAgentSecret, agentID, AgentTokenTTL, testNow)
	require.NoError(t, err)
	assert.Equal(t, testNow.Add(AgentTokenTTL).Truncate(time.Second), expires.UTC())

	got, err := VerifyAgent(testAgentSecret, tok, testNow)
	require.NoError(t, err)
	assert.Equal(t, agentID, got)

	got, err = VerifyAgent(testAgentSecret, tok, testNow.Add(AgentTokenTTL-time.Second))
	require.NoError(t, err)
	assert.Equal(t, agentID, got)

	_, err = VerifyAgent(testAgentSecret, tok, testNow.Add(AgentTokenTTL+time.Second))
	requireUnauthorized(t, err, "token expired")
}

func TestAgentCustomerTokenConfusion(t *testing.T) {
	agentTok, _, err := SignAgent(testAgentSecret, "agent-1", time.Hour, testNow)
	require.NoError(t, err)
	custTok, err := SignCustomer(testCustomerSecret, parley.Customer{ID: "agent-1"}, time.Hour, testNow)
	require.NoError(t, err)

	// Different secrets, as configured in production.
	// The signature fails, but the message names the kind of token, the
	// trap of a first setup.
	_, err = VerifyCustomer(testCustomerSecret, agentTok, testNow)
	requireUnauthorized(t, err, msgAgentTokenForCustomer)
	_, err = VerifyAgent(testAgentSecret, custTok, testNow)
	requireUnauthorized(t, err, msgCustomerTokenForAgent)

	// Even with one secret for both, the audience keeps them apart.
	shared := testCustomerSecret
	agentTok, _, err = SignAgent(shared, "agent-1", time.Hour, testNow)
	require.NoError(t, err)
	_, err = VerifyCustomer(shared, agentTok, testNow)
	requireUnauthorized(t, err, msgAgentTokenForCustomer)
	_, err = VerifyAgent(shared, custTok, testNow)
	requireUnauthorized(t, err, msgCustomerTokenForAgent)
}

func TestVerifyAgentRejects(t *testing.T) {
	rsaKey := generateRSAKey(t)
	tests := []struct {
		name  string
		token string
		msg   string
	}{
		{"empty", "", "token is missing"},
		{"garbage", "x.y.z", "token is malformed"},
		{"alg none", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, agentClaims(nil)), "token must be signed with HS256"},
		{"RS256", forge(t, jwt.SigningMethodRS256, rsaKey, agentClaims(nil)), "token must be signed with HS256"},
		{"HS512", forge(t, jwt.SigningMethodHS512, testAgentSecret, agentClaims(nil)), "token must be signed with HS256"},
		{"wrong secret", forge(t, jwt.SigningMethodHS256, testCustomerSecret, agentClaims(nil)), "token signature invalid"},
		{"expired", forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"exp": testNow.Add(-time.Second).Unix()})), "token expired"},
		{"missing exp", forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"exp": nil})), "token has no exp claim"},
		{"missing aud", forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"aud": nil})), msgCustomerTokenForAgent},
		{"other aud", forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"aud": "parley-customer"})), msgCustomerTokenForAgent},
		{"missing sub", forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"sub": nil})), "token has no sub claim"},
		{"bad sub", forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"sub": "a\x00"})), "token sub is not a valid agent id"},
		{"too long", forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"pad": strings.Repeat("p", MaxTokenLen)})), "token is too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := VerifyAgent(testAgentSecret, tt.token, testNow)
			requireUnauthorized(t, err, tt.msg)
			assert.Empty(t, id)
		})
	}
}

func TestVerifyAgentAcceptsAudienceArray(t *testing.T) {
	tok := forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"aud": []string{"x", AgentAudience}}))
	id, err := VerifyAgent(testAgentSecret, tok, testNow)
	require.NoError(t, err)
	assert.Equal(t, "agent-1", id)
}

func TestVerifyAgentEmptySecret(t *testing.T) {
	tok := forge(t, jwt.SigningMethodHS256, []byte{}, agentClaims(nil))
	_, err := VerifyAgent(nil, tok, testNow)
	requireCode(t, err, parley.EUnauthorized)
}

func TestSignAgentRejects(t *testing.T) {
	_, _, err := SignAgent(testAgentSecret, "", time.Hour, testNow)
	requireCode(t, err, parley.EBadRequest)
	_, _, err = SignAgent(testAgentSecret, "a\nb", time.Hour, testNow)
	requireCode(t, err, parley.EBadRequest)
	_, _, err = SignAgent(testAgentSecret, "agent-1", 0, testNow)
	requireCode(t, err, parley.EBadRequest)
	_, _, err = SignAgent(nil, "agent-1", time.Hour, testNow)
	require.Error(t, err)
}
