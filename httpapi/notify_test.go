package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/storage"
)

func TestEmailTranscriptReachesTheMailServerOnce(t *testing.T) {
	sink := startSMTPSink(t)
	h, _ := newNotifyHarness(t, notify.Config{SMTPURL: "smtp+insecure://" + sink.addr, SMTPFrom: "support@example.com"}, chat.Config{})
	h.putAgent("Ann", 2)
	ag, _ := h.agentConn(h.login("Ann"))
	ag.available()
	c, _ := h.customer("chip")
	c.send(frame{"type": "start", "req": "s"})
	sid := c.expectRe("s").obj("session").str("id")
	ag.expect("assigned")
	c.send(frame{"type": "send", "text": "Where is my parcel?", "client_msg_id": "m1", "req": "m1"})
	c.expectRe("m1")

	// set_email answers with the session; the agent sees the new address.
	c.send(frame{"type": "set_email", "email": "chip@home.example", "req": "e"})
	got := c.expectRe("e")
	require.Equal(t, "session", got.str("type"), "%v", got)
	assert.Equal(t, "chip@home.example", got.obj("session").obj("customer").str("email"))
	push := ag.waitFor("session push", func(f frame) bool { return f.str("type") == "session" })
	assert.Equal(t, "chip@home.example", push.obj("session").obj("customer").str("email"))
	assert.Equal(t, "chip@home.example", push.obj("session").obj("customer_profile").str("email"))

	c.send(frame{"type": "set_email", "email": "not an address", "req": "bad"})
	assert.Equal(t, "bad_request", c.expectRe("bad").str("code"))

	// The request, then the same request again (a retry): one mail.
	c.send(frame{"type": "email_transcript", "client_msg_id": "t1", "req": "t1"})
	first := c.expectRe("t1")
	require.Equal(t, "email_transcript", first.str("type"), "%v", first)
	assert.Equal(t, true, first["queued"])
	assert.Equal(t, sid, first.str("session_id"))
	c.send(frame{"type": "email_transcript", "client_msg_id": "t1", "req": "t2"})
	again := c.expectRe("t2")
	assert.Equal(t, first.str("id"), again.str("id"))
	assert.Equal(t, true, again["duplicate"])

	mails := sink.wait(t, 1)
	assert.Equal(t, []string{"chip@home.example"}, mails[0].to)
	assert.Contains(t, mails[0].body, "Where is my parcel?")
	pollUntil(t, "the mail marked sent", func() bool { return h.outbox(storage.JobMail)[0].State == storage.JobSent })
	assert.Len(t, h.outbox(storage.JobMail), 1)
	assert.Len(t, sink.mails(), 1)
	ms := httptest.NewServer(h.api.MetricsHandler())
	defer ms.Close()
	resp, err := http.Get(ms.URL + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(metrics), `parley_outbox_jobs{kind="mail",state="sent"} 1`)
	assert.Contains(t, string(metrics), `parley_outbox_jobs{kind="webhook",state="pending"} 0`)

	// After the end the customer can still ask for it (by session id).
	c.send(frame{"type": "end", "req": "end"})
	c.expectEvent("ended")
	c.send(frame{"type": "email_transcript", "session_id": sid, "req": "t3"})
	require.Equal(t, "email_transcript", c.expectRe("t3").str("type"))
	sink.wait(t, 2)
}

func TestEmailTranscriptNeedsAnAddressAndAMailServer(t *testing.T) {
	h, _ := newNotifyHarness(t, notify.Config{}, chat.Config{})
	c, _ := h.customer("chip")
	c.send(frame{"type": "start", "req": "s"})
	c.expectRe("s")
	c.send(frame{"type": "email_transcript", "req": "t"})
	assert.Equal(t, "unavailable", c.expectRe("t").str("code"))

	sink := startSMTPSink(t)
	h2, _ := newNotifyHarness(t, notify.Config{SMTPURL: "smtp+insecure://" + sink.addr, SMTPFrom: "support@example.com"}, chat.Config{})
	v := h2.dial("/v1/customer/ws", nil)
	v.send(frame{"type": "hello", "token": h2.customerTokenNoEmail("anon"), "req": "h"})
	v.expect("welcome")
	v.send(frame{"type": "start", "req": "s"})
	v.expectRe("s")
	v.send(frame{"type": "email_transcript", "req": "t"})
	assert.Equal(t, "bad_request", v.expectRe("t").str("code"))
	// An address given with the request is used (the widget's button).
	v.send(frame{"type": "email_transcript", "email": "anon@example.com", "req": "t2"})
	assert.Equal(t, true, v.expectRe("t2")["queued"])
	assert.Equal(t, []string{"anon@example.com"}, sink.wait(t, 1)[0].to)
	v.send(frame{"type": "email_transcript", "email": "nope", "req": "t3"})
	assert.Equal(t, "bad_request", v.expectRe("t3").str("code"))
	// A visitor cannot turn Parley into a mail cannon.
	for i := range notify.MaxTranscriptMails - 1 {
		req := fmt.Sprintf("more-%d", i)
		v.send(frame{"type": "email_transcript", "email": "anon@example.com", "req": req})
		require.Equal(t, true, v.expectRe(req)["queued"])
	}
	v.send(frame{"type": "email_transcript", "email": "victim@example.com", "req": "over"})
	assert.Equal(t, "rate_limited", v.expectRe("over").str("code"))
}

