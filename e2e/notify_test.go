package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/storage"
)

// withNotify gives the server a notify.Service built from cfg (its
// context requests signed with the server's customer secret).
func withNotify(cfg notify.Config) serverOption {
	return func(o *serverOptions) { o.notify = &cfg }
}

// openNotify opens the server's notify.Service, or returns nil.
func (s *server) openNotify(db *storage.DB) *notify.Service {
	if s.opts.notify == nil {
		return nil
	}
	cfg := *s.opts.notify
	cfg.ContextSecret = s.secret
	cfg.TranscriptText = httpapi.WriteTranscript
	ntf, err := notify.Open(db, cfg)
	require.NoError(s.t, err)
	return ntf
}

// mailbox is a real SMTP server on loopback keeping each mail's
// recipients and text.
type mailbox struct {
	addr string
	mu   sync.Mutex
	got  []string // "to1,to2\n<raw mail>"
}

func startMailbox(t *testing.T) *mailbox {
	m := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{m: m}, nil }))
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return m
}

// waitMail waits for a mail to `to` whose text contains want.
func (m *mailbox) waitMail(t *testing.T, to, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for {
		m.mu.Lock()
		for _, g := range m.got {
			head, body, _ := strings.Cut(g, "\n")
			if strings.Contains(head, to) && strings.Contains(body, want) {
				m.mu.Unlock()
				return
			}
		}
		n := len(m.got)
		m.mu.Unlock()
		require.True(t, time.Now().Before(deadline), "no mail to %s containing %q among %d", to, want, n)
		runtimeGosched()
	}
}

type mailboxSession struct {
	m  *mailbox
	to []string
}

func (s *mailboxSession) Reset()                               { s.to = nil }
func (s *mailboxSession) Logout() error                        { return nil }
func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.m.mu.Lock()
	s.m.got = append(s.m.got, strings.Join(s.to, ",")+"\n"+string(b))
	s.m.mu.Unlock()
	return err
}

// TestWidgetMailAndConsoleContext: a customer with nobody online leaves a
// message and an address in the widget and the team is mailed; an agent
// signs in and sees the address and the business's context in the
// customer pane; after the chat the customer mails herself the
// transcript from the widget.
func TestWidgetMailAndConsoleContext(t *testing.T) {
	box := startMailbox(t)
	ctxSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Customer struct{ ID string } `json:"customer"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"plan":"gold","orders":["A-1 shipped","B-2 <b>late</b>"],"id":"`+req.Customer.ID+`"}`)
	}))
	defer ctxSvc.Close()
	srv := newServer(t, withNotify(notify.Config{
		SMTPURL: "smtp+insecure://" + box.addr, SMTPFrom: "support@example.com",
		NotifyEmail: "team@example.com", ContextURL: ctxSvc.URL,
	}))
	tb := newTab(t)
	tb.do(chromedp.Navigate(srv.hostPage(srv.customerToken("u-ada", "Ada"))), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.frameWaitVisible("#msg")
	tb.frameSend("Please call me about my late order")
	tb.frameWaitText("#queue-wait", "No agent is online right now")
	tb.frameWaitVisible("#leave-card")
	// The token's address is offered; Ada gives another.
	tb.frameWaitJS(`document.getElementById('leave-email').value === 'u-ada@example.com'`)
	tb.frameDo("#leave-email", func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(sel, "ada@home.example", in)
	})
	tb.frameClick("#leave-form button")
	tb.frameWaitText("#leave-note", "Thanks! We will answer you here or at ada@home.example")
	box.waitMail(t, "team@example.com", "Please call me about my late order")
	tb.screenshot("widget-left-message")

	// The agent sees the address and the context.
	email, pw := srv.addAgent("Sam", 2)
	ct := consoleTab(t)
	consoleSignIn(ct, srv.URL, email, pw)
	consoleStatus(ct, "available")
	waitBubble(ct, "Please call me about my late order")
	ct.waitText("#customer-email", "ada@home.example")
	ct.waitText("#customer-context", "gold")
	ct.waitText("#customer-context", "B-2 <b>late</b>")
	ct.screenshot("console-customer-context")

	// After the end the customer mails herself the transcript.
	tb.frameClick("#end-btn")
	tb.frameWaitVisible("#mail-btn")
	tb.frameClick("#mail-btn")
	tb.frameWaitJS(`document.getElementById('mail-email').value === 'ada@home.example'`)
	tb.frameClick("#mail-form button")
	tb.frameWaitText("#mail-note", "On its way to ada@home.example")
	box.waitMail(t, "ada@home.example", "Please call me about my late order")
}
