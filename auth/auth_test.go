package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-chat/parley/parley"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

var (
	testCustomerSecret = []byte("0123456789abcdef0123456789abcdef-customer")
	testAgentSecret    = []byte("0123456789abcdef0123456789abcdef-agent")
	testNow            = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
)

func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost
	os.Exit(m.Run())
}

// forge signs claims with the given method and key, failing the test on error.
func forge(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

// rawHS256 builds an HS256 token from a raw header and payload, so tests can
// sign claims the jwt library would never produce.
func rawHS256(secret []byte, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// requireUnauthorized asserts that err is an EUnauthorized *parley.Error
// with the given message.
func requireUnauthorized(t testing.TB, err error, msg string) {
	t.Helper()
	require.Error(t, err)
	var perr *parley.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, parley.EUnauthorized, perr.Code)
	assert.Equal(t, msg, perr.Message)
}

// requireCode asserts that err is a *parley.Error with the given code.
func requireCode(t testing.TB, err error, code string) {
	t.Helper()
	require.Error(t, err)
	var perr *parley.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, code, perr.Code)
}

func generateRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return key
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"c1", true},
		{"user@example.com", true},
		{"ünïcödé-客户", true},
		{strings.Repeat("a", 256), true},
		{strings.Repeat("é", 128), true},
		{"", false},
		{strings.Repeat("a", 257), false},
		{strings.Repeat("é", 128) + "a", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"tab\there", false},
		{"del\x7f", false},
		{"c1\u0085", false},
		{"bad\xffutf8", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, validID(tt.id), "%q", tt.id)
	}
}
