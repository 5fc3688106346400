package httpapi_test

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// smtpSink is a real SMTP server on 127.0.0.1:0 that keeps every mail.
type smtpSink struct {
	addr string
	mu   sync.Mutex
	got  []sunkMail
	ch   chan struct{}
}

type sunkMail struct {
	to   []string
	msg  *mail.Message
	body string
}

func startSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	s := &smtpSink{ch: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSess{sink: s}, nil }))
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpSink) mails() []sunkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunkMail(nil), s.got...)
}

// wait returns once the sink holds n mails.
func (s *smtpSink) wait(t *testing.T, n int) []sunkMail {
	t.Helper()
	deadline := time.After(waitTime)
	for {
		if got := s.mails(); len(got) >= n {
			return got
		}
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("waited for %d mails, have %d", n, len(s.mails()))
		}
	}
}

type sinkSess struct {
	sink *smtpSink
	to   []string
}

func (s *sinkSess) Reset()                               { s.to = nil }
func (s *sinkSess) Logout() error                        { return nil }
func (s *sinkSess) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSess) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSess) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	s.sink.got = append(s.sink.got, sunkMail{to: s.to, msg: m, body: string(b)})
	s.sink.mu.Unlock()
	s.sink.ch <- struct{}{}
	return nil
}

// startWithNotify starts the harness's server like start does, with a
// notify.Service built from ncfg over its database; the service closes
// after the hub and before the database.
func (h *harness) startWithNotify(ncfg notify.Config, hcfg chat.Config) *notify.Service {
	t := h.t
	db, err := storage.Open(filepath.Join(h.dir, "parley.db"), storage.Options{Now: h.clock.now})
	require.NoError(t, err)
	ncfg.Now = h.clock.now
	if ncfg.TranscriptText == nil {
		ncfg.TranscriptText = httpapi.WriteTranscript
	}
	ntf, err := notify.Open(db, ncfg)
	require.NoError(t, err)
	hcfg.Now, hcfg.QueueInterval, hcfg.Notify = h.clock.now, 20*time.Millisecond, ntf
	hub, err := chat.Open(db, hcfg)
	require.NoError(t, err)
	h.db, h.hub = db, hub
	h.admin = admin.New(db, admin.HubLive(hub))
	h.api = httpapi.New(hub, httpapi.Config{
		CustomerSecret: h.secret, AgentSecret: db.AgentSecret(), Now: h.clock.now,
		HelloTimeout: 2 * time.Second, Accounts: h.admin,
	})
	h.srv = httptest.NewServer(h.api)
	t.Cleanup(func() {
		h.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		_ = h.api.Shutdown(ctx)
		_ = h.hub.Close()
		_ = ntf.Close()
		_ = h.db.Close()
	})
	return ntf
}

// newNotifyHarness is a harness whose server has a notify.Service.
func newNotifyHarness(t *testing.T, ncfg notify.Config, hcfg chat.Config) (*harness, *notify.Service) {
	h := &harness{t: t, clock: &clock{}, dir: t.TempDir(), secret: []byte("0123456789abcdef0123456789abcdef")}
	return h, h.startWithNotify(ncfg, hcfg)
}

// outbox lists the jobs of a kind, oldest first.
func (h *harness) outbox(kind string) []*storage.Job {
	h.t.Helper()
	var list []*storage.Job
	require.NoError(h.t, h.db.View(func(tx *storage.Tx) (err error) {
		list, err = tx.Jobs(storage.JobQuery{Kind: kind})
		return err
	}))
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list
}

// pollUntil polls cond until it holds, failing after waitTime.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
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

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// customerTokenNoEmail mints a token without an e-mail address.
func (h *harness) customerTokenNoEmail(id string) string {
	tok, err := auth.SignCustomer(h.secret, parley.Customer{ID: id, Name: "Customer " + id}, time.Hour, h.clock.now())
	require.NoError(h.t, err)
	return tok
}
