package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExpMustBeANumber: the jwt library takes "exp":"1700000000" (a
// string of digits) as a date; RFC 7519 says NumericDate, a number.
func TestExpMustBeANumber(t *testing.T) {
	exp := testNow.Add(time.Hour).Unix()
	str := forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": fmt.Sprint(exp)}))
	_, err := VerifyCustomer(testCustomerSecret, str, testNow)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exp must be a number")

	agent := forge(t, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"exp": fmt.Sprint(exp)}))
	_, err = VerifyAgent(testAgentSecret, agent, testNow)
	require.Error(t, err)

	num := forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": exp}))
	_, err = VerifyCustomer(testCustomerSecret, num, testNow)
	require.NoError(t, err)
}

// TestMaxTokenTTL: a customer token valid for longer than the server's
// maximum is refused; one within it (or any, without a maximum) passes.
func TestMaxTokenTTL(t *testing.T) {
	long := forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": testNow.Add(30 * 24 * time.Hour).Unix()}))
	_, _, err := VerifyCustomerToken(testCustomerSecret, long, testNow, 24*time.Hour)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at most 1d")
	_, _, err = VerifyCustomerToken(testCustomerSecret, long, testNow, 0)
	require.NoError(t, err, "0 means no maximum")

	day := forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": testNow.Add(24 * time.Hour).Unix()}))
	c, exp, err := VerifyCustomerToken(testCustomerSecret, day, testNow, 24*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, "cust-42", c.ID)
	assert.Equal(t, testNow.Add(24*time.Hour).Unix(), exp.Unix())
}

// TestAgentTokenGeneration: the generation an agent token was issued for
// comes back from verification; tokens without one are generation 0.
func TestAgentTokenGeneration(t *testing.T) {
	tok, exp, err := SignAgentGen(testAgentSecret, "agent-1", 7, time.Hour, testNow)
	require.NoError(t, err)
	at, err := VerifyAgentToken(testAgentSecret, tok, testNow)
	require.NoError(t, err)
	assert.Equal(t, "agent-1", at.ID)
	assert.Equal(t, uint64(7), at.Gen)
	assert.True(t, exp.Equal(at.Expires), "%v != %v", exp, at.Expires)

	old, _, err := SignAgent(testAgentSecret, "agent-1", time.Hour, testNow)
	require.NoError(t, err)
	at, err = VerifyAgentToken(testAgentSecret, old, testNow)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), at.Gen)
}
