package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
)

// cliSMTP is a real SMTP server on loopback that counts the mails it gets.
type cliSMTP struct {
	addr   string
	mu     sync.Mutex
	bodies []string
}

func startCLISMTP(t *testing.T) *cliSMTP {
	s := &cliSMTP{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return cliSMTPSession{s}, nil }))
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *cliSMTP) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

type cliSMTPSession struct{ s *cliSMTP }

func (cliSMTPSession) Reset()                               {}
func (cliSMTPSession) Logout() error                        { return nil }
func (cliSMTPSession) Mail(string, *smtp.MailOptions) error { return nil }
func (cliSMTPSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (c cliSMTPSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	c.s.mu.Lock()
	c.s.bodies = append(c.s.bodies, string(b))
	c.s.mu.Unlock()
	return err
}

// poll checks cond until it holds or waitTime passes.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTime)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func jobsJSON(t *testing.T, data string, args ...string) []admin.JobRow {
	t.Helper()
	var rows []admin.JobRow
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", append(args, "--json", "--data", data)...)), &rows))
	return rows
}

func TestWebhookAndAPIKeyCommandsOffline(t *testing.T) {
	data := t.TempDir()
	var key admin.APIKeyRow
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "apikey", "add", "sms", "--json", "--data", data)), &key))
	assert.True(t, strings.HasPrefix(key.Key, "pk_"), key.Key)
	out := runOK(t, env{}, "", "apikey", "ls", "--data", data)
	assert.Contains(t, out, "sms")
	assert.NotContains(t, out, key.Key, "the key is shown only once")
	runFail(t, env{}, "", "exists", "apikey", "add", "sms", "--data", data)

	out = runOK(t, env{}, "", "webhook", "add", "https://hooks.example/parley", "--events", "message,session.ended", "--data", data)
	assert.Contains(t, out, "signing secret (shown only now): whsec_")
	runFail(t, env{}, "", "Unknown event", "webhook", "add", "https://x.example", "--events", "nope", "--data", data)
	runFail(t, env{}, "", "url must be", "webhook", "add", "ftp://x.example", "--events", "message", "--data", data)
	var hooks []admin.WebhookRow
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "webhook", "ls", "--json", "--data", data)), &hooks))
	require.Len(t, hooks, 1)
	assert.Equal(t, []string{"message", "session.ended"}, hooks[0].Events)
	assert.Empty(t, hooks[0].Secret, "ls never shows secrets")
	assert.Empty(t, jobsJSON(t, data, "webhook", "deliveries", "--dead"))
	assert.Empty(t, jobsJSON(t, data, "mail", "ls"))
	runOK(t, env{}, "", "webhook", "rm", hooks[0].ID, "--data", data)
	runOK(t, env{}, "", "apikey", "rm", "sms", "--data", data)
	assert.NotContains(t, runOK(t, env{}, "", "apikey", "ls", "--data", data), "sms")
	auditLog := runOK(t, env{}, "", "audit", "ls", "--data", data)
	for _, action := range []string{"apikey.add", "apikey.rm", "webhook.add", "webhook.rm"} {
		assert.Contains(t, auditLog, action)
	}
}

func TestMailWebhookAndConnectorOnline(t *testing.T) {
	mail := startCLISMTP(t)
	var mu sync.Mutex
	var events []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		events = append(events, r.Header.Get("Parley-Event"))
		mu.Unlock()
	}))
	defer recv.Close()
	data := t.TempDir()
	s := startServe(t, env{"PARLEY_SMTP_URL": "smtp+insecure://" + mail.addr}, "--data", data, "--smtp-from", "support@example.com")
	runOK(t, env{}, "", "webhook", "add", recv.URL, "--events", "message", "--secret", "0123456789abcdef", "--data", data)
	var key admin.APIKeyRow
	require.NoError(t, json.Unmarshal([]byte(runOK(t, env{}, "", "apikey", "add", "sms", "--json", "--data", data)), &key))

	secret, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	tok, err := auth.SignCustomer(bytes.TrimSpace(secret), customer("u-1"), time.Hour, time.Now())
	require.NoError(t, err)
	cust, _ := customerWS(t, s.addr, tok)
	cust.mustSend(frame{"type": "start", "req": "s"})
	cust.expectRe("s")
	cust.mustSend(frame{"type": "send", "text": "hello", "client_msg_id": "m1", "req": "m1"})
	cust.expectRe("m1")
	cust.mustSend(frame{"type": "set_email", "email": "u1@example.com", "req": "e"})
	cust.expectRe("e")
	cust.mustSend(frame{"type": "email_transcript", "req": "t"})
	assert.Equal(t, "email_transcript", cust.expectRe("t").str("type"))

	body, _ := json.Marshal(map[string]any{"customer": map[string]string{"id": "+1555"}, "text": "via sms", "client_msg_id": "x1"})
	req, _ := http.NewRequest(http.MethodPost, s.url("/v1/connector/messages"), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key.Key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)

	poll(t, "the mail sent", func() bool {
		rows := jobsJSON(t, data, "mail", "ls")
		return len(rows) == 1 && rows[0].State == "sent"
	})
	assert.Equal(t, 1, mail.count())
	poll(t, "both webhook deliveries sent", func() bool {
		rows := jobsJSON(t, data, "webhook", "deliveries")
		return len(rows) == 2 && rows[0].State == "sent" && rows[1].State == "sent"
	})
	mu.Lock()
	assert.Equal(t, []string{"message", "message"}, events)
	mu.Unlock()
	assert.Contains(t, runOK(t, env{}, "", "mail", "ls", "--data", data), "u1@example.com")
	require.Equal(t, 0, s.stop(t))
	// Offline the outbox is still visible.
	assert.Len(t, jobsJSON(t, data, "webhook", "deliveries", "--state", "sent"), 2)
}
