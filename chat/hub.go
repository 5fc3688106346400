// Package chat holds Parley's live state: one goroutine per open session
// that owns the session's state and fans its events out, and one dispatcher
// goroutine that owns routing. It knows nothing of HTTP or WebSocket; the
// transport hands it decoded frames and a Conn to answer on.
package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Config configures a Hub. Zero values take the defaults.
type Config struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational logs; default discards them.
	Logger *slog.Logger
	// CustomerWindow is how far back customers see their sessions; default 14 days.
	CustomerWindow time.Duration
	// QueueInterval is how often queue positions and queue summaries are
	// pushed when the queue changed; default 250ms.
	QueueInterval time.Duration
	// AbandonAfter ends a queued session whose customer has had no
	// connection for this long (reason abandoned). Zero turns it off.
	AbandonAfter time.Duration
	// SignalInterval is the shortest time between two typing (or two
	// read) pushes of one sender in one session; faster signals are
	// coalesced, the latest winning. Default 250ms.
	SignalInterval time.Duration
	// MaxMessageChars bounds the text of one message, in characters;
	// default 4,096 (DefaultMaxMessageChars).
	MaxMessageChars int
	// AgentGrace is how long an agent may have no connection before it
	// goes offline and leaves its chats (timers.go). Zero turns it off.
	AgentGrace time.Duration
	// ReplyTimeout takes a chat back from an agent who got it and has not
	// written to the customer this long. Zero turns it off.
	ReplyTimeout time.Duration
	// InactivityWarning and InactivityTimeout warn, then end, an active
	// chat whose customer has not answered an agent's message this long.
	// A zero InactivityTimeout turns both off; a zero warning (or one not
	// shorter than the timeout) sends none.
	InactivityWarning, InactivityTimeout time.Duration
	// TimerInterval is how often the timers are swept; default 1s.
	TimerInterval time.Duration
	// Notify delivers webhooks and mails and fetches customer context
	// (chat/notify.go); nil turns them off.
	Notify *notify.Service
	// MaxFileSize bounds one uploaded file, in bytes; default
	// DefaultMaxFileSize (10 MiB). CustomerFileQuota bounds the bytes of
	// the stored files one customer uploaded; default
	// DefaultCustomerFileQuota, negative for none. FileTypes is the
	// allow-list of sniffed content types; default DefaultFileTypes.
	MaxFileSize       int64
	CustomerFileQuota int64
	FileTypes         []string
}

// DefaultMaxMessageChars is the default Config.MaxMessageChars.
const DefaultMaxMessageChars = 4096

