package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
)

// agentReadSession has agent Ann serve customer u-read: two messages each
// way and a whisper, then the customer ends the session. It returns the
// session id and the texts in the order they were sent.
func agentReadSession(t *testing.T, h *harness) (string, []string) {
	t.Helper()
	sid, cust, ann := secActive(t, h, "u-read", "Ann")
	texts := []string{"c1 my order is late", "a1 let me look", "c2 thanks", "a2 it ships today"}
	for i, text := range texts {
		from := cust
		if i%2 == 1 {
			from = ann
		}
		f := h.do(from, frame{"type": "send", "session_id": sid, "text": text, "client_msg_id": h.msgID()})
		require.Equal(t, "sent", f.str("type"), "%v", f)
	}
	f := h.do(ann, frame{"type": "send", "session_id": sid, "text": "w1 agents only", "whisper": true, "client_msg_id": h.msgID()})
	require.Equal(t, "sent", f.str("type"), "%v", f)
	f = h.do(cust, frame{"type": "end", "session_id": sid})
	require.NotEqual(t, "error", f.str("type"), "%v", f)
	return sid, texts
}

// messageTexts returns the texts of the message events, in order.
func messageTexts(events []frame) []string {
	var out []string
	for _, e := range events {
		if e.str("kind") == "message" {
			out = append(out, e.str("text"))
		}
	}
	return out
}

// TestAgentReadsAnySession checks that an agent who was never in an ended
// session of a customer can page its history over the socket and over
// HTTP and download its transcript, whispers included, while resume stays
// for the agents who were in it.
func TestAgentReadsAnySession(t *testing.T) {
	h := newHarness(t)
	sid, texts := agentReadSession(t, h)
	want := append(append([]string{}, texts...), "w1 agents only")

	bob, _ := secAgent(t, h, "Bob", 1)
	// Over the socket, paged backwards with before_seq: two events a page,
	// oldest first within a page, each page older than the one before.
	var pages [][]frame
	before := 0
	for {
		f := h.do(bob, frame{"type": "history", "session_id": sid, "before_seq": before, "limit": 2})
		require.Equal(t, "history", f.str("type"), "%v", f)
		evs := f.list("events")
		require.NotEmpty(t, evs)
		pages = append([][]frame{evs}, pages...)
		before = evs[0].num("seq")
		if f["more"] != true {
			break
		}
		require.Len(t, evs, 2)
	}
	var all []frame
	for _, p := range pages {
		all = append(all, p...)
	}
	for i, e := range all {
		require.Equal(t, i+1, e.num("seq"), "pages join without gaps or repeats")
	}
	assert.Equal(t, want, messageTexts(all))
	assert.Equal(t, "queued", all[0].str("kind"))

	// Over HTTP with Bob's token: a history page and the transcripts.
	tok := h.login("Bob")
	code, body, _ := h.get("/v1/customer/sessions/"+sid+"/events?limit=200", tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var page frame
	require.NoError(t, json.Unmarshal(body, &page))
	assert.Equal(t, want, messageTexts(page.list("events")))
	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/events?before_seq=3&limit=1", tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.list("events"), 1)
	assert.Equal(t, 2, page.list("events")[0].num("seq"))

	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/transcript?format=txt", tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	last := -1
	for _, text := range want {
		i := strings.Index(string(body), text)
		require.Greater(t, i, last, "%q in order in the transcript", text)
		last = i
	}
	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/transcript?format=json", tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var tr frame
	require.NoError(t, json.Unmarshal(body, &tr))
	assert.Equal(t, "ended", tr.obj("session").str("state"))
	assert.Equal(t, want, messageTexts(tr.list("events")))

	// Reading is all: Bob cannot resume, send to or end the session.
	for _, typ := range []string{"resume", "send", "end"} {
		f := h.do(bob, frame{"type": typ, "session_id": sid, "text": "x", "client_msg_id": h.msgID()})
		assert.Equal(t, "error", f.str("type"), "%s: %v", typ, f)
	}
	code, _ = h.upload("/v1/agent/sessions/"+sid+"/files", tok, "x.txt", []byte("x"))
	assert.Equal(t, http.StatusConflict, code, "the session has ended")
	all2 := h.history(bob, sid)
	assert.Equal(t, len(all), len(all2), "nothing was added")

	// A disabled agent reads nothing, with its old token or socket.
	_, err := h.admin.DisableAgent(context.Background(), admin.AgentDisableArgs{Email: "bob@example.com"})
	require.NoError(t, err)
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/events", tok)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/transcript", tok)
	assert.Equal(t, http.StatusUnauthorized, code)
}

// TestCustomerCannotReadAnotherCustomersSession checks that opening reads
// to every agent left customers where they were: another customer's
// ended session is not found, over the socket and over HTTP, while its
// own customer still reads it without the whisper.
func TestCustomerCannotReadAnotherCustomersSession(t *testing.T) {
	h := newHarness(t)
	sid, texts := agentReadSession(t, h)

	other, _ := h.customer("u-other")
	f := h.do(other, frame{"type": "history", "session_id": sid})
	assert.Equal(t, "error", f.str("type"), "%v", f)
	assert.Equal(t, "not_found", f.str("code"), "%v", f)
	otok := h.customerToken("u-other")
	for _, p := range []string{"/events", "/transcript", "/transcript?format=json"} {
		code, body, _ := h.get("/v1/customer/sessions/"+sid+p, otok)
		assert.Equal(t, http.StatusNotFound, code, p)
		assert.NotContains(t, string(body), "order is late", p)
	}
	// The agent-only route to a customer's list is closed to customers.
	code, _, _ := h.get("/v1/agent/customers/u-read/sessions", otok)
	assert.Equal(t, http.StatusForbidden, code)

	own, _ := h.customer("u-read")
	assert.Equal(t, texts, messageTexts(h.history(own, sid)))
}
