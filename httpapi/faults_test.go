package httpapi_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// failSwitch is a storage.Options.CommitHook that fails every commit while
// it is on, as a full or broken disk would.
type failSwitch struct{ on atomic.Bool }

func (f *failSwitch) hook() error {
	if f.on.Load() {
		return errors.New("injected I/O error: no space left on device")
	}
	return nil
}

// expectUnavailable asserts that f is an error frame with code
// unavailable that does not leak the injected cause.
func expectUnavailable(t *testing.T, what string, f frame) {
	t.Helper()
	assert.Equal(t, "error", f.str("type"), "%s answered %v", what, f)
	assert.Equal(t, parley.EUnavailable, f.str("code"), "%s answered %v", what, f)
	assert.NotContains(t, f.str("message"), "injected", "%s: internal details stay out of the frame", what)
}

// TestStorageFaultEveryWritePathUnavailable fails every commit and drives
// each command that writes: start, send, end, leave, accept (assign) and
// the HTTP login that changes a password. Every one is answered with
// unavailable (503 over HTTP), never internal, and nothing is half-done:
// once the disk is back each works.
func TestStorageFaultEveryWritePathUnavailable(t *testing.T) {
	var fs failSwitch
	h := newFaultHarness(t, fs.hook)
	h.putAgent("Ann", 2)
	ann, _ := h.agentConn(h.login("Ann"))

	// start
	c1, _ := h.customer("fault-start")
	fs.on.Store(true)
	c1.send(frame{"type": "start", "req": "s1"})
	expectUnavailable(t, "start", c1.expectRe("s1"))
	fs.on.Store(false)
	c1.send(frame{"type": "start", "req": "s2"})
	sess := c1.expectRe("s2")
	require.Equal(t, "session", sess.str("type"), "%v", sess)
	id := sess.obj("session").str("id")

	// accept (the assignment is stored by the session)
	fs.on.Store(true)
	ann.send(frame{"type": "accept", "session_id": id, "req": "a1"})
	expectUnavailable(t, "accept", ann.expectRe("a1"))
	fs.on.Store(false)
	ann.send(frame{"type": "accept", "session_id": id, "req": "a2"})
	a2 := ann.expectRe("a2")
	require.Equal(t, "assigned", a2.str("type"), "%v", a2)

	// agent send
	fs.on.Store(true)
	ann.send(frame{"type": "send", "session_id": id, "text": "hi", "client_msg_id": "a-1", "req": "as1"})
	expectUnavailable(t, "agent send", ann.expectRe("as1"))

	// leave
	ann.send(frame{"type": "leave", "session_id": id, "req": "l1"})
	expectUnavailable(t, "leave", ann.expectRe("l1"))

	// agent end
	ann.send(frame{"type": "end", "session_id": id, "req": "e1"})
	expectUnavailable(t, "agent end", ann.expectRe("e1"))

	// customer end
	c1.send(frame{"type": "end", "req": "e2"})
	expectUnavailable(t, "customer end", c1.expectRe("e2"))

	// HTTP: a login that changes the password writes the agent.
	var out map[string]any
	status := h.post("/v1/agent/login", map[string]string{
		"email": "ann@example.com", "password": agentPassword("Ann"), "new_password": "a-new-password-long-enough",
	}, &out)
	assert.Equal(t, http.StatusServiceUnavailable, status, "%v", out)
	assert.Equal(t, parley.EUnavailable, out["code"], "%v", out)
	assert.False(t, strings.Contains(out["message"].(string), "injected"), "%v", out)

	fs.on.Store(false)
	c1.send(frame{"type": "end", "req": "e3"})
	assert.Equal(t, "ended", c1.expectEvent("ended").str("kind"))
}