// Hub is the running chat service over one database.
type Hub struct {
	db    *storage.DB
	now   func() time.Time
	log   *slog.Logger
	cfg   Config
	reg   *registry
	gone  *goneTracker
	disp  *dispatcher
	count counters

	// timers holds the deadlines of timers.go.
	timers *timers

	mu         sync.RWMutex
	sessions   map[string]*session // open sessions by id
	byCustomer map[string]*session // open session by customer id
	closed     bool                // Close began: spawn refuses

	hooks testHooks
	// updateTimeout bounds each update; defaultUpdateTimeout but in tests.
	updateTimeout time.Duration

	closing chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// Open recovers the open sessions and the queue from db and starts the
// dispatcher and one goroutine per open session. The caller keeps ownership
// of db and closes it after the Hub.
func Open(db *storage.DB, cfg Config) (*Hub, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.CustomerWindow <= 0 {
		cfg.CustomerWindow = 14 * 24 * time.Hour
	}
	if cfg.QueueInterval <= 0 {
		cfg.QueueInterval = 250 * time.Millisecond
	}
	if cfg.MaxMessageChars <= 0 {
		cfg.MaxMessageChars = DefaultMaxMessageChars
	}
	if cfg.SignalInterval <= 0 {
		cfg.SignalInterval = DefaultSignalInterval
	}
	cfg = withFileDefaults(cfg)
	h := &Hub{
		db:         db,
		now:        cfg.Now,
		log:        cfg.Logger,
		cfg:        cfg,
		reg:        newRegistry(),
		gone:       newGoneTracker(),
		timers:     newTimers(),
		sessions:   make(map[string]*session),
		byCustomer: make(map[string]*session),
		closing:    make(chan struct{}),

		updateTimeout: updateTimeout,
	}
	h.disp = newDispatcher(h)
	if err := h.recover(); err != nil {
		return nil, err
	}
	if err := h.openStatusHistory(); err != nil {
		return nil, err
	}
	h.wg.Add(1)
	go h.disp.run()
	if cfg.AbandonAfter > 0 {
		h.wg.Add(1)
		go h.abandonLoop()
	}
	h.startTimers()
	return h, nil
}

// recover loads agents, open sessions and the queue, and rebuilds the
// routing state exactly as it was: queued sessions in arrival order, and
// every agent holding the sessions it is in.
func (h *Hub) recover() error {
	var (
		agents []*parley.Agent
		open   []*parley.SessionRecord
		queued []*parley.SessionRecord
		queues []parley.Queue
		seqs   = make(map[string]uint64)
	)
	err := h.db.View(func(tx *storage.Tx) error {
		var err error
		if queues, err = tx.Queues(); err != nil {
			return err
		}
		if agents, err = tx.Agents(); err != nil {
			return err
		}
		if open, err = tx.OpenSessions(); err != nil {
			return err
		}
		if queued, err = tx.QueuedSessions(); err != nil {
			return err
		}
		for _, r := range open {
			if seqs[r.ID], err = tx.LastSeq(r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover open sessions: %w", err)
	}
	for _, q := range queues {
		h.disp.addQueue(q.Name)
	}
	for _, a := range agents {
		h.disp.addAgent(a)
	}
	for _, r := range open {
		s, err := h.spawn(r, seqs[r.ID], nil)
		if err != nil {
			return err
		}
		h.disp.track(r)
		for _, a := range r.Agents {
			h.disp.hold(a.ID, s.id)
		}
	}
	for _, r := range queued {
		h.disp.enqueue(r.ID, r.Customer.ID, r.QueuedAt.Time)
	}
	if err := h.recoverTimers(open); err != nil {
		return fmt.Errorf("recover timers: %w", err)
	}
	h.log.Info("recovered", "open_sessions", len(open), "queued", len(queued), "agents", len(agents))
	return nil
}

// testHooks let tests in this package act at fixed points; nil in
// production.
type testHooks struct {
	// handle runs in a session's worker before each command (or batch of
	// sends) is handled, inside the panic guard.
	handle func(batch []command)
	// spawned runs in start right after a new session is registered.
	spawned func(s *session)
	// startStored runs in start right after a new session is stored,
	// before it is registered.
	startStored func(id string)
	// committed runs in a session's worker right after a change of its
	// record is stored, before the change is current.
	committed func(s *session, next *parley.SessionRecord)
}

// errShuttingDown refuses commands and new sessions once Close began.
var errShuttingDown = parley.Errorf(parley.EUnavailable, "Server is shutting down; reconnect and resume.")

// Close stops the dispatcher and every session. Commands in flight finish
// first; commands still queued are refused as unavailable; acknowledged
// messages are already durable. No session starts once Close began.
func (h *Hub) Close() error {
	h.disp.logShutdown()
	h.mu.Lock()
	h.closed = true
	open := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		open = append(open, s)
	}
	h.mu.Unlock()
	h.once.Do(func() { close(h.closing) })
	// Closing a mailbox takes its lock, under which workers are counted
	// in wg; after this no worker can start, so no Add races the Wait.
	for _, s := range open {
		for _, c := range s.box.close(errShuttingDown) {
			s.reject(c, errShuttingDown)
		}
	}
	h.wg.Wait()
	return nil
}

// Ready reports whether the hub is serving: not closing, with the
// database writable and readable, and the dispatcher answering. Storage
// counts as writable unless its last commit failed (storage.DB.Health);
// then Ready probes it with an empty commit, because a server taken out of
// rotation gets no traffic whose commits could show that the disk is back.
// Storage failures are reported with code parley.EUnavailable.
func (h *Hub) Ready() error {
	select {
	case <-h.closing:
		return parley.Errorf(parley.EUnavailable, "Server is shutting down.")
	default:
	}
	if err := h.db.Health(); err != nil {
		// The probe is bounded so that a stuck disk fails the check
		// rather than hanging it.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		perr := h.db.Update(ctx, func(*storage.Tx) error { return nil })
		if perr != nil && parley.ErrorCode(perr) != parley.EUnavailable {
			perr = fmt.Errorf("%w (probe: %w; last failure: %w)",
				parley.Errorf(parley.EUnavailable, "Storage is unavailable; try again later."), perr, err)
		}
		if perr != nil {
			return fmt.Errorf("chat: not ready: %w", perr)
		}
	}
	if err := h.db.View(func(tx *storage.Tx) error { _, err := tx.AgentCount(); return err }); err != nil {
		return parley.Errorf(parley.EUnavailable, "Storage is not readable: %v", err)
	}
	return h.disp.call(func() {})
}

// spawn registers an open session. first, if set, is queued before the
// session is registered, so it is the first command the session handles:
// nobody can post to the session before it. Once Close began spawn refuses
// with unavailable, under the lock Close takes, so no session (and no
// worker) starts while Close waits.
func (h *Hub) spawn(r *parley.SessionRecord, lastSeq uint64, first *command) (*session, error) {
	s := newSession(h, r, lastSeq)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errShuttingDown
	}
	if first != nil {
		if err := s.box.post(*first); err != nil {
			return nil, err
		}
	}
	h.sessions[s.id] = s
	h.byCustomer[s.customerID] = s
	return s, nil
}

// forget unregisters a session whose goroutine is ending.
func (h *Hub) forget(s *session) {
	h.mu.Lock()
	if h.sessions[s.id] == s {
		delete(h.sessions, s.id)
	}
	if h.byCustomer[s.customerID] == s {
		delete(h.byCustomer, s.customerID)
	}
	h.mu.Unlock()
}

// session returns the goroutine of an open session, or nil.
func (h *Hub) session(id string) *session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.sessions[id]
}

// openSessionOf returns the goroutine of a customer's open session, or nil.
func (h *Hub) openSessionOf(customerID string) *session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.byCustomer[customerID]
}

