// Package notify delivers what Parley sends outside: mails through the
// operator's SMTP server and signed webhook calls, from the outbox kept in
// storage, at least once, with exponential backoff and a dead letter; and
// it asks the business's own service for customer context. It imports
// storage, never bbolt.
package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Defaults of Config.
const (
	DefaultWorkers         = 8
	DefaultMailAttempts    = 6
	DefaultMailBackoff     = 30 * time.Second
	DefaultWebhookBackoff  = 10 * time.Second
	DefaultWebhookMaxAge   = 24 * time.Hour
	DefaultMaxBackoff      = time.Hour
	DefaultAttemptTimeout  = 30 * time.Second
	DefaultPollInterval    = 5 * time.Second
	DefaultContextTimeout  = 2 * time.Second
	DefaultContextCacheTTL = time.Minute
	DefaultSentRetention   = 7 * 24 * time.Hour
	DefaultDeadRetention   = 30 * 24 * time.Hour
	pruneInterval          = time.Hour
)

// Config configures a Service. Zero values take the defaults.
type Config struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational logs; default discards them.
	Logger *slog.Logger
	// SMTPURL is the mail server: smtp://user:pass@host:587 (STARTTLS
	// required), smtps://… (implicit TLS), or smtp+insecure://… (no TLS,
	// for tests and local relays); ?starttls=none does the same as
	// smtp+insecure. Empty turns mail off.
	SMTPURL string
	// SMTPFrom is the sender address of every mail.
	SMTPFrom string
	// NotifyEmail receives the "leave a message" notifications; empty
	// turns them off.
	NotifyEmail string
	// ContextURL is the business's customer context service; empty turns
	// it off.
	ContextURL string
	// ContextSecret signs context requests (the customer token secret).
	ContextSecret []byte
	// ContextTimeout bounds one context request; default 2s.
	ContextTimeout time.Duration
	// ContextCacheTTL is how long a customer's context is reused;
	// default 1m.
	ContextCacheTTL time.Duration
	// HTTPClient makes webhook and context calls; default a client with
	// AttemptTimeout.
	HTTPClient *http.Client
	// Workers bounds deliveries in flight; default 8.
	Workers int
	// MailAttempts is how often a mail is tried before it is dead;
	// default 6.
	MailAttempts int
	// MailBackoff and WebhookBackoff are the first retry delays; each
	// retry doubles the delay, up to MaxBackoff (default 1h).
	MailBackoff, WebhookBackoff, MaxBackoff time.Duration
	// WebhookMaxAge is how long a webhook delivery is retried before it is
	// dead; default 24h.
	WebhookMaxAge time.Duration
	// AttemptTimeout bounds one delivery attempt; default 30s.
	AttemptTimeout time.Duration
	// PollInterval is how often the worker looks for due jobs when not
	// woken; default 5s.
	PollInterval time.Duration
	// SentRetention and DeadRetention are how long sent jobs and dead
	// letters stay listed before they are deleted; default 7 and 30 days.
	SentRetention, DeadRetention time.Duration
	// Manual starts no worker: tests call RunDue instead.
	Manual bool
	// TranscriptText renders a transcript for mails; default a plain
	// rendering of its own (the server passes httpapi.WriteTranscript).
	TranscriptText func(w io.Writer, s parley.Session, events []parley.Event)
}

// Service is the deliverer over one database.
type Service struct {
	db   *storage.DB
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
	smtp *smtpConfig
	http *http.Client
	ctxc *contextCache

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// inflight counts deliveries in flight, for RunDue.
	inflight sync.WaitGroup
	mu       sync.Mutex
	groups   map[string]bool // groups with a delivery in flight
	// mailCounts counts transcript mails per session (AllowTranscript).
	mailCounts map[string]int
	running    int
	closed     bool
}

