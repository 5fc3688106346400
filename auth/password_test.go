package auth

import (
	"strings"
	"testing"

	"github.com/parley-chat/parley/parley"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"twelve-chars", "correct horse battery staple", "pässwörd-pässwörd", strings.Repeat("a", 72)} {
		hash, err := HashPassword(pw)
		require.NoError(t, err)
		cost, err := bcrypt.Cost(hash)
		require.NoError(t, err)
		assert.Equal(t, bcryptCost, cost)
		assert.True(t, CheckPassword(hash, pw))
		assert.False(t, CheckPassword(hash, pw+"!"))
		assert.False(t, CheckPassword(hash, ""))
	}
}

func TestHashPasswordSalted(t *testing.T) {
	a, err := HashPassword("secret-secret")
	require.NoError(t, err)
	b, err := HashPassword("secret-secret")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

func TestHashPasswordRejects(t *testing.T) {
	// Too short (under MinPasswordLen characters, counted as characters
	// not bytes) or too long for bcrypt (over 72 bytes).
	for _, pw := range []string{"", "pw", "eleven-char", strings.Repeat("é", 11), strings.Repeat("a", 73), strings.Repeat("é", 37)} {
		hash, err := HashPassword(pw)
		require.Error(t, err)
		assert.Nil(t, hash)
		assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
	}
}

func TestCheckPasswordBadHash(t *testing.T) {
	assert.False(t, CheckPassword(nil, "pw"))
	assert.False(t, CheckPassword([]byte("not a hash"), "pw"))
	assert.False(t, CheckPassword([]byte("$2a$04$short"), "pw"))
	hash, err := HashPassword(strings.Repeat("a", 72))
	require.NoError(t, err)
	assert.False(t, CheckPassword(hash, strings.Repeat("a", 73)), "bcrypt must not silently truncate")
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		pw, err := GeneratePassword()
		require.NoError(t, err)
		assert.Len(t, pw, 20)
		for _, r := range pw {
			assert.Contains(t, passwordAlphabet, string(r))
		}
		assert.False(t, seen[pw], "duplicate password %q", pw)
		seen[pw] = true
	}
	for _, ambiguous := range "0O1lIo" {
		assert.NotContains(t, passwordAlphabet, string(ambiguous))
	}
	pw, err := GeneratePassword()
	require.NoError(t, err)
	hash, err := HashPassword(pw)
	require.NoError(t, err)
	assert.True(t, CheckPassword(hash, pw))
}

// TestCheckPasswordAlwaysPaysBcrypt: a password bcrypt cannot take (over
// 72 bytes) or an empty one is refused after a bcrypt comparison all the
// same, so its answer comes no faster than a wrong password's.
func TestCheckPasswordAlwaysPaysBcrypt(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	require.NoError(t, err)
	calls := 0
	orig := compareHash
	compareHash = func(h, p []byte) error { calls++; return orig(h, p) }
	t.Cleanup(func() { compareHash = orig })

	long := "correct horse battery" + strings.Repeat("x", 80)
	for _, pw := range []string{long, "", "wrong password!"} {
		calls = 0
		assert.False(t, CheckPassword(hash, pw), "%q", pw)
		assert.Equal(t, 1, calls, "bcrypt comparisons for a %d-byte password", len(pw))
	}
	calls = 0
	assert.False(t, CheckPassword(nil, "no hash at all"))
	assert.Equal(t, 1, calls)
	assert.True(t, CheckPassword(hash, "correct horse battery"))
}
