package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"sync"
	"unicode/utf8"

	"github.com/parley-chat/parley/parley"
	"golang.org/x/crypto/bcrypt"
)

// bcryptCost is the bcrypt cost of new password hashes. Tests lower it.
var bcryptCost = bcrypt.DefaultCost

// maxPasswordLen is the longest password bcrypt can hash, in bytes.
const maxPasswordLen = 72

// MinPasswordLen is the shortest password HashPassword accepts, in
// characters.
const MinPasswordLen = 12

// passwordAlphabet holds the characters of generated passwords: letters and
// digits without the easily confused 0, O, o, 1, l and I.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// generatedPasswordLen is the length of generated passwords.
const generatedPasswordLen = 20

// HashPassword returns the bcrypt hash of password. A password shorter
// than MinPasswordLen characters or longer than 72 bytes is an
// EBadRequest *parley.Error.
func HashPassword(password string) ([]byte, error) {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return nil, parley.Errorf(parley.EBadRequest, "password must be at least %d characters", MinPasswordLen)
	}
	if len(password) > maxPasswordLen {
		return nil, parley.Errorf(parley.EBadRequest, "password must be at most %d bytes", maxPasswordLen)
	}
	return bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
}

// compareHash is bcrypt.CompareHashAndPassword; tests count its calls.
var compareHash = bcrypt.CompareHashAndPassword

// CheckPassword reports whether password matches the bcrypt hash. It
// always pays a bcrypt comparison, so the time it takes does not tell an
// empty, overlong (more than 72 bytes, which no stored password can be) or
// otherwise impossible password from a wrong one.
func CheckPassword(hash []byte, password string) bool {
	if len(hash) == 0 || password == "" || len(password) > maxPasswordLen {
		dummyOnce.Do(func() { dummyHash, _ = bcrypt.GenerateFromPassword([]byte("parley-dummy-password"), bcryptCost) })
		h := hash
		if len(h) == 0 {
			h = dummyHash
		}
		// A digest of the password stands in for it: at most 72 bytes, and
		// its result is ignored.
		sum := sha256.Sum256([]byte(password))
		_ = compareHash(h, []byte(hex.EncodeToString(sum[:])))
		return false
	}
	return compareHash(hash, []byte(password)) == nil
}

var (
	dummyOnce sync.Once
	dummyHash []byte
)

// GeneratePassword returns a random 20-character password drawn uniformly
// from an alphabet without easily confused characters. It is used for the
// first agent's account.
func GeneratePassword() (string, error) {
	b := make([]byte, generatedPasswordLen)
	n := big.NewInt(int64(len(passwordAlphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, n)
		if err != nil {
			return "", err
		}
		b[i] = passwordAlphabet[k.Int64()]
	}
	return string(b), nil
}