func TestLeaveAMessageNotifiesTheTeamAndKeepsTheSession(t *testing.T) {
	sink := startSMTPSink(t)
	h, _ := newNotifyHarness(t, notify.Config{
		SMTPURL: "smtp+insecure://" + sink.addr, SMTPFrom: "support@example.com", NotifyEmail: "team@example.com",
	}, chat.Config{AbandonAfter: time.Minute})
	c, _ := h.customer("chip")
	c.send(frame{"type": "start", "req": "s"})
	s := c.expectRe("s").obj("session")
	require.Equal(t, 0, s.num("agents_available"))
	c.send(frame{"type": "send", "text": "Please call me back about order 42", "client_msg_id": "m1", "req": "m1"})
	c.expectRe("m1")
	c.send(frame{"type": "set_email", "email": "chip@home.example", "req": "e"})
	c.expectRe("e")
	// Again: still one notification per session.
	c.send(frame{"type": "set_email", "email": "chip@work.example", "req": "e2"})
	c.expectRe("e2")
	mails := sink.wait(t, 1)
	assert.Equal(t, []string{"team@example.com"}, mails[0].to)
	assert.Contains(t, mails[0].body, "Please call me back about order 42")
	assert.Contains(t, mails[0].body, "chip@home.example")
	pollUntil(t, "the notification sent", func() bool { return h.outbox(storage.JobMail)[0].State == storage.JobSent })
	assert.Len(t, h.outbox(storage.JobMail), 1)

	// The customer leaves; the message stays in the queue for the team.
	c.wc.Close()
	pollUntil(t, "the customer gone", func() bool {
		h.clock.advance(2 * time.Minute)
		return h.hub.SweepAbandoned() == 0
	})
	h.clock.advance(time.Hour)
	assert.Equal(t, 0, h.hub.SweepAbandoned())
	rows, err := h.admin.Queue(context.Background(), admin.QueueArgs{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
}

func TestConnectorMessagesAndAgentRepliesByWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies []notify.WebhookBody
	seen := map[string]bool{}
	secret := "connector-secret-0123"
	got := make(chan struct{}, 100)
	var h *harness
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if notify.Verify([]byte(secret), r.Header.Get(notify.HeaderSignature), b, h.clock.now(), time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var wb notify.WebhookBody
		require.NoError(t, json.Unmarshal(b, &wb))
		mu.Lock()
		if !seen[wb.ID] {
			seen[wb.ID] = true
			bodies = append(bodies, wb)
		}
		mu.Unlock()
		got <- struct{}{}
	}))
	defer recv.Close()
	h, _ = newNotifyHarness(t, notify.Config{}, chat.Config{AbandonAfter: time.Minute})
	ctx := context.Background()
	key, err := h.admin.AddAPIKey(ctx, admin.APIKeyAddArgs{Name: "sms"})
	require.NoError(t, err)
	_, err = h.admin.AddWebhook(ctx, admin.WebhookAddArgs{URL: recv.URL, Events: []string{"message,session.started", "session.assigned"}, Secret: secret})
	require.NoError(t, err)

	post := func(key string, body any) (int, frame) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/connector/messages", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out frame
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	waitBodies := func(want int) {
		t.Helper()
		deadline := time.After(waitTime)
		for {
			mu.Lock()
			n := len(bodies)
			mu.Unlock()
			if n >= want {
				return
			}
			select {
			case <-got:
			case <-deadline:
				t.Fatalf("receiver got %d deliveries, want %d", n, want)
			}
		}
	}
	msg := map[string]any{"customer": map[string]string{"id": "+15550100", "name": "Sam"}, "text": "Hi from SMS", "client_msg_id": "sms-1"}
	status, first := post(key.Key, msg)
	require.Equal(t, http.StatusCreated, status, "%v", first)
	assert.Equal(t, 2, first.num("seq"), "the queued event is seq 1")
	sid := first.str("session_id")
	status, dup := post(key.Key, msg)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, dup["duplicate"])
	assert.Equal(t, first.str("id"), dup.str("id"))
	status, _ = post("pk_wrong", msg)
	assert.Equal(t, http.StatusUnauthorized, status)

	// The deliveries so far are signed with the clock of now: let them
	// arrive before the clock jumps, or the receiver refuses them as stale
	// and their retry comes after the test's wait.
	waitBodies(2)
	// The connector's customer is never abandoned for having no socket.
	h.clock.advance(time.Hour)
	h.hub.SweepAbandoned()
	h.clock.advance(time.Hour)
	assert.Equal(t, 0, h.hub.SweepAbandoned())

	h.putAgent("Ann", 2)
	ag, _ := h.agentConn(h.login("Ann"))
	ag.available()
	as := ag.expect("assigned")
	require.Equal(t, sid, as.obj("session").str("id"))
	assert.Equal(t, "connector:sms:+15550100", as.obj("session").obj("customer").str("id"))
	ag.send(frame{"type": "send", "session_id": sid, "text": "Hello Sam, how can I help?", "client_msg_id": "a1", "req": "a1"})
	ag.expectRe("a1")
	ag.send(frame{"type": "send", "session_id": sid, "text": "internal note", "whisper": true, "client_msg_id": "a2", "req": "a2"})
	ag.expectRe("a2")
	msg["text"], msg["client_msg_id"] = "Where is my parcel?", "sms-2"
	status, second := post(key.Key, msg)
	require.Equal(t, http.StatusCreated, status)
	assert.Equal(t, sid, second.str("session_id"), "the open session is reused")

	waitBodies(5)
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, b := range bodies {
		require.Equal(t, sid, b.Session.ID)
		kinds = append(kinds, b.Type+":"+b.Event.Text)
	}
	assert.Equal(t, []string{
		"session.started:", "message:Hi from SMS", "session.assigned:",
		"message:Hello Sam, how can I help?", "message:Where is my parcel?",
	}, kinds, "in order, no whisper")
	assert.Equal(t, "connector:sms:+15550100", bodies[3].Session.Customer.ID)
}

