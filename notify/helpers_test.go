package notify_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/mail"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// mailSink is a real SMTP server on 127.0.0.1:0 that keeps what it gets.
type mailSink struct {
	addr string
	// fail makes the next n DATA commands fail with a temporary error.
	fail atomic.Int32
	mu   sync.Mutex
	got  []*mail.Message
	raw  []string
	ch   chan struct{}
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	ms := &mailSink{ch: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{ms: ms}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ms
}

// url is the --smtp-url of the sink: no TLS.
func (ms *mailSink) url() string { return "smtp+insecure://" + ms.addr }

func (ms *mailSink) messages() []*mail.Message {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]*mail.Message(nil), ms.got...)
}

// wait waits until the sink holds n messages.
func (ms *mailSink) wait(t *testing.T, n int) []*mail.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := ms.messages(); len(got) >= n {
			return got
		}
		select {
		case <-ms.ch:
		case <-deadline:
			t.Fatalf("waited for %d mails, have %d", n, len(ms.messages()))
		}
	}
}

type sinkSession struct {
	ms *mailSink
}

func (s *sinkSession) Reset()                                       {}
func (s *sinkSession) Logout() error                                { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error         { return nil }
func (s *sinkSession) Rcpt(to string, opts *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.ms.fail.Load() > 0 {
		s.ms.fail.Add(-1)
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	}
	m, err := mail.ReadMessage(bytesReader(data))
	if err != nil {
		return errors.New("bad message")
	}
	s.ms.mu.Lock()
	s.ms.got = append(s.ms.got, m)
	s.ms.raw = append(s.ms.raw, string(data))
	s.ms.mu.Unlock()
	s.ms.ch <- struct{}{}
	return nil
}

// openDB opens a database in dir (a t.TempDir shared across restarts).
func openDB(t *testing.T, dir string, now func() time.Time) *storage.DB {
	t.Helper()
	db, err := storage.Open(dir+"/parley.db", storage.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// newSession stores a session of customer cust with the given messages.
func newSession(t *testing.T, db *storage.DB, cust parley.Customer, texts ...string) string {
	t.Helper()
	id := parley.NewID(time.Now())
	err := db.Update(context.Background(), func(tx *storage.Tx) error {
		now := parley.TimeOf(tx.Now())
		rec := &parley.SessionRecord{ID: id, State: parley.StateQueued, Customer: cust, Agents: []parley.AgentRef{}, CreatedAt: now, QueuedAt: now}
		if err := tx.PutSession(rec); err != nil {
			return err
		}
		if _, err := tx.Append(id, &parley.Event{Kind: parley.KindQueued, From: parley.Participant{Role: parley.RoleCustomer, ID: cust.ID}}); err != nil {
			return err
		}
		for _, text := range texts {
			if _, err := tx.Append(id, &parley.Event{Kind: parley.KindMessage, From: parley.Participant{Role: parley.RoleCustomer, ID: cust.ID, Name: cust.Name}, Text: text}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// jobs lists every job of a kind, oldest first.
func jobs(t *testing.T, db *storage.DB, kind string) []*storage.Job {
	t.Helper()
	var out []*storage.Job
	err := db.View(func(tx *storage.Tx) (err error) { out, err = tx.Jobs(storage.JobQuery{Kind: kind}); return })
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