// Open checks cfg and starts the delivery worker (unless cfg.Manual).
// Pending jobs left by an earlier run, even one killed mid-delivery, are
// delivered again: receivers deduplicate by delivery id.
func Open(db *storage.DB, cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MailBackoff, DefaultMailBackoff)
	def(&cfg.WebhookBackoff, DefaultWebhookBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.WebhookMaxAge, DefaultWebhookMaxAge)
	def(&cfg.AttemptTimeout, DefaultAttemptTimeout)
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.ContextTimeout, DefaultContextTimeout)
	def(&cfg.ContextCacheTTL, DefaultContextCacheTTL)
	def(&cfg.SentRetention, DefaultSentRetention)
	def(&cfg.DeadRetention, DefaultDeadRetention)
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MailAttempts <= 0 {
		cfg.MailAttempts = DefaultMailAttempts
	}
	if cfg.TranscriptText == nil {
		cfg.TranscriptText = plainTranscript
	}
	s := &Service{
		db: db, cfg: cfg, now: cfg.Now, log: cfg.Logger,
		kick:   make(chan struct{}, 1),
		groups: make(map[string]bool),
		http:   cfg.HTTPClient,
		ctxc:   newContextCache(),
	}
	if s.http == nil {
		// A redirect is an answer like any other non-2xx: a POST is never
		// replayed to another URL.
		s.http = &http.Client{
			Timeout:       cfg.AttemptTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.SMTPURL != "" {
		sc, err := parseSMTPURL(cfg.SMTPURL)
		if err != nil {
			return nil, fmt.Errorf("notify: --smtp-url: %w", err)
		}
		if cfg.SMTPFrom == "" {
			return nil, fmt.Errorf("notify: --smtp-from is required with --smtp-url")
		}
		if err := validAddress(cfg.SMTPFrom); err != nil {
			return nil, fmt.Errorf("notify: --smtp-from: %w", err)
		}
		s.smtp = sc
	}
	if cfg.NotifyEmail != "" {
		if err := validAddress(cfg.NotifyEmail); err != nil {
			return nil, fmt.Errorf("notify: --notify-email: %w", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if !cfg.Manual {
		s.wg.Add(1)
		go s.run()
	}
	return s, nil
}

// MailEnabled reports whether an SMTP server is configured.
func (s *Service) MailEnabled() bool { return s != nil && s.smtp != nil }

// Close stops the worker. Deliveries in flight are abandoned without being
// marked sent, exactly as if the process had been killed: they are made
// again after the next Open.
func (s *Service) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Kick wakes the worker after a commit that enqueued jobs.
func (s *Service) Kick() {
	if s == nil {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run is the worker: it starts every due delivery it may (one per group),
// then sleeps until the next is due, a delivery ends, or Kick.
func (s *Service) run() {
	defer s.wg.Done()
	var pruned time.Time
	for {
		if now := s.now(); now.Sub(pruned) >= pruneInterval {
			s.Prune()
			pruned = now
		}
		next, _ := s.startDue()
		wait := s.cfg.PollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-s.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunDue makes every delivery that is due now (one per group, the oldest),
// waits for them and returns how many it made. For tests with Manual.
func (s *Service) RunDue() int {
	n := 0
	for {
		_, started := s.startDue()
		if started == 0 {
			return n
		}
		n += started
		s.inflight.Wait()
	}
}

// startDue reads the pending jobs and starts each due one whose group has
// nothing in flight and no older pending job, up to Workers. It returns
// when the next job not started is due (zero if none) and how many it
// started.
func (s *Service) startDue() (next time.Time, started int) {
	var jobs []storage.JobHead
	if err := s.db.View(func(tx *storage.Tx) (err error) { jobs, err = tx.PendingHeads(); return }); err != nil {
		s.log.Error("outbox: read pending jobs", "err", err)
		return s.now().Add(s.cfg.PollInterval), 0
	}
	now := s.now()
	seen := make(map[string]bool)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		g := groupOf(j.Group, j.Seq)
		if seen[g] {
			continue // an older job of the group goes first
		}
		seen[g] = true
		if s.groups[g] {
			continue
		}
		if j.NextAttemptAt.After(now) {
			if next.IsZero() || j.NextAttemptAt.Before(next) {
				next = j.NextAttemptAt.Time
			}
			continue
		}
		if s.running >= s.cfg.Workers || s.closed {
			continue // woken again when a delivery ends
		}
		s.groups[g] = true
		s.running++
		started++
		s.wg.Add(1)
		s.inflight.Add(1)
		go s.attempt(j.Seq, g)
	}
	return next, started
}

func groupOf(group string, seq uint64) string {
	if group != "" {
		return group
	}
	return fmt.Sprintf("job:%d", seq)
}

// attempt makes one delivery and records its outcome.
func (s *Service) attempt(seq uint64, group string) {
	defer s.wg.Done()
	defer s.inflight.Done()
	defer func() {
		s.mu.Lock()
		delete(s.groups, group)
		s.running--
		s.mu.Unlock()
		s.Kick()
	}()
	// Read the job afresh: the list it was chosen from may predate the
	// commit of its previous attempt, and a job sent must not go twice.
	var j *storage.Job
	if err := s.db.View(func(tx *storage.Tx) (err error) { j, err = tx.Job(seq); return }); err != nil {
		s.log.Error("outbox: read job", "seq", seq, "err", err)
		return
	}
	if j.State != storage.JobPending || j.NextAttemptAt.After(s.now()) {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AttemptTimeout)
	err := s.deliver(ctx, j)
	cancel()
	if s.ctx.Err() != nil {
		// Closing: leave the job pending, as a kill would.
		return
	}
	if err := s.record(j, err); err != nil {
		s.log.Error("outbox: record delivery", "job", j.ID, "err", err)
	}
}

// errDrop marks a job that can never be delivered (its webhook is gone):
// it goes dead at once.
var errDrop = errors.New("undeliverable")

func (s *Service) deliver(ctx context.Context, j *storage.Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic delivering job %s: %v", j.ID, r)
		}
	}()
	switch j.Kind {
	case storage.JobMail:
		return s.sendMail(ctx, j)
	case storage.JobWebhook:
		return s.postWebhook(ctx, j)
	}
	return fmt.Errorf("%w: unknown job kind %q", errDrop, j.Kind)
}

// record stores an attempt's outcome: sent, or a retry after the backoff,
// or dead once the kind's limit is reached.
func (s *Service) record(j *storage.Job, derr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var final *storage.Job
	err := s.db.Update(ctx, func(tx *storage.Tx) error {
		cur, err := tx.Job(j.Seq)
		if err != nil {
			return err
		}
		if cur.State != storage.JobPending {
			return nil
		}
		now := tx.Now()
		cur.Attempts++
		if cur.FirstAttemptAt.IsZero() {
			cur.FirstAttemptAt = parley.TimeOf(now)
		}
		if derr == nil {
			cur.State, cur.DoneAt, cur.LastError = storage.JobSent, parley.TimeOf(now), ""
		} else {
			cur.LastError = truncate(derr.Error(), 500)
			if s.giveUp(cur, now, derr) {
				cur.State, cur.DoneAt = storage.JobDead, parley.TimeOf(now)
			} else {
				cur.NextAttemptAt = parley.TimeOf(now.Add(s.Backoff(cur.Kind, cur.Attempts)))
			}
		}
		final = cur
		return tx.PutJob(cur)
	})
	if err == nil && final != nil && final.State != storage.JobSent {
		s.log.Warn("outbox: delivery failed", "job", final.ID, "kind", final.Kind, "target", final.Target,
			"attempts", final.Attempts, "state", final.State, "err", final.LastError)
	}
	return err
}

// Prune deletes sent jobs older than SentRetention and dead ones older
// than DeadRetention and returns how many it deleted. The worker runs it
// hourly.
func (s *Service) Prune() int {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	n := 0
	now := s.now()
	err := s.db.Update(ctx, func(tx *storage.Tx) error {
		sent, err := tx.PruneJobs(storage.JobSent, now.Add(-s.cfg.SentRetention))
		if err != nil {
			return err
		}
		dead, err := tx.PruneJobs(storage.JobDead, now.Add(-s.cfg.DeadRetention))
		n = sent + dead
		return err
	})
	if err != nil {
		s.log.Warn("outbox: prune", "err", err)
	}
	return n
}

// Backoff is the delay before retry number attempts (1 = the first
// retry): the kind's first delay doubled for each further attempt, at most
// MaxBackoff.
func (s *Service) Backoff(kind string, attempts int) time.Duration {
	d := s.cfg.WebhookBackoff
	if kind == storage.JobMail {
		d = s.cfg.MailBackoff
	}
	for i := 1; i < attempts && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

func (s *Service) giveUp(j *storage.Job, now time.Time, err error) bool {
	if errors.Is(err, errDrop) {
		return true
	}
	if j.Kind == storage.JobMail {
		return j.Attempts >= s.cfg.MailAttempts
	}
	return now.Sub(j.FirstAttemptAt.Time) >= s.cfg.WebhookMaxAge
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