func TestCustomerContextNeverDelaysAssignment(t *testing.T) {
	release := make(chan struct{})
	var calls sync.WaitGroup
	var mu sync.Mutex
	var sigOK []bool
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer calls.Done()
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sigOK = append(sigOK, notify.Verify([]byte("0123456789abcdef0123456789abcdef"), r.Header.Get(notify.HeaderSignature), b, time.Now(), time.Minute) == nil)
		mu.Unlock()
		<-release // a slow service
		var req struct {
			Customer struct{ ID string } `json:"customer"`
		}
		_ = json.Unmarshal(b, &req)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"orders":[{"id":"A-1","total":"42.00"}],"customer":"`+req.Customer.ID+`"}`)
	}))
	defer svc.Close()
	calls.Add(1)
	h, _ := newNotifyHarness(t, notify.Config{ContextURL: svc.URL, ContextSecret: []byte("0123456789abcdef0123456789abcdef"), ContextTimeout: 10 * time.Second}, chat.Config{})
	h.putAgent("Ann", 2)
	ag, _ := h.agentConn(h.login("Ann"))
	ag.available()
	c, _ := h.customer("chip")
	c.send(frame{"type": "start", "req": "s"})
	sid := c.expectRe("s").obj("session").str("id")
	// assigned arrives while the context service still holds the request.
	as := ag.expect("assigned")
	require.Equal(t, sid, as.obj("session").str("id"))
	close(release)
	cf := ag.expect("customer_context")
	assert.Equal(t, sid, cf.str("session_id"))
	assert.Equal(t, "chip", cf.str("customer_id"))
	assert.Equal(t, "A-1", cf.obj("context").list("orders")[0].str("id"))
	calls.Wait()
	mu.Lock()
	assert.Equal(t, []bool{true}, sigOK, "the request is signed with the customer secret")
	mu.Unlock()

	// A reconnecting agent gets the cached context after its welcome,
	// without another request.
	ag2, welcome := h.agentConn(h.login("Ann"))
	require.Len(t, welcome.list("sessions"), 1)
	cf = ag2.expect("customer_context")
	assert.Equal(t, sid, cf.str("session_id"))

	// The customer's next session finds the context cached: it comes
	// inside assigned, with no request and no separate push.
	c.send(frame{"type": "end", "req": "e"})
	c.expectRe("e")
	ag.send(frame{"type": "status", "status": "available", "req": "st"})
	ag.expectRe("st")
	c.send(frame{"type": "start", "req": "s2"})
	sid2 := c.expectRe("s2").obj("session").str("id")
	as = ag.waitFor("assigned "+sid2, func(f frame) bool {
		return f.str("type") == "assigned" && f.obj("session").str("id") == sid2
	})
	assert.Equal(t, "A-1", as.obj("customer_context").list("orders")[0].str("id"))
	mu.Lock()
	assert.Len(t, sigOK, 1, "a cached context is not asked for again")
	mu.Unlock()
}
