package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/internal/wsclient"
	"github.com/parley-chat/parley/parley"
)

// TestQueuesOnlineAndExplainAfterRestart adds queues to a running server,
// starts a customer in one, explains why it waits, lets an agent serve the
// queue, explains the assignment, and explains it again from the file
// after the server stopped.
func TestQueuesOnlineAndExplainAfterRestart(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	m := s.out.waitMatch(t, firstAgentRe, s.done)
	email := m[1]
	status, tok := changePassword(t, s.addr, email, m[2], "queues-chosen-password")
	require.Equal(t, http.StatusOK, status)
	dataArgs := func(args ...string) []string { return append(args, "--data", data) }

	runOK(t, env{}, "", dataArgs("queue", "add", "sales", "--greeting", "Welcome to sales")...)
	runOK(t, env{}, "", dataArgs("queue", "add", "support")...)
	runFail(t, env{}, "", "exists", dataArgs("queue", "add", "sales")...)
	var rows []admin.AgentRow
	a3JSON(t, &rows, dataArgs("agent", "set", email, "--queues", "support")...)
	require.Len(t, rows, 1)
	assert.Equal(t, []string{"support"}, rows[0].Queues)
	runFail(t, env{}, "", "not found", dataArgs("agent", "set", email, "--queues", "nope")...)

	ag, _ := agentWS(t, s.addr, tok)
	ag.mustSend(frame{"type": "status", "status": "available", "req": "st"})
	ag.expectRe("st")

	ctok := strings.TrimSpace(runOK(t, env{}, "", dataArgs("token", "--sub", "c1")...))
	cust, _ := customerWS(t, s.addr, ctok)
	cust.mustSend(frame{"type": "start", "queue": "nope", "req": "bad"})
	assert.Equal(t, parley.ENotFound, cust.expectRe("bad").str("code"), "an unknown queue")
	cust.mustSend(frame{"type": "start", "queue": "sales", "req": "start"})
	sess := cust.expectRe("start").obj("session")
	sid := sess.str("id")
	assert.Equal(t, "sales", sess.str("queue"))
	assert.Equal(t, 1, sess.num("position"))
	assert.Equal(t, 0, sess.num("agents_available"), "the only agent serves support")
	assert.NotContains(t, sess, "ewt_s", "no estimate without an agent")
	greeting := cust.waitFor("greeting", func(f frame) bool {
		return f.str("type") == "event" && f.obj("event").str("kind") == parley.KindMessage
	}).obj("event")
	assert.Equal(t, "Welcome to sales", greeting.str("text"))
	assert.Equal(t, parley.RoleSystem, greeting.obj("from").str("role"))

	// The agent's queue list shows only the queues it serves.
	ag.mustSend(frame{"type": "queue_list", "req": "ql"})
	assert.Equal(t, 0, ag.expectRe("ql").num("waiting"))

	runFail(t, env{}, "", "wait in queue sales", dataArgs("queue", "rm", "sales")...)
	runFail(t, env{}, "", "cannot be removed", dataArgs("queue", "rm", "default")...)
	var x admin.Explanation
	a3JSON(t, &x, dataArgs("queue", "explain", sid)...)
	assert.Equal(t, "sales", x.Queue)
	assert.Equal(t, 1, x.Position)
	assert.Contains(t, x.Why, "No agent serves queue sales")
	require.Len(t, x.Agents, 1)
	assert.Equal(t, parley.ReasonNotServing, x.Agents[0].Reason)
	var qrows []admin.QueueListRow
	a3JSON(t, &qrows, dataArgs("queue", "ls")...)
	require.Len(t, qrows, 3)
	assert.Equal(t, "sales", qrows[1].Name)
	assert.Equal(t, 1, qrows[1].Waiting)
	assert.Equal(t, 0, qrows[1].AgentsServing)

	// Serving sales now, the agent gets the session at once.
	runOK(t, env{}, "", dataArgs("agent", "set", email, "--queues", "sales,support")...)
	assigned := ag.expect("assigned")
	assert.Equal(t, sid, assigned.obj("session").str("id"))
	var kinds []string
	for _, ev := range wsclient.Frame(assigned).List("events") {
		kinds = append(kinds, ev.Str("kind")+":"+ev.Str("text"))
	}
	assert.Equal(t, []string{"queued:", "message:Welcome to sales", "agent_joined:"}, kinds, "the agent sees the greeting too")
	a3JSON(t, &x, dataArgs("queue", "explain", sid)...)
	require.NotNil(t, x.Routing)
	assert.Equal(t, parley.StateActive, x.State)
	assert.False(t, x.Routing.Manual)
	assert.Equal(t, "sales", x.Routing.Queue)
	assert.Contains(t, x.Why, "got it")
	online := *x.Routing

	require.Equal(t, 0, s.stop(t))
	a3JSON(t, &x, dataArgs("queue", "explain", sid)...)
	assert.False(t, x.Online)
	require.NotNil(t, x.Routing, "the decision was stored when it was made")
	assert.Equal(t, online, *x.Routing)
	out := runOK(t, env{}, "", dataArgs("queue", "explain", sid)...)
	assert.Contains(t, out, "got it")
	// Nobody waits in sales any more: it can go, offline too.
	runOK(t, env{}, "", dataArgs("queue", "rm", "sales")...)
	a3JSON(t, &qrows, dataArgs("queue", "ls")...)
	assert.Len(t, qrows, 2)
}
