package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-chat/parley/parley"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validClaims returns claims of a valid customer token at testNow.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":     "cust-42",
		"exp":     testNow.Add(time.Hour).Unix(),
		"iat":     testNow.Unix(),
		"name":    "Ada Lovelace",
		"email":   "ada@example.com",
		"profile": map[string]any{"plan": "pro", "seats": 3},
	}
}

// with returns a copy of validClaims with the given changes; a nil value
// deletes the claim.
func with(changes map[string]any) jwt.MapClaims {
	c := validClaims()
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerifyCustomerAccepts(t *testing.T) {
	tok := forge(t, jwt.SigningMethodHS256, testCustomerSecret, validClaims())
	c, err := VerifyCustomer(testCustomerSecret, tok, testNow)
	require.NoError(t, err)
	assert.Equal(t, "cust-42", c.ID)
	assert.Equal(t, "Ada Lovelace", c.Name)
	assert.Equal(t, "ada@example.com", c.Email)
	assert.JSONEq(t, `{"plan":"pro","seats":3}`, string(c.Profile))
	assert.False(t, c.Visitor)
}

func TestVerifyCustomerOptionalClaims(t *testing.T) {
	tests := []struct {
		name    string
		claims  jwt.MapClaims
		profile string
	}{
		{"only sub and exp", jwt.MapClaims{"sub": "c", "exp": testNow.Add(time.Minute).Unix()}, ""},
		{"null profile", with(map[string]any{"profile": json.RawMessage("null")}), ""},
		{"empty profile", with(map[string]any{"profile": map[string]any{}}), "{}"},
		{"nested profile", with(map[string]any{"profile": map[string]any{"a": []int{1, 2}, "b": map[string]string{"c": "d"}}}), `{"a":[1,2],"b":{"c":"d"}}`},
		{"foreign audience", with(map[string]any{"aud": "my-app"}), `{"plan":"pro","seats":3}`},
		{"nbf in the past", with(map[string]any{"nbf": testNow.Add(-time.Minute).Unix()}), `{"plan":"pro","seats":3}`},
		{"max length sub", with(map[string]any{"sub": strings.Repeat("x", 256)}), `{"plan":"pro","seats":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := forge(t, jwt.SigningMethodHS256, testCustomerSecret, tt.claims)
			c, err := VerifyCustomer(testCustomerSecret, tok, testNow)
			require.NoError(t, err)
			if tt.profile == "" {
				assert.Nil(t, c.Profile)
			} else {
				assert.JSONEq(t, tt.profile, string(c.Profile))
			}
		})
	}
}

func TestVerifyCustomerRejects(t *testing.T) {
	rsaKey := generateRSAKey(t)
	agentTok, _, err := SignAgent(testCustomerSecret, "agent-1", time.Hour, testNow)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	validPayload := enc.EncodeToString([]byte(`{"sub":"c","exp":` + jsonInt(testNow.Add(time.Hour).Unix()) + `}`))

	tests := []struct {
		name  string
		token string
		msg   string
	}{
		{"empty", "", "token is missing"},
		{"garbage", "not a token", "token is malformed"},
		{"two segments", "abc.def", "token is malformed"},
		{"bad base64", "!!!.???.***", "token is malformed"},
		{"header not json", enc.EncodeToString([]byte("nope")) + "." + validPayload + ".sig", "token is malformed"},
		{"alg none", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()), "token must be signed with HS256"},
		{"alg none unsigned raw", enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + validPayload + ".", "token must be signed with HS256"},
		{"alg missing", rawHS256(testCustomerSecret, `{"typ":"JWT"}`, `{"sub":"c","exp":`+jsonInt(testNow.Add(time.Hour).Unix())+`}`), "token must be signed with HS256"},
		{"alg unknown", rawHS256(testCustomerSecret, `{"alg":"XX999"}`, `{"sub":"c","exp":`+jsonInt(testNow.Add(time.Hour).Unix())+`}`), "token must be signed with HS256"},
		{"RS256", forge(t, jwt.SigningMethodRS256, rsaKey, validClaims()), "token must be signed with HS256"},
		{"HS384", forge(t, jwt.SigningMethodHS384, testCustomerSecret, validClaims()), "token must be signed with HS256"},
		{"HS512", forge(t, jwt.SigningMethodHS512, testCustomerSecret, validClaims()), "token must be signed with HS256"},
		{"wrong secret", forge(t, jwt.SigningMethodHS256, []byte("some other secret of enough length!"), validClaims()), "token signature invalid"},
		{"tampered payload", tamper(t, forge(t, jwt.SigningMethodHS256, testCustomerSecret, validClaims())), "token signature invalid"},
		{"expired", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": testNow.Add(-time.Second).Unix()})), "token expired"},
		{"expired long ago", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": 1})), "token expired"},
		{"missing exp", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": nil})), "token has no exp claim"},
		{"not yet valid", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"nbf": testNow.Add(time.Minute).Unix()})), "token not valid yet"},
		{"exp not a number", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": "tomorrow"})), "token is malformed"},
		{"missing sub", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"sub": nil})), "token has no sub claim"},
		{"empty sub", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"sub": ""})), "token has no sub claim"},
		{"numeric sub", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"sub": 42})), "token is malformed"},
		{"sub too long", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"sub": strings.Repeat("x", 257)})), "token sub is not a valid customer id"},
		{"sub with NUL", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"sub": "a\x00b"})), "token sub is not a valid customer id"},
		{"sub with newline", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"sub": "a\nb"})), "token sub is not a valid customer id"},
		{"profile array", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"profile": []string{"a"}})), "token profile must be a JSON object"},
		{"profile string", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"profile": "vip"})), "token profile must be a JSON object"},
		{"profile number", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"profile": 7})), "token profile must be a JSON object"},
		{"profile bool", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"profile": true})), "token profile must be a JSON object"},
		{"name not a string", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"name": 5})), "token is malformed"},
		{"too long", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"name": strings.Repeat("n", MaxTokenLen)})), "token is too long"},
		{"agent token same secret", agentTok, msgAgentTokenForCustomer},
		{"agent audience among others", forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"aud": []string{"my-app", AgentAudience}})), msgAgentTokenForCustomer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := VerifyCustomer(testCustomerSecret, tt.token, testNow)
			requireUnauthorized(t, err, tt.msg)
			assert.Zero(t, c)
		})
	}
}

func TestVerifyCustomerTokenLengthLimit(t *testing.T) {
	// Grow the name until the token crosses the limit: the last token within
	// it is accepted and the first one beyond it is rejected.
	base := forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"name": ""}))
	n := (MaxTokenLen-len(base))*3/4 - 8
	var within, beyond string
	for ; beyond == ""; n++ {
		tok := forge(t, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"name": strings.Repeat("n", n)}))
		if len(tok) <= MaxTokenLen {
			within = tok
		} else {
			beyond = tok
		}
	}
	require.NotEmpty(t, within)
	assert.GreaterOrEqual(t, len(within), MaxTokenLen-4)
	_, err := VerifyCustomer(testCustomerSecret, within, testNow)
	require.NoError(t, err)
	_, err = VerifyCustomer(testCustomerSecret, beyond, testNow)
	requireUnauthorized(t, err, "token is too long")
}

func TestVerifyCustomerEmptySecret(t *testing.T) {
	tok := forge(t, jwt.SigningMethodHS256, []byte{}, validClaims())
	_, err := VerifyCustomer(nil, tok, testNow)
	requireCode(t, err, parley.EUnauthorized)
}

func TestVerifyCustomerExpiryUsesInjectedClock(t *testing.T) {
	tok, err := SignCustomer(testCustomerSecret, parley.Customer{ID: "c"}, time.Minute, testNow)
	require.NoError(t, err)
	_, err = VerifyCustomer(testCustomerSecret, tok, testNow.Add(59*time.Second))
	require.NoError(t, err)
	_, err = VerifyCustomer(testCustomerSecret, tok, testNow.Add(61*time.Second))
	requireUnauthorized(t, err, "token expired")
}

func TestSignCustomerRoundTrip(t *testing.T) {
	tests := []parley.Customer{
		{ID: "c1"},
		{ID: "c2", Name: "Grace Hopper", Email: "grace@example.com"},
		{ID: "c3", Profile: json.RawMessage(`{ "plan" : "pro", "tags": ["a", "b"] }`)},
		{ID: "c4 ünïcödé", Name: "名前"},
		NewVisitor(testNow),
	}
	for _, in := range tests {
		t.Run(in.ID, func(t *testing.T) {
			tok, err := SignCustomer(testCustomerSecret, in, time.Hour, testNow)
			require.NoError(t, err)
			out, err := VerifyCustomer(testCustomerSecret, tok, testNow)
			require.NoError(t, err)
			assert.Equal(t, in.ID, out.ID)
			assert.Equal(t, in.Name, out.Name)
			assert.Equal(t, in.Email, out.Email)
			assert.Equal(t, in.Visitor, out.Visitor)
			if in.Profile == nil {
				assert.Nil(t, out.Profile)
			} else {
				assert.JSONEq(t, string(in.Profile), string(out.Profile))
			}

			_, err = VerifyCustomer(testAgentSecret, tok, testNow)
			requireUnauthorized(t, err, "token signature invalid")
			_, err = VerifyAgent(testCustomerSecret, tok, testNow)
			requireUnauthorized(t, err, msgCustomerTokenForAgent)
		})
	}
}

func TestSignCustomerClaims(t *testing.T) {
	tok, err := SignCustomer(testCustomerSecret, NewVisitor(testNow), time.Hour, testNow)
	require.NoError(t, err)
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithTimeFunc(func() time.Time { return testNow })).ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return testCustomerSecret, nil })
	require.NoError(t, err)
	assert.Equal(t, true, claims["vis"])
	assert.EqualValues(t, testNow.Add(time.Hour).Unix(), claims["exp"])
	assert.NotContains(t, claims, "aud")

	tok, err = SignCustomer(testCustomerSecret, parley.Customer{ID: "c"}, time.Hour, testNow)
	require.NoError(t, err)
	claims = jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithTimeFunc(func() time.Time { return testNow })).ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return testCustomerSecret, nil })
	require.NoError(t, err)
	assert.NotContains(t, claims, "vis", "vis is only set on visitor tokens")
	assert.NotContains(t, claims, "profile")
}

func TestSignCustomerRejects(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		c      parley.Customer
		ttl    time.Duration
		code   string
	}{
		{"empty id", testCustomerSecret, parley.Customer{}, time.Hour, parley.EBadRequest},
		{"id too long", testCustomerSecret, parley.Customer{ID: strings.Repeat("x", 257)}, time.Hour, parley.EBadRequest},
		{"control in id", testCustomerSecret, parley.Customer{ID: "a\x1bb"}, time.Hour, parley.EBadRequest},
		{"profile array", testCustomerSecret, parley.Customer{ID: "c", Profile: json.RawMessage(`[1]`)}, time.Hour, parley.EBadRequest},
		{"profile invalid", testCustomerSecret, parley.Customer{ID: "c", Profile: json.RawMessage(`{"a":`)}, time.Hour, parley.EBadRequest},
		{"zero ttl", testCustomerSecret, parley.Customer{ID: "c"}, 0, parley.EBadRequest},
		{"negative ttl", testCustomerSecret, parley.Customer{ID: "c"}, -time.Hour, parley.EBadRequest},
		{"too large", testCustomerSecret, parley.Customer{ID: "c", Name: strings.Repeat("n", MaxTokenLen)}, time.Hour, parley.ETooLarge},
		{"empty secret", nil, parley.Customer{ID: "c"}, time.Hour, parley.EInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := SignCustomer(tt.secret, tt.c, tt.ttl, testNow)
			require.Error(t, err)
			assert.Empty(t, tok)
			assert.Equal(t, tt.code, parley.ErrorCode(err))
		})
	}
}

func TestNewVisitor(t *testing.T) {
	a := NewVisitor(testNow)
	b := NewVisitor(testNow)
	for _, v := range []parley.Customer{a, b} {
		assert.True(t, v.Visitor)
		require.True(t, strings.HasPrefix(v.ID, "v-"), v.ID)
		id, err := parley.ParseID(strings.TrimPrefix(v.ID, "v-"))
		require.NoError(t, err)
		assert.Equal(t, testNow.UnixMilli(), int64(id.Time()))
		assert.True(t, validID(v.ID))
	}
	assert.NotEqual(t, a.ID, b.ID)
}

// tamper changes the sub claim of a signed token without re-signing it.
func tamper(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(payload, &m))
	m["sub"] = "someone-else"
	payload, err = json.Marshal(m)
	require.NoError(t, err)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
