package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-chat/parley/parley"
)

// FuzzVerifyAgent feeds VerifyAgent, which checks every agent hello,
// arbitrary tokens: it never panics, a refusal is an unauthorized
// *parley.Error with a message, and an accepted token yields a valid
// agent id.
func FuzzVerifyAgent(f *testing.F) {
	valid, _, err := SignAgent(testAgentSecret, "agent-1", time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	cust, err := SignCustomer(testAgentSecret, NewVisitor(testNow), time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		valid, cust,
		forge(f, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"exp": testNow.Add(-time.Second).Unix()})),
		forge(f, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"exp": "tomorrow"})),
		forge(f, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"aud": nil})),
		forge(f, jwt.SigningMethodHS256, testAgentSecret, agentClaims(map[string]any{"sub": "../../x"})),
		forge(f, jwt.SigningMethodHS512, testAgentSecret, agentClaims(nil)),
		forge(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, agentClaims(nil)),
		valid[:len(valid)-2], "", "..", "a.b.c", strings.Repeat("A", MaxTokenLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := VerifyAgent(testAgentSecret, token, testNow)
		if err != nil {
			if parley.ErrorCode(err) != parley.EUnauthorized || parley.ErrorMessage(err) == "" {
				t.Fatalf("rejection is not an unauthorized parley error: %v", err)
			}
			if id != "" {
				t.Fatalf("rejected token returned agent %q", id)
			}
			return
		}
		if !validID(id) || len(token) > MaxTokenLen {
			t.Fatalf("accepted token %q with agent id %q", token, id)
		}
	})
}
