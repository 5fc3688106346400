package notify_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func enqueueTranscript(t *testing.T, db *storage.DB, svc *notify.Service, sid, to, key string) (*storage.Job, bool) {
	t.Helper()
	var j *storage.Job
	var dup bool
	err := db.Update(context.Background(), func(tx *storage.Tx) (err error) {
		j, dup, err = svc.EnqueueTranscript(tx, sid, to, key)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.Kick()
	return j, dup
}

func body(t *testing.T, sink *mailSink, i int) string {
	t.Helper()
	b, err := io.ReadAll(sink.messages()[i].Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTranscriptMailArrivesExactlyOnce(t *testing.T) {
	sink := startMailSink(t)
	dir := t.TempDir()
	db := openDB(t, dir, nil)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{SMTPURL: sink.url(), SMTPFrom: "support@example.com", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sid := newSession(t, db, parley.Customer{ID: "c1", Name: "Chip"}, "hello there", "Привет, Ελλάδα")
	j, dup := enqueueTranscript(t, db, svc, sid, "chip@example.com", "transcript:"+sid+":r1")
	if dup {
		t.Fatal("first request reported as duplicate")
	}
	// The same request again (a client retrying) stores nothing new.
	j2, dup := enqueueTranscript(t, db, svc, sid, "chip@example.com", "transcript:"+sid+":r1")
	if !dup || j2.ID != j.ID {
		t.Fatalf("retried request: dup=%v id=%s, want the first job %s", dup, j2.ID, j.ID)
	}
	if n := svc.RunDue(); n != 1 {
		t.Fatalf("RunDue made %d deliveries, want 1", n)
	}
	if n := svc.RunDue(); n != 0 {
		t.Fatalf("second RunDue made %d deliveries, want 0", n)
	}
	got := sink.messages()
	if len(got) != 1 {
		t.Fatalf("sink got %d mails, want exactly 1", len(got))
	}
	m := got[0]
	if to := m.Header.Get("To"); !strings.Contains(to, "chip@example.com") {
		t.Errorf("To = %q", to)
	}
	if id := m.Header.Get("Message-Id"); !strings.Contains(id, j.ID) {
		t.Errorf("Message-ID %q does not carry the delivery id %s", id, j.ID)
	}
	b := body(t, sink, 0)
	if !strings.Contains(b, "hello there") {
		t.Errorf("body lacks the message:\n%s", b)
	}
	js := jobs(t, db, storage.JobMail)
	if len(js) != 1 || js[0].State != storage.JobSent || js[0].Attempts != 1 {
		t.Fatalf("jobs = %+v, want one sent after one attempt", js)
	}
}

func TestMailRetriedWithBackoffUntilServerRecovers(t *testing.T) {
	sink := startMailSink(t)
	sink.fail.Store(2)
	clk := newClock()
	db := openDB(t, t.TempDir(), clk.now)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{
		Now: clk.now, SMTPURL: sink.url(), SMTPFrom: "support@example.com", Manual: true,
		MailBackoff: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sid := newSession(t, db, parley.Customer{ID: "c1"}, "hi")
	enqueueTranscript(t, db, svc, sid, "c1@example.com", "k")
	if n := svc.RunDue(); n != 1 {
		t.Fatalf("first run: %d deliveries", n)
	}
	j := jobs(t, db, storage.JobMail)[0]
	if j.State != storage.JobPending || j.Attempts != 1 || j.LastError == "" {
		t.Fatalf("after a failure: %+v", j)
	}
	if want := clk.now().Add(time.Minute); !j.NextAttemptAt.Equal(want) {
		t.Fatalf("next attempt at %v, want %v (first backoff)", j.NextAttemptAt, want)
	}
	if n := svc.RunDue(); n != 0 {
		t.Fatalf("a job not yet due was tried (%d)", n)
	}
	clk.add(time.Minute)
	svc.RunDue()
	j = jobs(t, db, storage.JobMail)[0]
	if want := clk.now().Add(2 * time.Minute); j.Attempts != 2 || !j.NextAttemptAt.Equal(want) {
		t.Fatalf("after the second failure: attempts %d next %v, want 2 and %v (doubled)", j.Attempts, j.NextAttemptAt, want)
	}
	clk.add(2 * time.Minute)
	svc.RunDue()
	if got := sink.messages(); len(got) != 1 {
		t.Fatalf("sink got %d mails, want 1", len(got))
	}
	j = jobs(t, db, storage.JobMail)[0]
	if j.State != storage.JobSent || j.Attempts != 3 {
		t.Fatalf("after recovery: %+v", j)
	}
}

func TestMailGoesDeadAfterItsAttempts(t *testing.T) {
	sink := startMailSink(t)
	sink.fail.Store(100)
	clk := newClock()
	db := openDB(t, t.TempDir(), clk.now)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{
		Now: clk.now, SMTPURL: sink.url(), SMTPFrom: "support@example.com", Manual: true,
		MailBackoff: time.Second, MailAttempts: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sid := newSession(t, db, parley.Customer{ID: "c1"}, "hi")
	enqueueTranscript(t, db, svc, sid, "c1@example.com", "k")
	for range 5 {
		svc.RunDue()
		clk.add(time.Hour)
	}
	j := jobs(t, db, storage.JobMail)[0]
	if j.State != storage.JobDead || j.Attempts != 3 {
		t.Fatalf("job = %+v, want dead after 3 attempts", j)
	}
}

func TestPendingMailDeliveredAfterRestart(t *testing.T) {
	sink := startMailSink(t)
	dir := t.TempDir()
	db := openDB(t, dir, nil)
	cfg := notify.Config{SMTPURL: sink.url(), SMTPFrom: "support@example.com", Manual: true}
	svc, err := notify.Open(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sid := newSession(t, db, parley.Customer{ID: "c1"}, "before the crash")
	enqueueTranscript(t, db, svc, sid, "c1@example.com", "k")
	// The server stops before delivering anything.
	_ = svc.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.messages()); n != 0 {
		t.Fatalf("a mail went out before the restart (%d)", n)
	}
	db = openDB(t, dir, nil)
	defer db.Close()
	cfg.Manual = false
	svc, err = notify.Open(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sink.wait(t, 1)
	waitFor(t, "the job to be marked sent", func() bool { return jobs(t, db, storage.JobMail)[0].State == storage.JobSent })
	if n := len(sink.messages()); n != 1 {
		t.Fatalf("sink got %d mails, want 1", n)
	}
}

func TestSMTPURLRequiresSTARTTLSByDefault(t *testing.T) {
	// A plain SMTP server without STARTTLS refuses to take mail under
	// the default policy: credentials must never cross unencrypted.
	sink := startMailSink(t)
	db := openDB(t, t.TempDir(), nil)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{SMTPURL: "smtp://" + sink.addr, SMTPFrom: "support@example.com", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sid := newSession(t, db, parley.Customer{ID: "c1"}, "hi")
	enqueueTranscript(t, db, svc, sid, "c1@example.com", "k")
	svc.RunDue()
	if n := len(sink.messages()); n != 0 {
		t.Fatalf("mail sent without TLS under the default policy")
	}
	if j := jobs(t, db, storage.JobMail)[0]; j.State != storage.JobPending || j.LastError == "" {
		t.Fatalf("job = %+v, want pending with an error", j)
	}
	for _, bad := range []string{"http://x", "smtp://", "smtp://h:0", "smtp://h?starttls=maybe"} {
		if _, err := notify.Open(db, notify.Config{SMTPURL: bad, SMTPFrom: "a@b.c", Manual: true}); err == nil {
			t.Errorf("Open accepted --smtp-url %q", bad)
		}
	}
}

func TestPruneKeepsPendingAndRecentJobs(t *testing.T) {
	sink := startMailSink(t)
	clk := newClock()
	db := openDB(t, t.TempDir(), clk.now)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{Now: clk.now, SMTPURL: sink.url(), SMTPFrom: "support@example.com", Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sid := newSession(t, db, parley.Customer{ID: "c1"}, "hi")
	enqueueTranscript(t, db, svc, sid, "c1@example.com", "old")
	svc.RunDue()
	clk.add(8 * 24 * time.Hour)
	enqueueTranscript(t, db, svc, sid, "c1@example.com", "recent")
	svc.RunDue()
	sink.fail.Store(1)
	enqueueTranscript(t, db, svc, sid, "c1@example.com", "pending")
	svc.RunDue()
	if n := svc.Prune(); n != 1 {
		t.Fatalf("pruned %d jobs, want the one sent 8 days ago", n)
	}
	js := jobs(t, db, storage.JobMail)
	if len(js) != 2 || js[0].IdemKey != "recent" || js[1].State != storage.JobPending {
		t.Fatalf("left %+v", js)
	}
	// Its idempotency key went with it.
	if _, dup := enqueueTranscript(t, db, svc, sid, "c1@example.com", "old"); dup {
		t.Fatal("the pruned job's key still counts")
	}
}
