package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-chat/parley/parley"
)

// checkVerifyCustomer verifies token and fails t if the result breaks the
// contract: accepted tokens yield a valid customer id and a profile that is
// absent or a JSON object, rejections are EUnauthorized *parley.Errors.
func checkVerifyCustomer(t *testing.T, token string) {
	c, err := VerifyCustomer(testCustomerSecret, token, testNow)
	if err != nil {
		if parley.ErrorCode(err) != parley.EUnauthorized || parley.ErrorMessage(err) == "" {
			t.Fatalf("rejection is not an unauthorized parley error: %v", err)
		}
		if c.ID != "" {
			t.Fatalf("rejected token returned customer %q", c.ID)
		}
		return
	}
	if !validID(c.ID) {
		t.Fatalf("accepted token with invalid sub %q", c.ID)
	}
	if len(token) > MaxTokenLen {
		t.Fatalf("accepted token of %d bytes", len(token))
	}
	if c.Profile != nil {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(c.Profile, &obj); err != nil || obj == nil {
			t.Fatalf("accepted profile that is not a JSON object: %s", c.Profile)
		}
	}
}

func FuzzVerifyCustomer(f *testing.F) {
	valid := forge(f, jwt.SigningMethodHS256, testCustomerSecret, validClaims())
	visitor, err := SignCustomer(testCustomerSecret, NewVisitor(testNow), time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	agent, _, err := SignAgent(testCustomerSecret, "agent-1", time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		valid,
		visitor,
		agent,
		forge(f, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})),
		forge(f, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"exp": nil})),
		forge(f, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"sub": nil})),
		forge(f, jwt.SigningMethodHS256, testCustomerSecret, with(map[string]any{"profile": []int{1}})),
		forge(f, jwt.SigningMethodHS512, testCustomerSecret, validClaims()),
		forge(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()),
		forge(f, jwt.SigningMethodHS256, []byte("wrong secret"), validClaims()),
		valid[:len(valid)-3],
		strings.Replace(valid, ".", "..", 1),
		"",
		"..",
		"a.b.c",
		"eyJhbGciOiJIUzI1NiJ9.e30.",
		strings.Repeat("A", MaxTokenLen+1),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(checkVerifyCustomer)
}

// FuzzVerifyCustomerClaims signs arbitrary claim payloads with the right
// secret, so the fuzzer exercises claim decoding and validation rather than
// stopping at the signature check.
func FuzzVerifyCustomerClaims(f *testing.F) {
	exp := jsonInt(testNow.Add(time.Hour).Unix())
	for _, s := range []string{
		`{"sub":"c","exp":` + exp + `}`,
		`{"sub":"c","exp":` + exp + `,"profile":{"a":1},"name":"n","email":"e","vis":true}`,
		`{"sub":"c","exp":` + exp + `,"profile":null}`,
		`{"sub":"c","exp":` + exp + `,"profile":[1]}`,
		`{"sub":"c\u0000","exp":` + exp + `}`,
		`{"sub":"","exp":` + exp + `}`,
		`{"SUB":"c","Exp":` + exp + `,"aud":["parley-agent"]}`,
		`{"sub":"c","exp":1e300}`,
		`{"sub":"c","exp":-1e300}`,
		`{"sub":"c","exp":"` + exp + `"}`,
		`{"sub":"c","exp":` + exp + `,"nbf":1e20}`,
		`[]`,
		`null`,
		`{`,
	} {
		f.Add(`{"alg":"HS256","typ":"JWT"}`, s)
	}
	f.Add(`{"alg":"none"}`, `{"sub":"c","exp":`+exp+`}`)
	f.Add(`{"alg":["HS256"]}`, `{"sub":"c","exp":`+exp+`}`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		checkVerifyCustomer(t, rawHS256(testCustomerSecret, header, payload))
	})
}