// wire returns the client view of a record, with the queue position and
// wait estimate while it is queued.
func (h *Hub) wire(r *parley.SessionRecord, lastSeq uint64) parley.Session {
	s := r.Session(lastSeq)
	if r.State == parley.StateQueued {
		if pos, ewt, avail := h.disp.position(r.ID); pos > 0 {
			s.SetQueuePlace(pos, ewt, avail)
		}
	}
	return s
}

// agentWire is wire as agents see it: with the customer's profile, and
// when the session entered the queue while it waits.
func (h *Hub) agentWire(r *parley.SessionRecord, lastSeq uint64) parley.Session {
	s := h.wire(r, lastSeq)
	s.CustomerProfile = r.Customer.ForAgents()
	if r.State == parley.StateQueued {
		s.QueuedAt = r.QueuedAt
	}
	return s
}

// updateTimeout bounds one group commit of a session or a start.
const updateTimeout = 30 * time.Second

// update runs fn in a group commit bounded by updateTimeout, so a stuck
// disk turns into an unavailable error rather than a hung session. (An
// update still waiting for the writer when the time is up is not run;
// one the writer has started waits for its commit.)
func (h *Hub) update(fn func(tx *storage.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.updateTimeout)
	defer cancel()
	err := h.db.Update(ctx, h.notifying(fn))
	h.notified(err)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%w)", parley.Errorf(parley.EUnavailable,
			"Storage did not answer within %v; try again later.", h.updateTimeout), err)
	}
	return err
}
