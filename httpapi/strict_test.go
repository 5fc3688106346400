package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStrictFrames checks that frames encoding/json would accept with a
// silent repair are refused: invalid UTF-8 (which it turns into U+FFFD)
// and keys that only match when case is ignored. Nothing they ask for
// happens.
func TestStrictFrames(t *testing.T) {
	h := newHarness(t)
	cust, _ := h.customer("strict-1")
	secStart(t, cust)

	cust.sendRaw([]byte("{\"type\":\"send\",\"text\":\"bad \xff\xfe bytes\",\"req\":\"u\"}"))
	expectErrFrame(t, cust, "u", "bad_request")
	cust.sendRaw([]byte(`{"type":"send","TEXT":"shouted key","req":"k"}`))
	expectErrFrame(t, cust, "k", "bad_request")
	cust.sendRaw([]byte(`{"TYPE":"sessions","req":"t"}`))
	expectErrFrame(t, cust, "t", "bad_request")
	cust.sendRaw([]byte(`{"type":"sessions","req":"g"} {"type":"end"}`))
	expectErrFrame(t, cust, "", "bad_request")
	// Unknown keys are still fine, so newer clients keep working.
	cust.sendRaw([]byte(`{"type":"send","text":"fine","client_msg_id":"ok","future_field":1,"req":"f"}`))
	require.Equal(t, "sent", cust.expectRe("f").str("type"))

	// Only the fine message was stored: the queued event and it.
	cust.send(frame{"type": "sessions", "req": "l"})
	list := cust.expectRe("l").list("sessions")
	require.Len(t, list, 1)
	assert.Equal(t, 2, list[0].num("last_seq"))
}

// TestStrictBodies checks the same for HTTP bodies, and that nothing may
// follow the JSON value.
func TestStrictBodies(t *testing.T) {
	h := newHarness(t)
	secAgentAccount(t, h, "Stan", 1)
	good := `{"email":"stan@example.com","password":"` + agentPassword("Stan") + `"}`
	for _, body := range []string{
		good + ` {"email":"x"}`,
		good + `garbage`,
		`{"EMAIL":"stan@example.com","password":"` + agentPassword("Stan") + `"}`,
		"{\"email\":\"stan@example.com\",\"password\":\"" + agentPassword("Stan") + "\",\"new_password\":\"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\"}",
	} {
		code, f := secPostRaw(t, h, "/v1/agent/login", body)
		assert.Equal(t, http.StatusBadRequest, code, body)
		assert.Equal(t, "bad_request", f.str("code"), body)
	}
	code, f := secPostRaw(t, h, "/v1/agent/login", good+"\n")
	assert.Equal(t, http.StatusOK, code, "%v", f)
}
